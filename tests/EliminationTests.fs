module PatchDescent.Tests.EliminationTests

open System
open Expecto
open PatchDescent.Model
open PatchDescent.Search
open PatchDescent.Tests.Methods.Setup

/// The faithfulness of kept parameters from plain arrays (`Setup.LogitDiff`), with dangling edges pruned by a
/// reachability walk written here: an edge stays when its sender is reached from the input and its receiver reaches
/// the logits through kept edges.
let private plainFaithfulness (s: Setup) (kept: Set<int>) =
    let n = s.Engine.ParamCount
    let edges = Graph.edges s.Shape
    let source id = match s.Engine.Schedule.Source[id] with Param i -> Some i | Fixed _ -> None
    let inKept = [ for id in 0 .. edges.Length - 1 do match source id with Some i when kept.Contains i -> id | _ -> () ]
    let rec closure (seen: Set<Node>) step =
        let next = Set.union seen (Set.ofList (step seen))
        if next = seen then seen else closure next step
    let fromInput = closure (set [ Input ]) (fun seen -> [ for id in inKept do if seen.Contains edges[id].Sender then Receiver.node edges[id].Receiver ])
    let toLogits = closure (set [ Logits ]) (fun seen -> [ for id in inKept do if seen.Contains(Receiver.node edges[id].Receiver) then edges[id].Sender ])
    let live = [ for id in inKept do if fromInput.Contains edges[id].Sender && toLogits.Contains(Receiver.node edges[id].Receiver) then id ]
    let c = Array.zeroCreate n
    for id in live do c[Option.get (source id)] <- 1.0
    let full, empty = s.LogitDiff(Array.create n 1.0), s.LogitDiff(Array.zeroCreate n)
    (s.LogitDiff c - empty) / (full - empty)

let private cases =
    [ for layers, heads, attnOnly in [ 1, 2, false; 2, 2, false ] do
        for seed in [ 21; 22 ] -> { Config = Gpt2Config(layers, heads, 8, 6, 13, 1e-5, attnOnly); Seed = seed; Granularity = Granularity.Full } ]

/// A random half of the parameters, seeded.
let private someParameters n seed =
    let rng = Random seed
    Set.ofList [ for p in 0 .. n - 1 do if rng.NextDouble() < 0.5 then p ]

let private close = { absolute = 1e-9; relative = 1e-9 }

[<Tests>]
let tests =
    testList "Elimination" [
        test "a trial's faithfulness is the pruned circuit's, computed independently from arrays" {
            for case in cases do
                use s = new Setup(case)
                let o = Elimination.oracle s.Engine s.Batches Loss.logitDiffMetric
                for seed in 1 .. 3 do
                    let kept = someParameters s.Engine.ParamCount seed
                    Expect.floatClose close (Elimination.faithfulness o kept) (plainFaithfulness s kept) $"%A{case}, seed {seed}"
        }
        test "sequential elimination keeps a start within the floor within it, and its figure is the kept circuit's" {
            for case in cases do
                use s = new Setup(case)
                let o = Elimination.oracle s.Engine s.Batches Loss.logitDiffMetric
                let all = Elimination.parameters o
                let r = Elimination.sequential o 0.9 (List.ofSeq all) all Int32.MaxValue
                Expect.isLessThanOrEqual (abs (1.0 - r.Faithfulness)) 0.1 $"within the floor, %A{case}"
                Expect.floatClose close r.Faithfulness (plainFaithfulness s r.Kept) "the kept circuit's faithfulness"
                Expect.equal (Set.union r.Kept (Set.ofList r.Removed)) all "every parameter is kept or removed"
                Expect.isFalse r.Exhausted "no budget ran out"
                let bounded = Elimination.sequential o 0.9 (List.ofSeq all) all 3
                Expect.isTrue bounded.Exhausted "a budget of 3 trials stops it"
                Expect.equal bounded.Trials 3 "and it ran exactly 3"
        }
        test "sequential elimination from a start outside the floor keeps it whole after its one trial, leaving the budget" {
            let mutable seen = 0
            for case in cases do
                use s = new Setup(case)
                let o = Elimination.oracle s.Engine s.Batches Loss.logitDiffMetric
                for seed in 1 .. 6 do
                    let start = Elimination.pruned s.Engine.Schedule (someParameters s.Engine.ParamCount seed)
                    let f = plainFaithfulness s start
                    if abs (1.0 - f) > 0.1 then
                        seen <- seen + 1
                        let r = Elimination.sequential o 0.9 (List.ofSeq start) start 400
                        Expect.equal (r.Kept, r.Removed, r.Trials, r.Exhausted) (start, [], 1, false) $"%A{case}, seed {seed}"
                        Expect.floatClose close r.Faithfulness f "the start's faithfulness"
            Expect.isGreaterThan seen 3 "starts outside the floor were tried"
        }
        test "swaps never take the circuit further from the full model, nor make it larger" {
            for case in cases do
                use s = new Setup(case)
                let o = Elimination.oracle s.Engine s.Batches Loss.logitDiffMetric
                let n = s.Engine.ParamCount
                for seed in 1 .. 3 do
                    let kept = Elimination.pruned s.Engine.Schedule (someParameters n seed)
                    let pool = [ for p in 0 .. n - 1 do if not (kept.Contains p) then p ]
                    let r = Elimination.swaps o pool (List.ofSeq kept) kept Int32.MaxValue
                    let before = abs (1.0 - plainFaithfulness s kept)
                    Expect.isLessThanOrEqual (abs (1.0 - plainFaithfulness s r.Kept)) before $"%A{case}, seed {seed}"
                    Expect.isLessThanOrEqual r.Kept.Count kept.Count "no larger"
        }
        test "the greedy removals equal the exact greedy written as a plain loop, and stop at the target" {
            for case in cases do
                use s = new Setup(case)
                let o = Elimination.oracle s.Engine s.Batches Loss.logitDiffMetric
                let start = Elimination.parameters o
                let order = List.ofSeq start
                let r = Elimination.greedy o start.Count 3 order start Int32.MaxValue
                // The plain loop: try every kept parameter, remove the one leaving |1 - f| smallest, ties to the lower
                // parameter, prune, repeat.
                let mutable kept = Elimination.pruned s.Engine.Schedule start
                while kept.Count > 3 do
                    let p = kept |> Seq.minBy (fun p -> abs (1.0 - plainFaithfulness s (Set.remove p kept)), p)
                    kept <- Elimination.pruned s.Engine.Schedule (Set.remove p kept)
                Expect.equal r.Kept kept $"kept, %A{case}"
                Expect.isLessThanOrEqual r.Kept.Count 3 "at most the target"
        }
        test "nested selection: at every size the ranking's top k is at least as close as each order's first k within the size above" {
            for case in cases do
                use s = new Setup(case)
                let o = Elimination.oracle s.Engine s.Batches Loss.logitDiffMetric
                let n = s.Engine.ParamCount
                let rng = Random 5
                let orders = [ List.init n id; List.init n (fun i -> n - 1 - i); List.init n id |> List.sortBy (fun _ -> rng.Next()) ]
                for anchor in [ []; List.truncate 4 orders.Head ] do
                    let sizes = [ n / 2; n / 4; 3; 1 ]
                    let r = Elimination.nested o anchor sizes orders Int32.MaxValue
                    Expect.equal (List.sort r.BestFirst) (List.init n id) "every parameter once"
                    let top k = Set.ofList (List.truncate k r.BestFirst)
                    let held = Set.ofList anchor
                    let all = List.sortDescending (List.distinct (anchor.Length :: sizes))
                    for above, k in List.pairwise (n :: all) do
                        // The candidates as the contract states them, scored by the independent figure.
                        let within = top above
                        let firstK (order: int list) =
                            let inside = order |> List.filter within.Contains
                            if k >= held.Count then Set.union held (inside |> List.filter (held.Contains >> not) |> List.truncate (k - held.Count) |> Set.ofList)
                            else inside |> List.truncate k |> Set.ofList
                        let distance c = abs (1.0 - plainFaithfulness s c)
                        let best = orders |> List.map (firstK >> distance) |> List.min
                        Expect.isTrue (Set.isSubset (top k) within) $"nested at {k}, %A{case}"
                        if k >= held.Count then Expect.isTrue (Set.isSubset held (top k)) $"holds the anchor at {k}"
                        Expect.isLessThanOrEqual (distance (top k)) (best + 1e-12) $"at least as close as every candidate at {k}, %A{case}, anchor {anchor}"
                let none = Elimination.nested o [] [ n / 2 ] orders 0
                Expect.equal none.BestFirst orders.Head "with no budget, the first order"
                Expect.isTrue none.Exhausted "and it says the budget ran out"
        }
        test "ranking scores are distinct, positive and follow the order given" {
            use s = new Setup(List.head cases)
            let n = s.Engine.ParamCount
            let scores = Elimination.rankingScores s.Engine.Schedule [ 3; 1 ]
            Expect.equal (Array.distinct scores).Length n "distinct"
            Expect.isTrue (scores[3] > scores[1] && Array.forall (fun x -> x > 0.0 && x <= 1.0) scores) "3 then 1 first, all in (0, 1]"
            Expect.isTrue ([ for p in 0 .. n - 1 do if p <> 1 && p <> 3 then scores[p] ] |> List.forall (fun x -> x < scores[1])) "the unlisted after"
            Expect.throws (fun () -> Elimination.rankingScores s.Engine.Schedule [ 1; 1 ] |> ignore) "a repeat is refused"
        }
    ]
