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
      Metrics: CircuitScores
      Curve: Curve
      OutDir: string }

type CircuitFileFormat =
    | Report
    | Mib

type SavedEvaluation =
    { Format: CircuitFileFormat
      Circuit: Circuit
      Metric: string
      Scores: CircuitScores }

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

    let private tokens (rows: int64[][]) =
        use scope = torch.NewDisposeScope()
        torch.tensor(Array.concat rows).reshape(int64 rows.Length, int64 rows[0].Length).MoveToOuterDisposeScope()

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

    let private levelK edgeCount (level: float) =
        if level < 0.0 || level > 1.0 then invalidArg "Levels" $"level {level} is outside [0, 1]"
        let k = int (round (level * float edgeCount))
        if level > 0.0 then max 1 k else k

    let private loadData vocab (source: DataSource) =
        match source with
        | Pairs d -> d
        | JsonlFile path ->
            match Dataset.load path vocab with
            | Ok d -> d
            | Error message -> failwith message

    /// Every batch of the data prepared for the engine with its full-model targets, and its pair count; the tensors
    /// go into `owned`, which the caller disposes once it is done with the batches.
    let private prepare (engine: Engine.CompiledEngine) batchSize data (owned: ResizeArray<IDisposable>) =
        [ for b in Dataset.batches batchSize data ->
            let clean, corrupted, answers = tokens b.Clean, tokens b.Corrupted, torch.tensor b.Answers
            let wrongs = b.Wrongs |> Option.map (fun w -> torch.tensor w)
            let batch = engine.Prepare(clean, Some corrupted, None)
            let t = Train.withTargets engine batch answers wrongs
            owned.AddRange [ clean; corrupted; answers; batch; t.FullLogits ]
            wrongs |> Option.iter owned.Add
            t, b.Answers.Length ]

    let private evaluationsOf engine metric prepared =
        [ for (t: PreparedBatchWithTargets), n in prepared ->
            { Engine = engine; Batch = t.Batch; Answers = t.Answers; Wrongs = t.Wrongs; Metric = Metric.evaluate metric }, n ]

    /// Builds the folder's contents at `temp`, then swaps it in; an old folder is moved aside first, since a
    /// directory cannot be renamed over another.
    let private writeAtomically (outDir: string) (fill: string -> unit) =
        let pid = Environment.ProcessId
        let temp, old = $"{outDir}.tmp-{pid}", $"{outDir}.old-{pid}"
        for d in [ temp; old ] do if Directory.Exists d then Directory.Delete(d, true)
        Directory.CreateDirectory temp |> ignore
        try
            fill temp
        with _ ->
            Directory.Delete(temp, true)
            reraise ()
        if Directory.Exists outDir then Directory.Move(outDir, old)
        Directory.Move(temp, outDir)
        if Directory.Exists old then Directory.Delete(old, true)

    /// The engine of a granularity's schedule; a schedule that does not resolve is a bug here, not bad input.
    let private engineFor (model: Gpt2) granularity ablation =
        match Schedule.resolve (Schedule.ofGranularity (Engine.shapeOf model) granularity) with
        | Ok schedule -> Engine.compile model schedule ablation
        | Error e -> failwith e

    let runOn (model: Gpt2) (experiment: Experiment) (onLog: StepLog -> unit) =
        let data = loadData model.Config.VocabSize experiment.Data
        let metric = experiment.Metric |> Option.defaultWith (fun () -> Metric.defaultFor data)
        let shape = Engine.shapeOf model
        use engine = engineFor model experiment.Granularity experiment.Ablation
        let owned = ResizeArray<IDisposable>()
        try
            let prepared = prepare engine experiment.BatchSize data owned
            let log = ResizeArray<string>()
            let logged (l: StepLog) =
                log.Add(logLine l)
                onLog l
            let trained = Train.run experiment.Train engine (List.map fst prepared) logged
            let evaluations = evaluationsOf engine metric prepared
            let scores = trained.Scores
            let edgeCount = Graph.edgeCount shape
            let points =
                [ for level in experiment.Levels ->
                    let k = levelK edgeCount level
                    let circuit = Extract.prune (Extract.topK shape scores k)
                    let s = scoreAll evaluations circuit
                    level,
                    { K = k; Edges = Circuit.edgeCount circuit; Fraction = float (Circuit.edgeCount circuit) / float edgeCount
                      Faithfulness = s.Faithfulness; Kl = s.Kl } ]
            let curve = { Points = List.map snd points; Cpr = Evaluate.cpr (List.map snd points); Cmd = Evaluate.cmd (List.map snd points) }
            let circuit = Extract.prune (Extract.threshold shape scores 0.5)
            let metrics = scoreAll evaluations circuit
            let figures =
                [ "edges", float (Circuit.edgeCount circuit); "faithfulness", metrics.Faithfulness; "kl", metrics.Kl
                  "m_circuit", metrics.Circuit; "m_full", metrics.Full; "m_empty", metrics.Empty
                  "cpr", curve.Cpr; "cmd", curve.Cmd ]
            let t = experiment.Train
            let report =
                { LibraryVersion = Version.current
                  Model = experiment.ModelDir
                  Task = data.Source
                  Granularity = printed experiment.Granularity
                  Seed = t.Seed
                  Hyperparameters =
                    [ "ablation", printed experiment.Ablation; "gate", printed t.Gate; "loss", printed t.Loss
                      "sparsity", printed t.Sparsity; "steps", printed t.Steps; "learning_rate", printed t.LearningRate
                      "clip_norm", printed t.ClipNorm; "log_every", printed t.LogEvery
                      "batch_size", printed experiment.BatchSize; "levels", printed experiment.Levels
                      "metric", Metric.name metric ]
                  Edges = [ for id in circuit.Edges -> Edge.name (Graph.edge shape id), scores[id] ]
                  Metrics = figures }
            let finalDir = Path.GetFullPath(experiment.OutDir).TrimEnd(Path.DirectorySeparatorChar)
            writeAtomically finalDir (fun dir ->
                let file name = Path.Combine(dir, name)
                CircuitJson.writeReport (file "circuit.json") report
                File.WriteAllText(file "graph.mib.json", CircuitJson.exportMib circuit (Some scores))
                let dot = Render.dot circuit (Some scores)
                File.WriteAllText(file "circuit.dot", dot)
                match Render.svg dot (file "circuit.svg") with
                | Ok () -> ()
                // Render names the file it was given; the reader of run.log knows the folder by its final name.
                | Error message -> log.Add $"circuit.svg not written: {message.Replace(dir, finalDir)}"
                File.WriteAllLines(
                    file "curve.csv",
                    [ yield "level,k,edges,fraction,faithfulness,kl"
                      for level, p in points -> String.Join(",", [ num level; string p.K; string p.Edges; num p.Fraction; num p.Faithfulness; num p.Kl ]) ])
                let drawable = curve.Points |> List.exists (fun p -> p.Fraction > 0.0 && not (Double.IsNaN p.Faithfulness))
                if drawable then
                    Plot.faithfulness $"{Path.GetFileName finalDir}: faithfulness against edges" [ "descent", curve ] (file "curve.png") (file "curve.svg")
                else log.Add "curve.png and curve.svg not written: no curve point has edges and a finite faithfulness"
                for name, v in figures do log.Add $"{name} {num v}"
                File.WriteAllLines(file "run.log", log))
            { Circuit = circuit; Scores = scores; Metrics = metrics; Curve = curve; OutDir = finalDir }
        finally
            for d in owned do d.Dispose()

    let run experiment onLog =
        use model = Checkpoint.Load experiment.ModelDir
        runOn model experiment onLog

    /// A MIB graph is told from a report by its top-level `cfg`, which `circuit.json` never has.
    let private isMib (path: string) (text: string) =
        try
            use doc = JsonDocument.Parse text
            let root = doc.RootElement
            let mutable cfg = Unchecked.defaultof<JsonElement>
            root.ValueKind = JsonValueKind.Object && root.TryGetProperty("cfg", &cfg)
        with :? JsonException as e -> failwith $"{path}: not JSON: {e.Message}"

    let private loadCircuit (modelDir: string) shape (path: string) =
        let text = try File.ReadAllText path with e -> failwith $"{path}: {e.Message}"
        if isMib path text then
            match CircuitJson.importMib shape text with
            | Ok (circuit, _) -> Mib, circuit
            | Error message -> failwith $"{path}: {message}"
        else
            match CircuitJson.readReport path with
            | Error message -> failwith message
            | Ok report ->
                let edges =
                    [ for name, _ in report.Edges do
                        match Edge.parse name with
                        | Ok es -> yield! es
                        | Error message -> failwith $"{path}: edge '{name}': {message}" ]
                match edges |> List.tryFind (Graph.contains shape >> not) with
                | Some e ->
                    let mlp = if shape.HasMlp then "with MLPs" else "attention only"
                    failwith $"{path}: edge '{Edge.name e}' is not in the graph of {modelDir} ({shape.Layers} layers, {shape.Heads} heads, {mlp}); was the circuit found on another model?"
                | None -> Report, Circuit.ofEdges shape edges

    let evaluateSaved modelDir circuitFile data ablation metric =
        use model = Checkpoint.Load modelDir
        let shape = Engine.shapeOf model
        let format, circuit = loadCircuit modelDir shape circuitFile
        let pairs = loadData model.Config.VocabSize data
        let metric = metric |> Option.defaultWith (fun () -> Metric.defaultFor pairs)
        use engine = engineFor model Granularity.Full ablation
        let owned = ResizeArray<IDisposable>()
        try
            // The figures are means over pairs, so the batch size changes only how much memory a pass takes.
            let evaluations = evaluationsOf engine metric (prepare engine 16 pairs owned)
            { Format = format; Circuit = circuit; Metric = Metric.name metric; Scores = scoreAll evaluations circuit }
        finally
            for d in owned do d.Dispose()
