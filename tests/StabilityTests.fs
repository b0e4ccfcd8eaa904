module PatchDescent.Tests.StabilityTests

open Expecto
open PatchDescent.Search

let private shape = { Layers = 1; Heads = 1; HasMlp = false }

let private circuit ids = { Shape = shape; Edges = Set.ofList ids }

[<Tests>]
let tests =
    testList "Stability" [
        test "jaccard is the shared edges over all edges of either set" {
            Expect.equal (Stability.jaccard (set [ 1; 2; 3 ]) (set [ 2; 3; 4; 5 ])) (2.0 / 5.0) "2 shared of 5"
            Expect.equal (Stability.jaccard (set [ 1; 2 ]) (set [ 1; 2 ])) 1.0 "equal sets"
            Expect.equal (Stability.jaccard (set [ 1 ]) (set [ 2 ])) 0.0 "disjoint sets"
            Expect.equal (Stability.jaccard Set.empty (set [ 2 ])) 0.0 "one empty set"
        }
        test "two empty circuits overlap entirely" {
            Expect.equal (Stability.jaccard Set.empty Set.empty) 1.0 "empty-empty"
        }
        test "overlaps compares every pair of seeds in order at each level, and the mean of the pairs" {
            let runs =
                [ 1, [ circuit [ 0 ]; circuit [ 0; 1; 2 ] ]
                  2, [ circuit [ 0 ]; circuit [ 1; 2; 3 ] ]
                  5, [ circuit [ 1 ]; circuit [ 0; 1 ] ] ]
            let levels = Stability.overlaps [ 0.1; 0.5 ] runs
            Expect.equal [ for l in levels -> l.Level, l.Pairs ]
                [ 0.1, [ 1, 2, 1.0; 1, 5, 0.0; 2, 5, 0.0 ]
                  0.5, [ 1, 2, 2.0 / 4.0; 1, 5, 2.0 / 3.0; 2, 5, 1.0 / 4.0 ] ] "pairs"
            Expect.floatClose Accuracy.veryHigh levels[0].Mean (1.0 / 3.0) "mean at 0.1"
            Expect.floatClose Accuracy.veryHigh levels[1].Mean ((0.5 + 2.0 / 3.0 + 0.25) / 3.0) "mean at 0.5"
        }
        test "overlaps needs two runs and one circuit per level" {
            Expect.throwsT<System.ArgumentException> (fun () -> Stability.overlaps [ 0.1 ] [ 1, [ circuit [] ] ] |> ignore) "one run"
            Expect.throwsT<System.ArgumentException>
                (fun () -> Stability.overlaps [ 0.1; 0.2 ] [ 1, [ circuit [] ]; 2, [ circuit []; circuit [] ] ] |> ignore) "short run"
        }
        test "csv writes a header, each pair, and a mean row per level" {
            let levels = [ { Level = 0.5; Pairs = [ 1, 2, 0.25; 1, 3, 0.75 ]; Mean = 0.5 } ]
            Expect.equal (Stability.csv levels) [ "level,seed_a,seed_b,jaccard"; "0.5,1,2,0.25"; "0.5,1,3,0.75"; "0.5,mean,mean,0.5" ] "lines"
        }
    ]
