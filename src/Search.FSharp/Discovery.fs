namespace PatchDescent.Search

open System
open System.IO
open System.Text.Json
open System.Text.RegularExpressions
open TorchSharp
open PatchDescent.Model

type DiscoveryResult =
    { Circuit: Circuit
      Scores: float[]
      Ranking: float[]
      Metrics: CircuitScores
      Curve: Curve
      CurveCircuits: Circuit list
      Warnings: string list
      OutDir: string
      Report: RunReport }

type SavedEvaluation =
    { Format: CircuitFileFormat
      Circuit: Circuit
      Metric: string
      Scores: CircuitScores
      Warnings: string list }

module Discovery =
    let private tokens (device: torch.Device) (rows: int64[][]) =
        use scope = torch.NewDisposeScope()
        torch.tensor(Array.concat rows, device = device).reshape(int64 rows.Length, int64 rows[0].Length).MoveToOuterDisposeScope()

    let private loadData modelDir (model: Decoder) (source: DataSource) =
        let fitting (d: PairDataset) =
            let outside t = t < 0 || t >= model.VocabSize
            let foreign (p: Pair) =
                Seq.concat [ Seq.ofArray p.Clean; Seq.ofArray p.Corrupted; seq { p.Answer }; Option.toList p.Wrong |> Seq.ofList ] |> Seq.tryFind outside
            match d.Pairs |> Array.tryFindIndex (fun p -> p.Clean.Length > model.Positions), d.Pairs |> Array.tryPick foreign with
            | Some i, _ -> failwith $"{d.Source}: pair {i + 1} is {d.Pairs[i].Clean.Length} tokens, more than the model's {model.Positions} positions (n_positions or max_position_embeddings in its config.json)"
            | None, Some t ->
                let i = d.Pairs |> Array.findIndex (foreign >> Option.isSome)
                failwith $"{d.Source}: pair {i + 1} holds token id {t}, outside the model's vocabulary [0, {model.VocabSize}) (vocab_size in its config.json); is the task meant for another model?"
            | None, None -> d
        match source with
        | Pairs d -> fitting d
        | Task request ->
            match Tasks.TaskRequest.resolve modelDir request with
            | Ok d -> fitting d
            | Error message -> failwith message
        | JsonlFile path ->
            // Forced only by a line with text; token ids need no tokenizer.
            let tokenizer = lazy (Tokenizer.ForModel modelDir)
            let loaded = try Dataset.load path model.VocabSize model.Positions tokenizer finally if tokenizer.IsValueCreated then tokenizer.Value.Dispose()
            match loaded with
            | Ok d -> d
            | Error message -> failwith message

    /// The metric a run scores with: the one asked for, else the task's, else the one the pairs' fields allow.
    let private metricOf asked source data =
        let metric =
            match asked, source with
            | Some m, _ -> m
            | None, Task request -> Tasks.TaskRequest.metric request
            | None, _ -> Metric.defaultFor data
        match Metric.check metric data with
        | Ok () -> metric
        | Error message -> failwith message

    /// Every batch of the data prepared for the engine with its full-model targets, and its pair count; the tensors
    /// go into `owned`, which the caller disposes once it is done with the batches.
    let private prepare (engine: Engine.CompiledEngine) batchSize data (owned: ResizeArray<IDisposable>) =
        // Built on the model's device once, so no training step copies from the host.
        let model = engine.Model
        let device = model.Device
        [ for b in Dataset.batches batchSize data ->
            let clean, corrupted, mask = tokens device b.Clean, tokens device b.Corrupted, tokens device (Dataset.mask b)
            let answers = torch.tensor(b.Answers, device = device)
            let wrongs = b.Wrongs |> Option.map (fun w -> torch.tensor(w, device = device))
            let thresholds = b.Thresholds |> Option.map (fun s -> Loss.thresholdWeights s model.VocabSize device)
            let batch = engine.Prepare(clean, Some corrupted, Some mask)
            let t = Train.withTargets engine batch answers wrongs thresholds
            owned.AddRange [ clean; corrupted; mask; answers; batch; t.FullLogits ]
            for o in [ wrongs; thresholds ] do o |> Option.iter owned.Add
            t, b.Answers.Length ]

    let private evaluationsOf engine metric prepared =
        [ for (t: PreparedBatchWithTargets), n in prepared ->
            { Engine = engine; Batch = t.Batch; Answers = t.Answers; Wrongs = t.Wrongs; Thresholds = t.Thresholds; Metric = Metric.evaluate metric }, n ]

    /// SHA-256 of integers as little-endian int32s, in hex: a digest that depends on the values alone, not on how
    /// any library prints them.
    let private digest (values: seq<int>) =
        let bytes = values |> Seq.collect BitConverter.GetBytes |> Array.ofSeq
        Convert.ToHexString(Security.Cryptography.SHA256.HashData bytes).ToLowerInvariant()

    /// What the pairs hold, as a checkpoint records it, so that a resume on other data is refused naming what
    /// differs: the token ids, the answers, and the fields only some metrics read. Each list's length goes in before
    /// it, so that no two datasets give one stream of integers.
    let private dataFingerprint (data: PairDataset) =
        let list (xs: int seq) = Seq.append [ Seq.length xs ] xs
        let pairs (f: Pair -> int seq) = digest (Seq.append [ data.Pairs.Length ] (data.Pairs |> Seq.collect f))
        let wrong (p: Pair) = match p.Wrong with Some w -> seq { 1; w } | None -> seq { 0 }
        let threshold (p: Pair) =
            match p.Threshold with
            | Some t -> Seq.concat [ seq { 1 }; list t.Above; list t.AtOrBelow ]
            | None -> seq { 0 }
        [ "data.token_ids", pairs (fun p -> Seq.append (list p.Clean) (list p.Corrupted))
          "data.answers", pairs (fun p -> seq { p.Answer })
          "data.metric_fields", pairs (fun p -> Seq.append (wrong p) (threshold p)) ]

    /// The ablation as a checkpoint records it; a mean names the digest of the prompts it averages over.
    let private ablationFingerprint ablation =
        match ablation with
        | Ablation.Patching -> "patching"
        | Ablation.Zero -> "zero"
        | Ablation.Mean source ->
            let tokens = source.Tokens |> Seq.collect (fun row -> Seq.append [ row.Length ] (Seq.map int row))
            let where = if source.PerPosition then " per position" else ""
            $"mean{where} over prompts {digest tokens}"

    /// The engine of a granularity's schedule; a schedule that does not resolve is a bug here, not bad input.
    let private engineFor (model: Decoder) granularity ablation =
        match Schedule.resolve (Schedule.ofGranularity (Engine.shapeOf model) granularity) with
        | Ok schedule -> Engine.compile model schedule ablation
        | Error e -> failwith e

    /// The engine's ablation for an experiment's choice; a mean reads the clean prompts of its reference data.
    let private ablationOf modelDir model (data: PairDataset) choice =
        match choice with
        | AblationChoice.Patching -> Ablation.Patching
        | AblationChoice.Zero -> Ablation.Zero
        | AblationChoice.Mean reference ->
            let d = reference |> Option.map (loadData modelDir model) |> Option.defaultValue data
            Ablation.Mean { Tokens = [| for p in d.Pairs -> Array.map int64 p.Clean |]; PerPosition = false }

    /// Where a run keeps its checkpoints: a sibling of the output folder, so that the atomic swap of the output
    /// never touches them; removed once the run has succeeded.
    let checkpointDir (outDir: string) = Path.GetFullPath(outDir).TrimEnd(Path.DirectorySeparatorChar) + ".checkpoint"

    /// Deletes a run's checkpoint folder, which holds only the trainer's safetensors files (with their temporary
    /// siblings); a folder of that name holding anything else is the user's and is refused, not deleted.
    let private removeCheckpoints (dir: string) =
        if Directory.Exists dir then
            let ours (path: string) =
                File.Exists path && Regex.IsMatch(nonNull (Path.GetFileName path), @"^(train|level-[^/]*)\.safetensors(\.tmp-.*)?$")
            match Directory.EnumerateFileSystemEntries dir |> Seq.tryFind (ours >> not) with
            | Some other ->
                failwith $"{dir}: holds {Path.GetFileName other}, which no checkpoint of patchdescent wrote; it is left alone, so move it away or choose another --out"
            | None -> Directory.Delete(dir, true)

    /// The inputs an experiment reads, by the flag that names each, so that its output folder never holds one.
    let private inputsOf (experiment: Experiment) =
        let file source = match source with JsonlFile path -> Some path | Pairs _ | Task _ -> None
        [ struct ("--model", Some experiment.ModelDir)
          struct ("--data", file experiment.Data)
          struct ("--mean-data", match experiment.Ablation with AblationChoice.Mean (Some r) -> file r | _ -> None) ]
        |> List.map (fun struct (flag, path) -> struct (flag, Option.toObj path))

    let claim verb (experiment: Experiment) =
        OutputFolder.Claim("--out", experiment.OutDir, verb, inputsOf experiment, experiment.Force)

    /// The run into `dir`; `loaded` is the seconds the model took to load, when this run loaded it.
    let private runWith (loaded: float option) (model: Decoder) (experiment: Experiment) (dir: string) (onLog: StepLog -> unit) =
        Directory.CreateDirectory dir |> ignore
        let data, dataSeconds = Outcome.timed (fun () -> loadData experiment.ModelDir model experiment.Data)
        let metric = metricOf experiment.Metric experiment.Data data
        if experiment.Method <> Descent then
            let descentOnly =
                [ if experiment.CurveMode = PerPointRuns then "PerPointRuns"
                  if experiment.TargetEdges.IsSome then "TargetEdges"
                  if experiment.Checkpoint.IsSome then "Checkpoint" ]
            if not descentOnly.IsEmpty then
                let names = String.Join(", ", descentOnly)
                failwith $"{names} apply to training, that is to the descent method only, not to {Method.name experiment.Method}"
        let finalDir = Path.GetFullPath(experiment.OutDir).TrimEnd(Path.DirectorySeparatorChar)
        let checkpoints = checkpointDir finalDir
        experiment.Checkpoint |> Option.iter (fun c ->
            if c.Resume && not (Directory.Exists checkpoints) then
                failwith $"{checkpoints}: no checkpoint to resume from; run without resuming to start afresh"
            if not c.Resume then removeCheckpoints checkpoints)
        let ablation = ablationOf experiment.ModelDir model data experiment.Ablation
        use engine = engineFor model experiment.Granularity ablation
        let settings = Outcome.trainSettings engine experiment
        let owned = ResizeArray<IDisposable>()
        try
            let prepared, prepareSeconds = Outcome.timed (fun () -> prepare engine experiment.BatchSize data owned)
            // What decides a run besides the trainer's settings, so that a checkpoint of another run is refused.
            let context =
                [ "model", experiment.ModelDir
                  yield! dataFingerprint data
                  "metric", Metric.name metric
                  "granularity", (match experiment.Granularity with Granularity.Full -> "full" | Granularity.Heads -> "heads")
                  "ablation", ablationFingerprint ablation
                  "batch_size", string experiment.BatchSize ]
            let options name =
                { Checkpoint =
                    experiment.Checkpoint |> Option.map (fun c ->
                        { Path = Path.Combine(checkpoints, name); Every = c.Every; Resume = c.Resume; Context = context })
                  RecordLevels = [] }
            let inputs =
                { Engine = engine; Batches = List.map fst prepared; Evaluations = evaluationsOf engine metric prepared
                  Metric = metric; Train = settings; TrainOptions = options; OnLog = onLog }
            let outcome = Outcome.run experiment inputs
            let metrics, scoreSeconds = Outcome.timed (fun () -> Evaluate.pooled inputs.Evaluations outcome.Circuit)
            let phases =
                [ yield! loaded |> Option.map (fun s -> "load", s) |> Option.toList
                  "data", dataSeconds
                  "corrupted runs and full-model targets", prepareSeconds
                  yield! outcome.Timings
                  "the circuit's figures", scoreSeconds ]
            let time = "time: " + String.Join(", ", [ for name, s in phases -> $"{name} {s:F1} s" ])
            let report = Report.ofRun experiment data.Source metric (string model.Device) model.DModel { outcome with Log = outcome.Log @ [ time ] } metrics
            RunFolder.write dir finalDir report
            if experiment.Checkpoint.IsSome then removeCheckpoints checkpoints
            { Circuit = report.Circuit; Scores = report.Scores; Ranking = report.Ranking; Metrics = report.Metrics; Curve = report.Curve
              CurveCircuits = [ for r in report.Rows -> r.Circuit ]; Warnings = report.Warnings; OutDir = finalDir
              Report = report }
        finally
            for d in owned do d.Dispose()

    let runInto model experiment dir onLog = runWith None model experiment dir onLog

    let runOn (model: Decoder) (experiment: Experiment) onLog =
        (claim "discover" experiment).Write(fun dir -> runInto model experiment dir onLog)

    let run experiment onLog =
        let folder = claim "discover" experiment
        let device = Compute.apply experiment.Compute
        let loaded, loadSeconds = Outcome.timed (fun () -> ModelFolder.Load(experiment.ModelDir, device, Compute.dtype experiment.Compute.Precision))
        use model = loaded
        folder.Write(fun dir -> runWith (Some loadSeconds) model experiment dir onLog)

    let private loadCircuit (modelDir: string) shape (path: string) =
        if Directory.Exists path then failwith $"{path}: is a folder; --circuit takes a circuit.json or an MIB graph JSON file"
        if not (File.Exists path) then failwith $"{path}: no such file"
        let text = try File.ReadAllText path with e -> failwith $"{path}: {e.Message}"
        match CircuitJson.readCircuit shape text with
        | Error message -> failwith $"{path}: {message}"
        | Ok (format, circuit, recorded) ->
            let sameModel (m: string) = m = modelDir || Path.GetFullPath m = Path.GetFullPath modelDir
            let warnings =
                match recorded with
                | Some m when not (sameModel m) ->
                    [ $"{path} records the model {m}, but it is scored on --model {modelDir}; its figures are those of {modelDir}" ]
                | _ -> []
            format, circuit, warnings

    let evaluateSaved modelDir circuitFile data ablation metric compute =
        let device = Compute.apply compute
        use model = ModelFolder.Load(modelDir, device, Compute.dtype compute.Precision)
        let shape = Engine.shapeOf model
        let format, circuit, circuitWarnings = loadCircuit modelDir shape circuitFile
        let pairs = loadData modelDir model data
        let metric = metricOf metric data pairs
        use engine = engineFor model Granularity.Full (ablationOf modelDir model pairs ablation)
        let owned = ResizeArray<IDisposable>()
        try
            // The figures are means over pairs, so the batch size changes only how much memory a pass takes.
            let evaluations = evaluationsOf engine metric (prepare engine 16 pairs owned)
            let scores = Evaluate.pooled evaluations circuit
            // Discovery refuses such a model through its loss; figures of NaN would only look like an answer.
            if not (Double.IsFinite scores.Full) then
                failwith $"{modelDir}: the full model's metric ({Metric.name metric}) is {scores.Full} on {pairs.Source}; look for NaN or infinite weights (patchdescent info --model {modelDir} reports them)"
            { Format = format; Circuit = circuit; Metric = Metric.name metric; Scores = scores
              Warnings = circuitWarnings @ (if Evaluate.degenerate scores then [ Report.degenerateWarning metric scores ] else []) }
        finally
            for d in owned do d.Dispose()
