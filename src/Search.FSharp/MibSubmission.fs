namespace PatchDescent.Search

open System
open System.IO
open System.Text.Json

type MibFile = { Path: string; Text: string; Run: string; Method: string; Ablation: string; Task: string; Model: string; Edges: int }

module MibSubmission =
    let tasks = [ "ioi"; "mcqa"; "arithmetic-addition"; "arithmetic-subtraction"; "arc-easy"; "arc-challenge" ]

    // MIB_circuit_track/utils.py's models: gpt2-small, Qwen2.5-0.5B, Gemma-2-2B, Llama-3.1-8B.
    let models = [ "gpt2", (12, 12, 768); "qwen2.5", (24, 14, 896); "gemma2", (26, 8, 2304); "llama3", (32, 32, 4096) ]

    let private describe (layers, heads, dModel) = $"{layers} layers, {heads} heads, d_model {dModel}"

    /// Why a folder cannot be exported; `files` turns it into its Error.
    exception private Refused of string
    let private fail message = raise (Refused message)

    let private readText (path: string) =
        if not (File.Exists path) then
            fail $"{path}: missing; export-mib needs a finished run's circuit.json (task, method, ablation) and graph.mib.json (every edge's score)"
        File.ReadAllText path

    /// n_layers, n_heads and d_model of graph.mib.json's cfg.
    let private shapeOf (path: string) (text: string) =
        use doc = try JsonDocument.Parse text with :? JsonException as e -> fail $"{path}: not JSON: {e.Message}"
        match doc.RootElement.TryGetProperty "cfg" with
        | true, cfg ->
            let number (name: string) =
                match cfg.TryGetProperty name with
                | true, v when v.ValueKind = JsonValueKind.Number -> v.GetInt32()
                | _ -> fail $"{path}: cfg has no number {name}; a graph.mib.json written before it recorded d_model needs its run again"
            number "n_layers", number "n_heads", number "d_model"
        | _ -> fail $"{path}: no cfg; MIB's graph JSON is {{\"cfg\": ..., \"nodes\": ..., \"edges\": ...}}"

    let private setting (report: CircuitReport) (path: string) name =
        match List.tryFind (fst >> (=) name) report.Hyperparameters with
        | Some (_, v) -> v
        | None -> fail $"{path}: hyperparameters has no \"{name}\""

    /// The ablation as MIB names it; the report prints the `AblationChoice` (`Patching`, `Mean None`, `Zero`).
    let private ablationName (path: string) (printed: string) =
        match printed.Split(' ').[0].ToLowerInvariant() with
        | "patching" | "mean" | "zero" as name -> name
        | _ -> fail $"{path}: the ablation {printed} is none of MIB's (patching, mean, zero)"

    let private taskOf (path: string) (report: CircuitReport) (taskName: string option) =
        let known = String.Join(", ", tasks)
        match taskName with
        | Some t when List.contains t tasks -> t
        | Some t -> fail $"--task-name {t} is none of MIB's tasks: {known}"
        | None when report.Task.StartsWith "ioi (" -> "ioi"
        | None -> fail $"{path}: the task \"{report.Task}\" is none of MIB's; if these pairs are one of its tasks ({known}), say which with --task-name"

    let private runFile (dir: string) (taskName: string option) =
        let reportPath, graphPath = Path.Combine(dir, "circuit.json"), Path.Combine(dir, "graph.mib.json")
        readText reportPath |> ignore
        let graph = readText graphPath
        let report = match CircuitJson.readReport reportPath with Ok r -> r | Error e -> fail e
        let layers, heads, dModel = shapeOf graphPath graph
        let model =
            match models |> List.tryFind (fun (_, s) -> s = (layers, heads, dModel)) with
            | Some (name, _) -> name
            | None ->
                let known = String.Join("; ", [ for name, s in models -> $"{name}: {describe s}" ])
                fail $"{graphPath}: the graph has {describe (layers, heads, dModel)}, the shape of none of MIB's models ({known})"
        let shape = { Layers = layers; Heads = heads; HasMlp = true }
        if not (graph.Contains "->m0\"") then
            fail $"{graphPath}: the graph has no MLP edges (an attention-only model); MIB's models all have MLPs"
        let scores =
            match CircuitJson.importMib shape graph with
            | Error e -> fail $"{graphPath}: {e}"
            | Ok (_, None) -> fail $"{graphPath}: not every edge of MIB's graph (with MLPs) has a score; MIB's models all have MLPs, and the submission ranks every edge"
            | Ok (_, Some scores) -> scores
        let task = taskOf reportPath report taskName
        let method = setting report reportPath "method"
        let ablation = ablationName reportPath (setting report reportPath "ablation")
        // No edge is marked in the graph: MIB's evaluation cuts the scores itself at each of its budgets.
        let circuit = { Shape = shape; Edges = Set.empty }
        { Path = Path.Combine($"{method}_{ablation}_edge", $"{task}_{model}", "importances.json")
          Text = CircuitJson.exportMib dModel circuit (Some scores)
          Run = dir; Method = method; Ablation = ablation; Task = task; Model = model; Edges = scores.Length }

    let files (runDir: string) (taskName: string option) =
        try
            let comparison = Path.Combine(runDir, "comparison.csv")
            if not (Directory.Exists runDir) then fail $"{runDir}: no such folder; --run takes a discover or compare output folder"
            if File.Exists(Path.Combine(runDir, "stability.csv")) then
                fail $"{runDir}: a seed sweep holds one run per seed; export one seed's folder ({runDir}/seed-N)"
            if File.Exists comparison then
                let rows = File.ReadAllLines comparison |> Array.skip 1 |> Array.filter (String.IsNullOrWhiteSpace >> not)
                if rows.Length = 0 then fail $"{comparison}: no method rows"
                Ok [ for row in rows -> runFile (Path.Combine(runDir, row.Split(',').[0])) taskName ]
            else Ok [ runFile runDir taskName ]
        with Refused message -> Error message
