module PatchDescent.Tests.CircuitTests

open Expecto
open FsCheck
open FsCheck.FSharp
open PatchDescent.Search

let private resolve (s: Schedule) =
    match Schedule.resolve s with
    | Ok r -> r
    | Error e -> failwith e

/// A shape and a random subset of its edges, each edge kept with a probability drawn per case.
let circuits =
    gen {
        let! layers = Gen.choose (1, 3)
        let! heads = Gen.choose (1, 3)
        let! hasMlp = Gen.elements [ true; false ]
        let! seed = Gen.choose (0, 1_000_000)
        let! percent = Gen.elements [ 5; 20; 50; 80; 100 ]
        let shape = { Layers = layers; Heads = heads; HasMlp = hasMlp }
        let rng = System.Random seed
        return { Shape = shape; Edges = Set.ofSeq (seq { for id in 0 .. Graph.edgeCount shape - 1 do if rng.Next 100 < percent then id }) }
    }
    |> Arb.fromGen

/// A random circuit, and either no scores or one per edge: signed, of several magnitudes, some exactly 0.
let scoredCircuits =
    gen {
        let! circuit = circuits.Generator
        let! withScores = Gen.elements [ true; false ]
        let! seed = Gen.choose (0, 1_000_000)
        let rng = System.Random seed
        let score () = if rng.Next 10 = 0 then 0.0 else (rng.NextDouble() * 2.0 - 1.0) * 10.0 ** float (rng.Next(-8, 8))
        let scores = if withScores then Some(Array.init (Graph.edgeCount circuit.Shape) (fun _ -> score ())) else None
        return circuit, scores
    }
    |> Arb.fromGen

let private shape = { Layers = 2; Heads = 2; HasMlp = true }
let private edge s r = { Sender = s; Receiver = r }

[<Tests>]
let tests =
    testList "Circuit" [
        testProperty "on a learnAll schedule the coefficients are exactly each edge's membership" <|
            Prop.forAll circuits (fun c ->
                let values = Circuit.coefficients (resolve (Schedule.learnAll c.Shape)) c
                values = Array.init (Graph.edgeCount c.Shape) (fun id -> if c.Edges.Contains id then 1.0 else 0.0))
        test "on the Heads schedule one q edge switches on its tied q/k/v parameter and nothing else" {
            let schedule = resolve (Schedule.heads shape)
            let circuit = Circuit.ofEdges shape [ edge (Head(0, 1)) (HeadIn(1, 0, Q)) ]
            let on = Circuit.coefficients schedule circuit |> Array.indexed |> Array.filter (snd >> (=) 1.0) |> Array.map fst
            Expect.equal [ for i in on -> schedule.ParamNames[i] ] [ "a0.h1->a1.h0" ] "parameters at 1"
        }
        test "edges the Heads schedule fixes switch on no parameter" {
            let schedule = resolve (Schedule.heads shape)
            let circuit = Circuit.ofEdges shape [ edge (Mlp 0) LogitsIn; edge Input (MlpIn 1) ]
            Expect.equal (Circuit.coefficients schedule circuit) (Array.zeroCreate schedule.ParamCount) "all 0"
        }
        test "a circuit's nodes are the ends of its edges, receivers as their nodes" {
            let circuit = Circuit.ofEdges shape [ edge Input (HeadIn(0, 1, V)); edge (Head(0, 1)) (MlpIn 1) ]
            Expect.equal (Circuit.nodes circuit) (set [ Input; Head(0, 1); Mlp 1 ]) "nodes"
            Expect.isEmpty (Circuit.nodes (Circuit.empty shape)) "the empty circuit has no nodes"
        }
        testProperty "the full circuit holds every edge and the empty one none" <|
            Prop.forAll GraphTests.shapes (fun s ->
                Circuit.edgeCount (Circuit.full s) = Graph.edgeCount s
                && Circuit.edges (Circuit.full s) = List.ofArray (Graph.edges s)
                && Circuit.edgeCount (Circuit.empty s) = 0)
        test "a circuit for another shape is refused" {
            let other = { shape with Heads = 3 }
            Expect.throwsT<System.ArgumentException> (fun () -> Circuit.coefficients (resolve (Schedule.learnAll other)) (Circuit.full shape) |> ignore) "shape mismatch"
        }
    ]
