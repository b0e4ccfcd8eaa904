module PatchDescent.Tests.DiscoveryTests

open System
open System.IO
open Expecto
open TorchSharp
open PatchDescent.Model
open PatchDescent.Search
open PatchDescent.Tests.Fixtures

/// The planted-path model of the training tests: attention-only, 2 layers of 2 heads, d_model 8, every W_O zeroed
/// except a1.h1's, so only input -> logits, a1.h1 -> logits and input -> a1.h1<q, k, v> carry anything.
let private plantedModel () =
    let c = Gpt2Config(2, 2, 8, 6, 13, 1e-5, true)
    let model = Gpt2.Random(c, 8, std = 1.0)
    use _ = torch.no_grad ()
    use scope = torch.NewDisposeScope()
    for l in 0 .. c.Layers - 1 do
        for h in 0 .. c.Heads - 1 do
            if (l, h) <> (1, 1) then model.Blocks[l].WO[int64 h].zero_() |> ignore
    model

/// Eight random pairs of five tokens, no wrong answers: two batches of four.
let private pairs =
    let rng = Random 8
    let row () = Array.init 5 (fun _ -> rng.Next 13)
    { Source = "planted"
      Pairs = Array.init 8 (fun _ -> { Clean = row (); Corrupted = row (); Answer = rng.Next 13; Wrong = None }) }

let private experiment outDir =
    let e = Experiment.defaults "planted-model" (Pairs pairs) outDir
    { e with
        BatchSize = 4
        Train = { e.Train with Steps = 300; Gate = Sigmoid; Sparsity = L1Penalty 0.1; LogEvery = 50 } }

let private edgeId shape name = Graph.edgeId shape (List.exactlyOne (Result.defaultWith failwith (Edge.parse name)))

let private planted = [ "input->logits"; "a1.h1->logits"; "input->a1.h1<q>"; "input->a1.h1<k>"; "input->a1.h1<v>" ]

/// Folders next to `outDir` whose name starts with its name: the folder itself and any temporary sibling.
let private traces (outDir: string) =
    Directory.GetDirectories(nonNull (Path.GetDirectoryName outDir), nonNull (Path.GetFileName outDir) + "*")

[<Tests>]
let tests =
    testList "Discovery" [
        test "a run writes every file: the report keeps the planted path, the MIB graph imports back, the curve has a row per level" {
            use tmp = new TempDir()
            use model = plantedModel ()
            let outDir = tmp.File "run"
            let logs = ResizeArray()
            let r = Discovery.runOn model (experiment outDir) logs.Add
            let shape = Engine.shapeOf model
            Expect.equal [ for l in logs -> l.Step ] [ 49; 99; 149; 199; 249; 299 ] "logged steps"
            for name in [ "circuit.json"; "graph.mib.json"; "circuit.dot"; "curve.csv"; "curve.png"; "curve.svg"; "run.log" ] do
                Expect.isTrue (File.Exists(Path.Combine(outDir, name))) name
            Expect.equal r.Circuit (Circuit.ofEdges shape [ for n in planted -> Graph.edge shape (edgeId shape n) ]) "threshold circuit"
            let report = Result.defaultWith failwith (CircuitJson.readReport (Path.Combine(outDir, "circuit.json")))
            Expect.equal (set [ for name, _ in report.Edges -> name ]) (set planted) "kept edges in circuit.json"
            Expect.equal report.Seed 1 "seed"
            Expect.equal report.Task "planted" "task"
            Expect.contains [ for name, _ in report.Hyperparameters -> name ] "sparsity" "hyperparameters"
            Expect.equal (List.find (fst >> (=) "edges") report.Metrics) ("edges", 5.0) "edges metric"
            let mib, scores = Result.defaultWith failwith (CircuitJson.importMib shape (File.ReadAllText(Path.Combine(outDir, "graph.mib.json"))))
            Expect.equal mib r.Circuit "MIB graph imports to the threshold circuit"
            Expect.equal scores (Some r.Scores) "every score round-trips"
            let csv = File.ReadAllLines(Path.Combine(outDir, "curve.csv"))
            Expect.equal csv[0] "level,k,edges,fraction,faithfulness,kl" "header"
            Expect.equal csv.Length (1 + Experiment.mibLevels.Length) "one row per level"
            let last = csv[csv.Length - 1].Split ','
            Expect.equal last[0] "1" "last level"
            Expect.equal (int last[1]) (Graph.edgeCount shape) "k of level 1"
            Expect.floatClose { absolute = 1e-6; relative = 0.0 } (float last[4]) 1.0 "faithfulness of the full circuit"
            Expect.equal (traces outDir) [| outDir |] "no temporary folder left"
            let runLog = File.ReadAllLines(Path.Combine(outDir, "run.log"))
            Expect.equal [ for l in runLog do if l.StartsWith "step " then l.Split(' ')[1] ] [ "49"; "99"; "149"; "199"; "249"; "299" ] "a line per step log"
            if not (File.Exists(Path.Combine(outDir, "circuit.svg"))) then
                let why = runLog |> Array.find (fun l -> l.StartsWith "circuit.svg not written")
                Expect.stringContains why (Path.Combine(outDir, "circuit.svg")) "names the final file"
        }
        test "a missing data file fails naming the file, and leaves neither the folder nor a temporary one" {
            use tmp = new TempDir()
            use model = plantedModel ()
            let outDir = tmp.File "run"
            let missing = tmp.File "missing.jsonl"
            let e = { experiment outDir with Data = JsonlFile missing }
            Expect.throwsC (fun () -> Discovery.runOn model e ignore |> ignore) (fun ex ->
                Expect.stringContains ex.Message missing "names the file")
            Expect.isEmpty (traces outDir) "nothing written"
        }
        test "a second run into the same folder replaces it whole" {
            use tmp = new TempDir()
            use model = plantedModel ()
            let outDir = tmp.File "run"
            let e = experiment outDir |> Experiment.withSteps 20
            Discovery.runOn model e ignore |> ignore
            File.WriteAllText(Path.Combine(outDir, "stale.txt"), "from before")
            let r = Discovery.runOn model { e with Levels = [ 0.5; 1.0 ] } ignore
            Expect.isFalse (File.Exists(Path.Combine(outDir, "stale.txt"))) "old contents gone"
            Expect.equal (File.ReadAllLines(Path.Combine(outDir, "curve.csv")).Length) 3 "the second run's curve"
            Expect.equal r.OutDir outDir "result names the folder"
            Expect.equal (traces outDir) [| outDir |] "no temporary or old folder left"
        }
        test "experiments print and compare structurally, and withSteps stretches the target schedule" {
            let a = Experiment.defaults "m" (JsonlFile "d.jsonl") "out"
            Expect.equal a (Experiment.defaults "m" (JsonlFile "d.jsonl") "out") "equal values"
            Expect.stringContains (sprintf "%A" a) "JsonlFile \"d.jsonl\"" "prints its data"
            match (Experiment.withSteps 600 a).Train.Sparsity with
            | TargetLagrangian (t, _) -> Expect.equal t.AnnealSteps 480 "80% of 600"
            | other -> failtest $"%A{other}"
        }
    ]
