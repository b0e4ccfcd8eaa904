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
      OutDir: string }

type SavedEvaluation =
    { Format: CircuitFileFormat
      Circuit: Circuit
      Metric: string
      Scores: CircuitScores
      Warnings: string list }

module Discovery =
    /// Figures as plain invariant text, so run.log and curve.csv read the same on every machine; adding 0 turns
    /// the -0 of an empty circuit's faithfulness into 0.
    let private num (x: float) = (x + 0.0).ToString("R", Globalization.CultureInfo.InvariantCulture)

    /// A value's %A text on one line, for the report's settings.
    let private printed (x: 'a) = Regex.Replace(sprintf "%A" x, @"\s+", " ")

    let private logLine (l: StepLog) =
        let terms = [ for name, v in l.Terms -> $"{name} {num v}" ]
        let target = l.Target |> Option.map (fun t -> $"target {num t}") |> Option.toList
        String.Join("  ", [ $"step {l.Step}" ] @ terms @ [ $"kept {num l.ExpectedKeptFraction}" ] @ target)

    let private tokens (device: torch.Device) (rows: int64[][]) =
        use scope = torch.NewDisposeScope()
        torch.tensor(Array.concat rows, device = device).reshape(int64 rows.Length, int64 rows[0].Length).MoveToOuterDisposeScope()

    /// Scores a circuit on every batch and combines the metrics weighted by pairs; the ratio is taken last, since
    /// a mean of per-batch faithfulness would weigh a batch by how little its full and empty metrics differ.
    let private scoreAll (evaluations: (Evaluation * int) list) circuit =
        let scored = [ for e, n in evaluations -> Evaluate.run e circuit, float n ]
        let total = List.sumBy snd scored
        let mean f = (List.sumBy (fun (s, n) -> f s * n) scored) / total
        let c, full, empty = mean (fun s -> s.Circuit), mean (fun s -> s.Full), mean (fun s -> s.Empty)
        { Circuit = c; Full = full; Empty = empty
          Faithfulness = if full = empty then nan else (c - empty) / (full - empty)
          Kl = mean (fun s -> s.Kl) }

    /// MIB's edge count of a level: int(pct * n) in its evaluation, the floor of the product.
    let private levelK edgeCount (level: float) =
        if level < 0.0 || level > 1.0 then invalidArg "Levels" $"level {level} is outside [0, 1]"
        int (floor (level * float edgeCount))

    let private loadData (config: Gpt2Config) (source: DataSource) =
        match source with
        | Pairs d ->
            match d.Pairs |> Array.tryFindIndex (fun p -> p.Clean.Length > config.Positions) with
            | Some i -> failwith $"{d.Source}: pair {i + 1} is {d.Pairs[i].Clean.Length} tokens, more than the model's {config.Positions} positions (n_positions in its config.json)"
            | None -> d
        | JsonlFile path ->
            match Dataset.load path config.VocabSize config.Positions with
            | Ok d -> d
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
            let thresholds = b.Thresholds |> Option.map (fun s -> Loss.thresholdWeights s model.Config.VocabSize device)
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
    let private engineFor (model: Gpt2) granularity ablation =
        match Schedule.resolve (Schedule.ofGranularity (Engine.shapeOf model) granularity) with
        | Ok schedule -> Engine.compile model schedule ablation
        | Error e -> failwith e

    /// The engine's ablation for an experiment's choice; a mean reads the clean prompts of its reference data.
    let private ablationOf config (data: PairDataset) choice =
        match choice with
        | AblationChoice.Patching -> Ablation.Patching
        | AblationChoice.Zero -> Ablation.Zero
        | AblationChoice.Mean reference ->
            let d = reference |> Option.map (loadData config) |> Option.defaultValue data
            Ablation.Mean { Tokens = [| for p in d.Pairs -> Array.map int64 p.Clean |]; PerPosition = false }

    /// The settings with the target sparsity's end moved; only a target-sparsity Lagrangian has one.
    let private withEnd (why: string) target (settings: TrainSettings) =
        match settings.Sparsity with
        | TargetLagrangian (t, rate) -> { settings with Sparsity = TargetLagrangian({ t with End = target }, rate) }
        | L1Penalty _ -> failwith $"{why} needs a target-sparsity Lagrangian (TargetLagrangian), but the experiment's sparsity is {printed settings.Sparsity}"

    /// The experiment's training settings with `TargetEdges` applied.
    let private trainSettings (engine: Engine.CompiledEngine) (experiment: Experiment) =
        match experiment.TargetEdges with
        | None -> experiment.Train
        | Some k ->
            let n = engine.ParamCount
            // No edge at all is no circuit: a target of 0 would train every gate shut.
            if k < 1 || k > n then
                failwith $"target edges (--target-edges) {k} is outside 1 .. {n}, the learnable parameters of the {printed experiment.Granularity} graph"
            withEnd "a target edge count" (1.0 - float k / float n) experiment.Train

    /// The warning of figures whose normalised faithfulness means nothing (`Evaluate.degenerate`).
    let private degenerateWarning metric (s: CircuitScores) =
        $"m(full) = {num s.Full} and m(empty) = {num s.Empty} ({Metric.name metric}) barely differ, so normalised faithfulness, "
        + "CPR and CMD are meaningless here: ablating every edge does not change the metric; choose a metric or pairs on which it does"

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

    /// The faithfulness an attribution method's circuit must reach.
    let private attributionBar = 0.85
    let private attributionRule = "smallest curve circuit with faithfulness >= 0.85, else the largest"

    /// The inputs an experiment reads, by the flag that names each, so that its output folder never holds one.
    let private inputsOf (experiment: Experiment) =
        let file source = match source with JsonlFile path -> Some path | Pairs _ -> None
        [ struct ("--model", Some experiment.ModelDir)
          struct ("--data", file experiment.Data)
          struct ("--mean-data", match experiment.Ablation with AblationChoice.Mean (Some r) -> file r | _ -> None) ]
        |> List.map (fun struct (flag, path) -> struct (flag, Option.toObj path))

    let claim verb (experiment: Experiment) =
        OutputFolder.Claim("--out", experiment.OutDir, verb, inputsOf experiment, experiment.Force)

    let runInto (model: Gpt2) (experiment: Experiment) (dir: string) (onLog: StepLog -> unit) =
        Directory.CreateDirectory dir |> ignore
        let data = loadData model.Config experiment.Data
        let metric = experiment.Metric |> Option.defaultWith (fun () -> Metric.defaultFor data)
        let shape = Engine.shapeOf model
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
        let ablation = ablationOf model.Config data experiment.Ablation
        use engine = engineFor model experiment.Granularity ablation
        let settings = trainSettings engine experiment
        let owned = ResizeArray<IDisposable>()
        try
            let prepared = prepare engine experiment.BatchSize data owned
            let log = ResizeArray<string>()
            // The main run's logs, for what it reached at its last step.
            let mainLogs = ResizeArray<StepLog>()
            let targetWarnings = ResizeArray<string>()
            let logged prefix (l: StepLog) =
                if prefix = "" then mainLogs.Add l
                log.Add(prefix + logLine l)
                onLog l
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
            let evaluations = evaluationsOf engine metric prepared
            let batches = List.map fst prepared
            let edgeCount = Graph.edgeCount shape
            let pointOf (ranking: float[]) level =
                let k = levelK edgeCount level
                let circuit = Extract.prune (Extract.topK shape ranking k)
                let s = scoreAll evaluations circuit
                circuit,
                { Level = level; K = k; Edges = Circuit.edgeCount circuit; Fraction = float (Circuit.edgeCount circuit) / float edgeCount
                  Faithfulness = s.Faithfulness; Kl = s.Kl }
            let curveOf rows =
                let points = [ for _, _, _, _, p in rows -> p ]
                { Points = points; Cpr = Evaluate.cpr points; Cmd = Evaluate.cmd points }
            // Rows of (level, source, step, circuit, point) from one set of scores.
            let finalRows (scores: float[]) step =
                [ for level in experiment.Levels ->
                    let c, p = pointOf scores level
                    level, "final", step, c, p ]
            // Each method's own circuit: descent keeps gate scores of at least 0.5, ACDC what it kept; attribution
            // scores have no natural cut, so theirs is the curve's smallest circuit reaching 85 % faithfulness (the
            // bar of Hanna et al. 2024), else its largest.
            let smallestFaithful rows =
                let sorted = rows |> List.sortBy (fun (_, _, _, _, p: CurvePoint) -> p.Edges)
                match sorted |> List.tryFind (fun (_, _, _, _, p: CurvePoint) -> p.Faithfulness >= attributionBar) with
                | Some (_, _, _, c, _) -> c
                | None -> sorted |> List.last |> fun (_, _, _, c, _) -> c
            let methodName = Method.name experiment.Method
            // The curve of a method that does not train: its scores' top-k at every level, source final, step 0.
            let untrained scores settings ownCircuit =
                let rows = finalRows scores 0
                (scores, scores), settings, ownCircuit, rows, [ methodName, curveOf rows ]
            let (scores, ranking), methodSettings, ownCircuit, rows, plotted =
                match experiment.Method with
                | Descent ->
                    let trained = Train.runWith (options "train.safetensors") settings engine batches (logged "")
                    trained.ResumedAt |> Option.iter (fun step ->
                        let file = Path.Combine(checkpoints, "train.safetensors")
                        log.Insert(0, $"resumed from {file} at step {step}; the steps before it are not logged here"))
                    let budget = experiment.RefineTrials |> Option.defaultValue (Experiment.defaultRefineTrials settings.Steps batches.Length)
                    let oracle = lazy (Elimination.oracle engine batches (Metric.evaluate metric))
                    // Elimination's criterion is faithfulness, which such figures leave undefined: no refinement.
                    let refinement =
                        if Evaluate.degenerate (scoreAll evaluations (Circuit.full shape)) then
                            log.Add "refine: skipped, since m(full) and m(empty) barely differ and faithfulness gives elimination no criterion"
                            NoRefinement
                        else experiment.Refine
                    let clock = Diagnostics.Stopwatch.StartNew()
                    let refined = Refine.run refinement budget experiment.TargetEdges oracle engine.Schedule trained
                    let seconds = clock.Elapsed.TotalSeconds
                    let ranking = Methods.Attribution.edgeScores engine (Elimination.rankingScores engine.Schedule refined.BestFirst)
                    let candidates = Elimination.circuit engine.Schedule refined.Candidates |> Circuit.edgeCount
                    match refinement with
                    | NoRefinement -> log.Add $"refine: none; {candidates} candidate edges, ranked by the anneal"
                    | PruneRefinement floor | SwapRefinement floor ->
                        let kept = (Elimination.circuit engine.Schedule refined.Kept) |> Circuit.edgeCount
                        let stopped = if refined.Exhausted then "; the budget ran out, so the untried edges went in the anneal's order" else ""
                        log.Add $"refine: {printed refinement} over {candidates} candidate edges: {kept} kept, {refined.Trials} trials of {budget} in {seconds:F1} s{stopped}"
                    // What the target asked for against what training reached, said rather than hidden in the log.
                    experiment.TargetEdges |> Option.iter (fun k ->
                        match Seq.tryLast mainLogs with
                        | Some (l: StepLog) when l.ExpectedKeptEdges > float k + 0.5 ->
                            targetWarnings.Add $"the expected kept edges were {num l.ExpectedKeptEdges} at the last step, above the target of {k}; the circuit is the pruned top {k} of the ranking; train longer (--steps) to reach it"
                        | _ -> ())
                    let rows =
                        match experiment.CurveMode with
                        | FromAnneal -> finalRows ranking settings.Steps |> List.map (fun (level, _, step, c, p) -> level, "ranking", step, c, p)
                        | PerPointRuns ->
                            let rows =
                                [ for level in experiment.Levels ->
                                    let perLevel = withEnd "PerPointRuns" (1.0 - level) settings
                                    let r = Train.runWith (options $"level-{num level}.safetensors") perLevel engine batches (logged $"level {num level}  ")
                                    let c, p = pointOf (Methods.Attribution.edgeScores engine (Elimination.rankingScores engine.Schedule (Refine.annealOrder r))) level
                                    level, "run", settings.Steps, c, p ]
                            let perPoint = curveOf rows
                            log.Add $"curve: one training per level (target sparsity 1 - level, {settings.Steps} steps each), each level's final gates in the anneal's order; CPR {num perPoint.Cpr}, CMD {num perPoint.Cmd}"
                            rows
                    let plotted =
                        match experiment.CurveMode with
                        | FromAnneal -> [ methodName, curveOf rows ]
                        | PerPointRuns ->
                            [ $"{methodName}, one run per level", curveOf rows
                              $"{methodName}, the refined ranking", curveOf (finalRows ranking settings.Steps) ]
                    let own =
                        match experiment.TargetEdges with
                        | Some k -> Extract.prune (Extract.topK shape ranking k)
                        | None -> Elimination.circuit engine.Schedule refined.Kept
                    let t = settings
                    (trained.Scores, ranking),
                    [ "gate", printed t.Gate; "loss", printed t.Loss; "sparsity", printed t.Sparsity; "steps", printed t.Steps
                      "learning_rate", printed t.LearningRate; "clip_norm", printed t.ClipNorm; "log_every", printed t.LogEvery
                      "curve_mode", printed experiment.CurveMode; "refine", printed refinement; "refine_trials", printed refined.Trials
                      "refine_budget", printed budget
                      "circuit", (match experiment.TargetEdges with Some k -> $"pruned top {k} of the ranking" | None -> "the refined candidates, pruned")
                      "ranking", "the refinement's greedy order within the circuit, then the other candidates, then the anneal's order" ],
                    Some own, rows, plotted
                | Eap -> untrained (Methods.Eap.scores engine batches (Metric.evaluate metric)) [ "circuit", attributionRule ] None
                | EapIg steps ->
                    untrained (Methods.EapIg.scores steps engine batches (Metric.evaluate metric)) [ "ig_steps", printed steps; "circuit", attributionRule ] None
                | Prune floor ->
                    let r = Methods.Prune.run floor engine batches (Metric.evaluate metric)
                    log.Add $"prune trials {r.Trials}  faithfulness {num r.Faithfulness}"
                    untrained r.Scores [ "prune_floor", printed floor; "prune_trials", printed r.Trials; "circuit", "what elimination kept, not pruned" ] (Some r.Circuit)
                | Acdc tau ->
                    let r = Methods.Acdc.run tau engine batches
                    log.Add $"acdc trials {r.Trials}  kl {num r.Kl}"
                    untrained r.Scores [ "acdc_tau", printed tau; "acdc_trials", printed r.Trials; "circuit", "kept by ACDC, not pruned" ] (Some r.Circuit)
            let curve = curveOf rows
            let circuit = ownCircuit |> Option.defaultWith (fun () -> smallestFaithful rows)
            let metrics = scoreAll evaluations circuit
            let warnings = List.ofSeq targetWarnings @ (if Evaluate.degenerate metrics then [ degenerateWarning metric metrics ] else [])
            let figures =
                [ "edges", float (Circuit.edgeCount circuit); "faithfulness", metrics.Faithfulness; "kl", metrics.Kl
                  "m_circuit", metrics.Circuit; "m_full", metrics.Full; "m_empty", metrics.Empty
                  "cpr", curve.Cpr; "cmd", curve.Cmd ]
            let report =
                { LibraryVersion = Version.current
                  Model = experiment.ModelDir
                  Task = data.Source
                  Granularity = printed experiment.Granularity
                  Seed = experiment.Train.Seed
                  Hyperparameters =
                    [ "method", Method.name experiment.Method; "ablation", printed experiment.Ablation ]
                    @ methodSettings
                    @ [ "batch_size", printed experiment.BatchSize; "levels", printed experiment.Levels
                        "compute", printed experiment.Compute; "device", string model.Device; "metric", Metric.name metric ]
                  Edges = [ for id in circuit.Edges -> Edge.name (Graph.edge shape id), scores[id] ]
                  Metrics = figures
                  Warnings = warnings }
            do
                let file name = Path.Combine(dir, name)
                CircuitJson.writeReport (file "circuit.json") report
                File.WriteAllText(file "graph.mib.json", CircuitJson.exportMib circuit (Some ranking))
                let dot = Render.dot circuit (Some scores)
                File.WriteAllText(file "circuit.dot", dot)
                match Render.svg dot (file "circuit.svg") with
                | Ok () -> ()
                // Render names the file it was given; the reader of run.log knows the folder by its final name.
                | Error message -> log.Add $"circuit.svg not written: {message.Replace(dir, finalDir)}"
                File.WriteAllLines(
                    file "curve.csv",
                    [ yield "level,k,edges,fraction,faithfulness,kl,source,step"
                      for level, source, step, _, p in rows ->
                          String.Join(",", [ num level; string p.K; string p.Edges; num p.Fraction; num p.Faithfulness; num p.Kl; source; string step ]) ])
                let drawable (c: Curve) = c.Points |> List.exists (fun p -> p.Fraction > 0.0 && not (Double.IsNaN p.Faithfulness))
                if List.exists (snd >> drawable) plotted then
                    Plot.faithfulness $"{Path.GetFileName finalDir}: faithfulness against edges" plotted (file "curve.png") (file "curve.svg")
                else log.Add "curve.png and curve.svg not written: no curve point has edges and a finite faithfulness"
                for name, v in figures do log.Add $"{name} {num v}"
                for w in warnings do log.Add $"warning: {w}"
                File.WriteAllLines(file "run.log", log)
            if experiment.Checkpoint.IsSome then removeCheckpoints checkpoints
            { Circuit = circuit; Scores = scores; Ranking = ranking; Metrics = metrics; Curve = curve
              CurveCircuits = [ for _, _, _, c, _ in rows -> c ]; Warnings = warnings; OutDir = finalDir }
        finally
            for d in owned do d.Dispose()

    let runOn (model: Gpt2) (experiment: Experiment) onLog =
        (claim "discover" experiment).Write(fun dir -> runInto model experiment dir onLog)

    let run experiment onLog =
        let folder = claim "discover" experiment
        let device = Compute.apply experiment.Compute
        use model = Checkpoint.Load(experiment.ModelDir, device, Compute.dtype experiment.Compute.Precision)
        folder.Write(fun dir -> runInto model experiment dir onLog)

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
        use model = Checkpoint.Load(modelDir, device, Compute.dtype compute.Precision)
        let shape = Engine.shapeOf model
        let format, circuit, circuitWarnings = loadCircuit modelDir shape circuitFile
        let pairs = loadData model.Config data
        let metric = metric |> Option.defaultWith (fun () -> Metric.defaultFor pairs)
        use engine = engineFor model Granularity.Full (ablationOf model.Config pairs ablation)
        let owned = ResizeArray<IDisposable>()
        try
            // The figures are means over pairs, so the batch size changes only how much memory a pass takes.
            let evaluations = evaluationsOf engine metric (prepare engine 16 pairs owned)
            let scores = scoreAll evaluations circuit
            // Discovery refuses such a model through its loss; figures of NaN would only look like an answer.
            if not (Double.IsFinite scores.Full) then
                failwith $"{modelDir}: the full model's metric ({Metric.name metric}) is {scores.Full} on {pairs.Source}; look for NaN or infinite weights (patchdescent info --model {modelDir} reports them)"
            { Format = format; Circuit = circuit; Metric = Metric.name metric; Scores = scores
              Warnings = circuitWarnings @ (if Evaluate.degenerate scores then [ degenerateWarning metric scores ] else []) }
        finally
            for d in owned do d.Dispose()
