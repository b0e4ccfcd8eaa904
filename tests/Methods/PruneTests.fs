module PatchDescent.Tests.Methods.PruneTests

open Expecto
open TorchSharp
open PatchDescent.Model
open PatchDescent.Search
open PatchDescent.Search.Methods
open PatchDescent.Tests.Methods.Setup

/// Sequential elimination as a plain loop over the logit difference computed from arrays (`Setup.LogitDiff`):
/// importance alone, then removal in ascending importance (ties by parameter) while |1 - faithfulness| <= 1 - floor.
let private plainElimination (s: Setup) floor =
    let n = s.Engine.ParamCount
    let full, empty = s.LogitDiff(Array.create n 1.0), s.LogitDiff(Array.zeroCreate n)
    let faithfulness c = (s.LogitDiff c - empty) / (full - empty)
    let without (c: float[]) i = Array.init n (fun j -> if j = i then 0.0 else c[j])
    let alone = Array.init n (fun i -> abs (1.0 - faithfulness (without (Array.create n 1.0) i)))
    let mutable current = Array.create n 1.0
    for i in Array.init n id |> Array.sortBy (fun i -> alone[i], i) do
        let trial = without current i
        if abs (1.0 - faithfulness trial) <= 1.0 - floor then current <- trial
    current, faithfulness current

let private keptParams (s: Setup) (r: Prune.PruneResult) =
    Circuit.coefficients s.Engine.Schedule r.Circuit

[<Tests>]
let tests =
    testList "Prune" [
        test "on the planted-dependency model a strict floor keeps exactly the planted path" {
            use model = plantedModel ()
            use s = new Setup({ Config = model.Config; Seed = 3; Granularity = Granularity.Full }, model)
            let r = Prune.run (1.0 - 1e-9) s.Engine s.Batches Loss.logitDiffMetric
            Expect.equal (set [ for e in Circuit.edges r.Circuit -> Edge.name e ]) (set planted) "kept edges"
            Expect.equal r.Trials (2 * s.Engine.ParamCount) "one trial alone and one in the elimination per parameter"
            let lowestKept = planted |> List.map (fun name -> r.Scores[Graph.edgeId s.Shape (List.exactlyOne (Result.defaultWith failwith (Edge.parse name)))]) |> List.min
            let removed = [ for id in 0 .. r.Scores.Length - 1 do if not (r.Circuit.Edges.Contains id) then r.Scores[id] ]
            Expect.isLessThan (List.max removed) lowestKept "every kept edge ranks above every removed one"
        }
        test "equals a plain-loop elimination on the logit difference computed from arrays" {
            let cases =
                [ for layers, heads, attnOnly in [ 1, 1, false; 2, 2, true; 2, 2, false; 1, 2, false ] do
                    for seed in [ 11; 12 ] ->
                        { Config = Gpt2Config(layers, heads, 8, 6, 13, 1e-5, attnOnly); Seed = seed; Granularity = Granularity.Full } ]
            for case in cases do
                use s = new Setup(case)
                let r = Prune.run 0.9 s.Engine s.Batches Loss.logitDiffMetric
                let expected, faithfulness = plainElimination s 0.9
                Expect.equal (keptParams s r) expected $"kept parameters, %A{case}"
                Expect.floatClose { absolute = 1e-9; relative = 1e-9 } r.Faithfulness faithfulness $"faithfulness, %A{case}"
                Expect.isLessThanOrEqual (abs (1.0 - r.Faithfulness)) 0.1 "within the floor"
        }
        test "at floor 1 elimination removes exactly the edges whose removal changes nothing: those of a head whose output projection is zero" {
            let config = Gpt2Config(2, 2, 8, 6, 13, 1e-5, true)
            use model = Gpt2.Random(config, 5, dtype = torch.ScalarType.Float64, std = 0.5)
            // Head a0.h1 then writes exactly 0 on clean and corrupted prompts alike, so none of its edges carries anything.
            using (torch.no_grad ()) (fun _ -> model.Blocks[0].WO[1L].zero_() |> ignore)
            use s = new Setup({ Config = config; Seed = 5; Granularity = Granularity.Full }, model)
            let r = Prune.run 1.0 s.Engine s.Batches Loss.logitDiffMetric
            let touchesDead (e: Edge) = e.Sender = Head(0, 1) || Receiver.node e.Receiver = Head(0, 1)
            let kept = Circuit.edges r.Circuit
            Expect.isFalse (kept |> List.exists touchesDead) "no edge of the silent head is kept"
            Expect.isNonEmpty kept "the edges that matter stay"
            Expect.equal r.Faithfulness 1.0 "nothing that changes the metric was removed"
        }
        test "a floor outside (0, 1] and a metric that ablation cannot move are refused, naming why" {
            use s = new Setup({ Config = Gpt2Config(1, 1, 8, 6, 13, 1e-5, true); Seed = 1; Granularity = Granularity.Full })
            for floor in [ 0.0; 1.5; nan ] do
                Expect.throwsC (fun () -> Prune.run floor s.Engine s.Batches Loss.logitDiffMetric |> ignore) (fun e ->
                    Expect.stringContains e.Message "(0, 1]" $"floor {floor}")
            let constant (_: LossInputs) = torch.tensor(2.0, dtype = torch.ScalarType.Float64)
            Expect.throwsC (fun () -> Prune.run 0.9 s.Engine s.Batches constant |> ignore) (fun e ->
                Expect.stringContains e.Message "m(full) = m(empty)" "says faithfulness is undefined")
        }
    ]
