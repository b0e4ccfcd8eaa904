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
      Pairs = Array.init 8 (fun _ -> { Clean = row (); Corrupted = row (); Answer = rng.Next 13; Wrong = None; Threshold = None }) }

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
            let clock = System.Diagnostics.Stopwatch.StartNew()
            let r = Discovery.runOn model (experiment outDir) logs.Add
            let wall = clock.Elapsed.TotalSeconds
            let shape = Engine.shapeOf model
            Expect.equal [ for l in logs -> l.Step ] [ 49; 99; 149; 199; 249; 299 ] "logged steps"
            for name in [ "circuit.json"; "graph.mib.json"; "circuit.dot"; "circuit.svg"; "circuit.png"; "report.html"; "curve.csv"; "curve.png"; "curve.svg"; "run.log" ] do
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
            Expect.equal scores (Some r.Ranking) "every ranking score round-trips"
            let csv = File.ReadAllLines(Path.Combine(outDir, "curve.csv"))
            Expect.equal csv[0] "level,k,edges,fraction,faithfulness,kl,source,step" "header"
            Expect.equal csv.Length (1 + Experiment.mibLevels.Length) "one row per level"
            let last = csv[csv.Length - 1].Split ','
            Expect.equal last[0] "1" "last level"
            Expect.equal (int last[1]) (Graph.edgeCount shape) "k of level 1"
            Expect.floatClose { absolute = 1e-6; relative = 0.0 } (float last[4]) 1.0 "faithfulness of the full circuit"
            Expect.equal last[6..] [| "ranking"; "300" |] "every level from the one ranking, after the last step"
            Expect.equal (traces outDir) [| outDir |] "no temporary folder left"
            let runLog = File.ReadAllLines(Path.Combine(outDir, "run.log"))
            Expect.equal [ for l in runLog do if l.StartsWith "step " then l.Split(' ')[1] ] [ "49"; "99"; "149"; "199"; "249"; "299" ] "a line per step log"
            // The time line names every phase of the run once, in order, and its seconds add up to no more than the
            // run took by this test's clock.
            let time = runLog |> Array.find (fun l -> l.StartsWith "time: ")
            let phases = [ for m in Text.RegularExpressions.Regex.Matches(time, @"([a-z' ()0-9-]+?) (\d+\.\d) s(, |$)") -> m.Groups[1].Value.Trim(), float m.Groups[2].Value ]
            Expect.equal (List.map fst phases)
                [ "data"; "corrupted runs and full-model targets"; "training"; "refinement"; "ranking"; $"curve ({Experiment.mibLevels.Length} circuits)"; "the circuit's figures" ]
                $"the phases of {time}"
            Expect.isLessThanOrEqual (List.sumBy snd phases) (wall + 0.05 * float phases.Length) "the phases fit in the run's wall time"
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
        test "pairs holding a token outside the model's vocabulary fail naming the data and the pair, and write nothing" {
            use tmp = new TempDir()
            use model = plantedModel ()
            let outDir = tmp.File "run"
            let bad = { pairs with Pairs = pairs.Pairs |> Array.mapi (fun i p -> if i = 2 then { p with Corrupted = Array.append p.Corrupted[.. 3] [| 13 |] } else p) }
            Expect.throwsC (fun () -> Discovery.runOn model { experiment outDir with Data = Pairs bad } ignore |> ignore) (fun ex ->
                Expect.stringContains ex.Message "planted: pair 3 holds token id 13, outside the model's vocabulary [0, 13)" "names the data, the pair and the vocabulary")
            Expect.isEmpty (traces outDir) "nothing written"
        }
        test "a second run into the same folder replaces the first run's files and keeps the user's" {
            use tmp = new TempDir()
            use model = plantedModel ()
            let outDir = tmp.File "run"
            let e = experiment outDir |> Experiment.withSteps 20
            Discovery.runOn model e ignore |> ignore
            // A file the first run's mark lists but the second run does not write, as an older version's would be.
            let mark = Path.Combine(outDir, OutputFolder.MarkFile)
            File.WriteAllText(mark, File.ReadAllText(mark).Replace("\"run.log\"", "\"run.log\", \"stale.txt\""))
            File.WriteAllText(Path.Combine(outDir, "stale.txt"), "from before")
            File.WriteAllText(Path.Combine(outDir, "notes.txt"), "the user's")
            let r = Discovery.runOn model { e with Levels = [ 0.5; 1.0 ] } ignore
            Expect.isFalse (File.Exists(Path.Combine(outDir, "stale.txt"))) "the first run's files gone"
            Expect.equal (File.ReadAllText(Path.Combine(outDir, "notes.txt"))) "the user's" "the user's file kept as it was"
            Expect.equal (File.ReadAllLines(Path.Combine(outDir, "curve.csv")).Length) 3 "the second run's curve"
            Expect.equal r.OutDir outDir "result names the folder"
            Expect.equal (traces outDir) [| outDir |] "no temporary or old folder left"
        }
        test "every baseline runs through the same pipeline: circuit.json names the method and its settings" {
            use tmp = new TempDir()
            use model = plantedModel ()
            let shape = Engine.shapeOf model
            let plantedCircuit = Circuit.ofEdges shape [ for n in planted -> Graph.edge shape (edgeId shape n) ]
            for method, settings in [ Eap, [ "circuit" ]; EapIg 4, [ "ig_steps"; "circuit" ]; Acdc 1e-4, [ "acdc_tau"; "acdc_trials"; "circuit" ] ] do
                let outDir = tmp.File(Method.name method)
                let r = Discovery.runOn model { experiment outDir with Method = method } ignore
                let report = Result.defaultWith failwith (CircuitJson.readReport (Path.Combine(outDir, "circuit.json")))
                let names = [ for name, _ in report.Hyperparameters -> name ]
                Expect.equal (List.find (fst >> (=) "method") report.Hyperparameters) ("method", Method.name method) "method recorded"
                for name in settings do Expect.contains names name $"{Method.name method} records {name}"
                Expect.isFalse (List.contains "sparsity" names) "no training settings for a baseline"
                Expect.equal (File.ReadAllLines(Path.Combine(outDir, "curve.csv")).Length) (1 + Experiment.mibLevels.Length) "a curve row per level"
                match method with
                | Acdc _ -> Expect.equal r.Circuit plantedCircuit "ACDC keeps the planted path"
                | _ ->
                    Expect.isGreaterThanOrEqual r.Metrics.Faithfulness 0.85 $"{Method.name method}'s circuit reaches the bar"
                    Expect.isTrue (Set.isSubset r.Circuit.Edges plantedCircuit.Edges) "only planted edges carry attribution"
        }
        test "experiments print and compare structurally, and withSteps stretches the target schedule" {
            let a = Experiment.defaults "m" (JsonlFile "d.jsonl") "out"
            Expect.equal a (Experiment.defaults "m" (JsonlFile "d.jsonl") "out") "equal values"
            Expect.stringContains (sprintf "%A" a) "JsonlFile \"d.jsonl\"" "prints its data"
            match (Experiment.withSteps 600 a).Train.Sparsity with
            | TargetLagrangian (t, _) -> Expect.equal t.AnnealSteps 480 "80% of 600"
            | other -> failtest $"%A{other}"
        }
        test "the curve's circuits are nested, each the pruned top k of graph.mib.json's scores, and evaluate reproduces each from that file" {
            use tmp = new TempDir()
            use model = plantedModel ()
            let modelDir = tmp.File "model"
            Checkpoint.Save(model, modelDir)
            let e = { Experiment.defaults modelDir (Pairs pairs) (tmp.File "run") with BatchSize = 4 } |> Experiment.withSteps 100
            let r = Discovery.run e ignore
            let shape = r.Circuit.Shape
            let _, exported = Result.defaultWith failwith (CircuitJson.importMib shape (File.ReadAllText(Path.Combine(e.OutDir, "graph.mib.json"))))
            let scores = Option.get exported
            Expect.equal (Array.distinct scores).Length scores.Length "no two edges tie"
            let rows = File.ReadAllLines(Path.Combine(e.OutDir, "curve.csv"))[1..] |> Array.map (fun l -> l.Split ',')
            let circuits = [ for row in rows -> Extract.prune (Extract.topK shape scores (int row[1])) ]
            Expect.equal circuits r.CurveCircuits "each level's circuit is the pruned top k of the exported scores"
            for a, b in List.pairwise circuits do Expect.isTrue (Set.isSubset a.Edges b.Edges) "nested"
            for row, c in Seq.zip rows circuits do
                let file = tmp.File $"level-{row[0]}.json"
                File.WriteAllText(file, CircuitJson.exportMib 8 c None)
                let saved = Discovery.evaluateSaved modelDir file (Pairs pairs) AblationChoice.Patching None Compute.auto
                if c.Edges.IsEmpty then Expect.equal saved.Scores.Faithfulness 0.0 $"level {row[0]}, empty"
                else Expect.floatClose { absolute = 1e-5; relative = 1e-5 } saved.Scores.Faithfulness (float row[4]) $"level {row[0]}"
            let own = Extract.prune (Extract.topK shape scores r.Circuit.Edges.Count)
            Expect.equal own r.Circuit "the run's circuit is the pruned top of the same scores"
        }
        test "--target-edges K keeps at most K edges, the pruned top K of the ranking, on random models" {
            use tmp = new TempDir()
            for layers, attnOnly, seed in [ 1, false, 31; 2, true, 32; 2, false, 33 ] do
                use model = Gpt2.Random(Gpt2Config(layers, 2, 8, 6, 13, 1e-5, attnOnly), seed, std = 1.0)
                let n = Graph.edgeCount (Engine.shapeOf model)
                for k in [ 1; n / 4; n / 2 ] do
                    let e = { Experiment.defaults "random" (Pairs pairs) (tmp.File $"t-{seed}-{k}") with BatchSize = 4; TargetEdges = Some k } |> Experiment.withSteps 40
                    let r = Discovery.runOn model e ignore
                    Expect.isLessThanOrEqual r.Circuit.Edges.Count k $"{layers} layers, seed {seed}, K {k}"
                    Expect.equal r.Circuit (Extract.prune (Extract.topK r.Circuit.Shape r.Ranking k)) "the pruned top K"
        }
        test "refinement keeps descent's circuit within the floor, and swaps never take it further from the full model" {
            use tmp = new TempDir()
            use model = Gpt2.Random(Gpt2Config(2, 2, 8, 6, 13, 1e-5, false), 34, std = 1.0)
            let run refine name =
                Discovery.runOn model ({ Experiment.defaults "random" (Pairs pairs) (tmp.File name) with BatchSize = 4; Refine = refine } |> Experiment.withSteps 60) ignore
            let none, pruned, swapped = run NoRefinement "none", run (PruneRefinement 0.9) "prune", run (SwapRefinement 0.9) "swap"
            let distance (r: DiscoveryResult) = abs (1.0 - r.Metrics.Faithfulness)
            if distance none <= 0.1 then Expect.isLessThanOrEqual (distance pruned) 0.1 "elimination stays within the floor"
            Expect.isTrue (Set.isSubset pruned.Circuit.Edges none.Circuit.Edges) "elimination only removes descent's candidates"
            Expect.isLessThanOrEqual (distance swapped) (distance pruned + 1e-12) "swaps only move closer"
            Expect.isLessThanOrEqual swapped.Circuit.Edges.Count pruned.Circuit.Edges.Count "and add no edge"
        }
        test "per-point runs train once per level with the target at that level: a level's circuit is the one a run annealing to it ends with" {
            use tmp = new TempDir()
            use model = plantedModel ()
            let anneal (e: Experiment) = { e with Train = { e.Train with Gate = Gate.hardConcrete; Sparsity = Experiment.annealedTarget 40 } }
            let e = { anneal (experiment (tmp.File "points") |> Experiment.withSteps 40) with Levels = [ 0.3; 1.0 ]; CurveMode = PerPointRuns }
            let r = Discovery.runOn model e ignore
            let csv = File.ReadAllLines(Path.Combine(tmp.File "points", "curve.csv"))
            Expect.equal [ for l in csv[1..] -> l.Split(',')[6] ] [ "run"; "run" ] "sources"
            Expect.exists (File.ReadAllLines(Path.Combine(tmp.File "points", "run.log"))) (fun l -> l.StartsWith "curve: one training per level") "run.log says so"
            // The main training of an experiment whose target ends at 1 - 0.3 is the per-point run of level 0.3.
            let single =
                match e.Train.Sparsity with
                | TargetLagrangian (t, rate) -> { e with Train = { e.Train with Sparsity = TargetLagrangian({ t with End = 0.7 }, rate) }; CurveMode = FromAnneal; OutDir = tmp.File "single" }
                | other -> failtest $"%A{other}"
            let s = Discovery.runOn model single ignore
            let k = int (round (0.3 * float (Graph.edgeCount s.Circuit.Shape)))
            Expect.equal r.CurveCircuits.[0] (Extract.prune (Extract.topK s.Circuit.Shape s.Scores k)) "level 0.3"
            let l1 = { e with Train = { e.Train with Sparsity = L1Penalty 0.1 }; OutDir = tmp.File "l1" }
            Expect.throwsC (fun () -> Discovery.runOn model l1 ignore |> ignore) (fun ex ->
                Expect.stringContains ex.Message "PerPointRuns needs a target-sparsity Lagrangian" "names the setting")
        }
        test "a run stopped mid-way resumes from OUT.checkpoint to the files of an uninterrupted run, and the checkpoints go once it succeeds" {
            use tmp = new TempDir()
            use model = plantedModel ()
            let e outDir =
                let e = experiment outDir |> Experiment.withSteps 40
                { e with Train = { e.Train with Gate = Gate.hardConcrete; Sparsity = Experiment.annealedTarget 40; LogEvery = 5 } }
            let whole = Discovery.runOn model (e (tmp.File "whole")) ignore
            let outDir = tmp.File "run"
            let checkpointed = { e outDir with Checkpoint = Some { Every = 10; Resume = false } }
            let stop (l: StepLog) = if l.Step = 24 then failwith "stopped"
            Expect.throwsC (fun () -> Discovery.runOn model checkpointed stop |> ignore) (fun ex -> Expect.equal ex.Message "stopped" "stopped")
            Expect.isFalse (Directory.Exists outDir) "no output yet"
            Expect.isTrue (File.Exists(Path.Combine(Discovery.checkpointDir outDir, "train.safetensors"))) "the checkpoint stays"
            let otherAblation = { checkpointed with Ablation = AblationChoice.Zero; Checkpoint = Some { Every = 10; Resume = true } }
            Expect.throwsC (fun () -> Discovery.runOn model otherAblation ignore |> ignore) (fun ex ->
                Expect.stringContains ex.Message "ablation is patching there and zero here" "refused, naming the difference")
            let resumed = Discovery.runOn model { checkpointed with Checkpoint = Some { Every = 10; Resume = true } } ignore
            Expect.equal resumed.Scores whole.Scores "scores"
            for f in [ "circuit.json"; "curve.csv"; "graph.mib.json" ] do
                Expect.equal (File.ReadAllText(Path.Combine(outDir, f))) (File.ReadAllText(Path.Combine(tmp.File "whole", f))) f
            Expect.stringStarts (File.ReadAllLines(Path.Combine(outDir, "run.log"))[0]) "resumed from" "run.log says it resumed"
            Expect.isFalse (Directory.Exists(Discovery.checkpointDir outDir)) "checkpoints removed after success"
            Expect.throwsC (fun () -> Discovery.runOn model { checkpointed with Checkpoint = Some { Every = 10; Resume = true } } ignore |> ignore) (fun ex ->
                Expect.stringContains ex.Message (Discovery.checkpointDir outDir) "nothing to resume names the folder")
        }
        test "a resume on a data file whose prompts, answers or wrong answers changed is refused, naming what differs" {
            use tmp = new TempDir()
            use model = plantedModel ()
            let file = tmp.File "pairs.jsonl"
            Dataset.write file pairs
            let outDir = tmp.File "run"
            let e = { (experiment outDir |> Experiment.withSteps 20) with Data = JsonlFile file; Checkpoint = Some { Every = 5; Resume = false } }
            let stop (l: StepLog) = if l.Step = 12 then failwith "stopped"
            Expect.throwsC (fun () -> Discovery.runOn model { e with Train = { e.Train with LogEvery = 1 } } stop |> ignore) (fun ex -> Expect.equal ex.Message "stopped" "stopped")
            let resume = { e with Train = { e.Train with LogEvery = 1 }; Checkpoint = Some { Every = 5; Resume = true } }
            let refusedFor (changed: PairDataset) (what: string) =
                Dataset.write file changed
                Expect.throwsC (fun () -> Discovery.runOn model resume ignore |> ignore) (fun ex ->
                    Expect.stringContains ex.Message $"{what} is " $"names {what}")
            let first = pairs.Pairs[0]
            let swapped = { first with Clean = first.Clean |> Array.mapi (fun i t -> if i = 2 then (t + 1) % 13 else t) }
            refusedFor { pairs with Pairs = Array.append [| swapped |] pairs.Pairs[1..] } "data.token_ids"
            refusedFor { pairs with Pairs = Array.append [| { first with Answer = (first.Answer + 1) % 13 } |] pairs.Pairs[1..] } "data.answers"
            refusedFor { pairs with Pairs = pairs.Pairs |> Array.map (fun p -> { p with Wrong = Some 0 }) } "data.metric_fields"
            Dataset.write file pairs
            Discovery.runOn model resume ignore |> ignore
            Expect.isTrue (File.Exists(Path.Combine(outDir, "circuit.json"))) "the same data resumes"
        }
        test "when clean and corrupted prompts agree, m(full) = m(empty): the faithfulness is flagged meaningless in the result, circuit.json and run.log" {
            use tmp = new TempDir()
            use model = plantedModel ()
            let same = { pairs with Pairs = [| for p in pairs.Pairs -> { p with Corrupted = p.Clean } |] }
            let outDir = tmp.File "run"
            let r = Discovery.runOn model { (experiment outDir |> Experiment.withSteps 5) with Data = Pairs same } ignore
            Expect.equal r.Metrics.Full r.Metrics.Empty "nothing to ablate"
            Expect.hasLength r.Warnings 1 "one warning"
            Expect.stringContains r.Warnings.Head "meaningless" "says why"
            let report = Result.defaultWith failwith (CircuitJson.readReport (Path.Combine(outDir, "circuit.json")))
            Expect.equal report.Warnings r.Warnings "in circuit.json"
            Expect.contains (File.ReadAllLines(Path.Combine(outDir, "run.log"))) $"warning: {r.Warnings.Head}" "in run.log"
            let normal = Discovery.runOn model (experiment (tmp.File "normal") |> Experiment.withSteps 5) ignore
            Expect.isEmpty normal.Warnings "different prompts: no warning"
        }
        test "target edges set the target's end: the expected kept edges settle at that count" {
            use tmp = new TempDir()
            use model = plantedModel ()
            let e = experiment (tmp.File "run") |> Experiment.withSteps 300
            let e = { e with Train = { e.Train with Gate = Gate.hardConcrete; Sparsity = Experiment.annealedTarget 300; LogEvery = 50 }; TargetEdges = Some 6 }
            let logs = ResizeArray<StepLog>()
            Discovery.runOn model e logs.Add |> ignore
            Expect.floatClose { absolute = 1.0; relative = 0.0 } logs[logs.Count - 1].ExpectedKeptEdges 6.0 "6 edges expected kept at the end"
            let edges = Graph.edgeCount (Engine.shapeOf model)
            Expect.throwsC (fun () -> Discovery.runOn model { e with TargetEdges = Some (edges + 1) } ignore |> ignore) (fun ex ->
                Expect.stringContains ex.Message $"target edges (--target-edges) {edges + 1} is outside 1 .. {edges}" "range")
            Expect.throwsC (fun () -> Discovery.runOn model { e with TargetEdges = Some 0 } ignore |> ignore) (fun ex ->
                Expect.stringContains ex.Message "target edges (--target-edges) 0 is outside 1 .. " "no edge is no circuit")
        }
        test "a missing mean reference or an unreadable checkpoint fails naming the file, and writes no output" {
            use tmp = new TempDir()
            use model = plantedModel ()
            let outDir = tmp.File "run"
            let missing = tmp.File "reference.jsonl"
            let e = { (experiment outDir |> Experiment.withSteps 5) with Ablation = AblationChoice.Mean(Some(JsonlFile missing)) }
            Expect.throwsC (fun () -> Discovery.runOn model e ignore |> ignore) (fun ex -> Expect.stringContains ex.Message missing "names the reference")
            let checkpoint = Path.Combine(Discovery.checkpointDir outDir, "train.safetensors")
            Directory.CreateDirectory(Discovery.checkpointDir outDir) |> ignore
            File.WriteAllText(checkpoint, "not a checkpoint")
            let resume = { (experiment outDir |> Experiment.withSteps 5) with Checkpoint = Some { Every = 2; Resume = true } }
            Expect.throwsC (fun () -> Discovery.runOn model resume ignore |> ignore) (fun ex ->
                Expect.stringContains ex.Message $"{checkpoint}: cannot read the checkpoint to resume from" "names the checkpoint")
            Expect.equal (traces outDir) [| Discovery.checkpointDir outDir |] "no output folder; the checkpoint is left for the user"
        }
        test "per-point runs, target edges and checkpoints belong to training: with another method they are refused, naming them" {
            use tmp = new TempDir()
            use model = plantedModel ()
            let e = { experiment (tmp.File "run") with Method = Eap; CurveMode = PerPointRuns; Checkpoint = Some { Every = 5; Resume = false } }
            Expect.throwsC (fun () -> Discovery.runOn model e ignore |> ignore) (fun ex ->
                Expect.stringContains ex.Message "PerPointRuns, Checkpoint apply to training, that is to the descent method only, not to eap" "message")
            Expect.isEmpty (traces (tmp.File "run")) "nothing written"
        }
    ]
