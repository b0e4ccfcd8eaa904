module PatchDescent.Tests.ExtractTests

open Expecto
open FsCheck
open FsCheck.FSharp
open PatchDescent.Search
open PatchDescent.Tests.CircuitTests

/// A shape with scores drawn from few values, so that ties are common.
let private scored =
    gen {
        let! shape = GraphTests.shapes |> Arb.toGen
        let! scores = Gen.arrayOfLength (Graph.edgeCount shape) (Gen.choose (-3, 3) |> Gen.map float)
        let! k = Gen.choose (0, Graph.edgeCount shape + 5)
        let! t1 = Gen.choose (-4, 4)
        let! t2 = Gen.choose (-4, 4)
        return shape, scores, k, float (min t1 t2), float (max t1 t2)
    }
    |> Arb.fromGen

/// Circuits on graphs small enough to enumerate every input-to-logits path.
let private tinyCircuits =
    gen {
        let! c = circuits |> Arb.toGen
        let! layers = Gen.choose (1, 2)
        let! heads = Gen.choose (1, 2)
        let shape = { c.Shape with Layers = layers; Heads = heads }
        return { Shape = shape; Edges = c.Edges |> Set.filter (fun id -> id < Graph.edgeCount shape) }
    }
    |> Arb.fromGen

/// The edges on some input-to-logits path, found by walking every path from the input.
let private onSomePath (c: Circuit) =
    let edges = Circuit.edges c
    let rec walk node (path: Edge list) =
        if node = Logits then set path
        else
            edges
            |> List.filter (fun e -> e.Sender = node)
            |> List.map (fun e -> walk (Receiver.node e.Receiver) (e :: path))
            |> Set.unionMany
    walk Input [] |> Set.map (Graph.edgeId c.Shape)

let private shape = { Layers = 2; Heads = 3; HasMlp = true }
let private edge s r = { Sender = s; Receiver = r }

[<Tests>]
let tests =
    testList "Extract" [
        testProperty "topK keeps exactly min(k, edges) edges, none scoring below a dropped one, ties to the lower id" <|
            Prop.forAll scored (fun (shape, scores, k, _, _) ->
                let kept = (Extract.topK shape scores k).Edges
                let dropped = Set.difference (Set.ofSeq (seq { 0 .. scores.Length - 1 })) kept
                kept.Count = min k scores.Length
                && Seq.forall (fun i -> Seq.forall (fun j -> scores[i] > scores[j] || (scores[i] = scores[j] && i < j)) dropped) kept)
        testProperty "threshold keeps exactly the edges scoring at least the threshold, fewer as it rises" <|
            Prop.forAll scored (fun (shape, scores, _, low, high) ->
                let atLow, atHigh = Extract.threshold shape scores low, Extract.threshold shape scores high
                Set.isSubset atHigh.Edges atLow.Edges
                && atLow.Edges = Set.ofSeq (seq { for id in 0 .. scores.Length - 1 do if scores[id] >= low then id }))
        test "a NaN score is refused, naming its edge" {
            let scores = Array.create (Graph.edgeCount shape) 0.0
            scores[3] <- nan
            let message = try Extract.topK shape scores 2 |> ignore; "" with :? System.ArgumentException as e -> e.Message
            Expect.stringContains message (Edge.name (Graph.edge shape 3)) "names the edge"
        }
        testProperty "prune keeps exactly the edges on some input-to-logits path (brute force over all paths)" <|
            Prop.forAll tinyCircuits (fun c -> (Extract.prune c).Edges = onSomePath c)
        testProperty "prune is idempotent and never adds an edge" <|
            Prop.forAll circuits (fun c ->
                let once = Extract.prune c
                Extract.prune once = once && Set.isSubset once.Edges c.Edges)
        testProperty "prune keeps the full graph full" <|
            Prop.forAll GraphTests.shapes (fun s -> Extract.prune (Circuit.full s) = Circuit.full s)
        testProperty "prune empties a circuit with no edge into the logits" <|
            Prop.forAll circuits (fun c ->
                let cut = { c with Edges = c.Edges |> Set.filter (fun id -> (Graph.edge c.Shape id).Receiver <> LogitsIn) }
                Circuit.edgeCount (Extract.prune cut) = 0)
        test "prune keeps a hand-built path through two ports and drops a head that sends nothing onward" {
            let path = [ edge Input (HeadIn(0, 1, V)); edge (Head(0, 1)) (HeadIn(1, 0, K)); edge (Head(1, 0)) LogitsIn ]
            let dangling = edge Input (HeadIn(0, 2, Q))
            let pruned = Extract.prune (Circuit.ofEdges shape (dangling :: path))
            Expect.equal (Circuit.edges pruned) path "the path alone"
        }
        test "a head reached through one port counts as reached, whatever its other ports read" {
            // a1.h0 reads the input on q; its k reads a0.h1, which nothing reaches.
            let path = [ edge Input (HeadIn(1, 0, Q)); edge (Head(1, 0)) LogitsIn ]
            let unreached = edge (Head(0, 1)) (HeadIn(1, 0, K))
            let pruned = Extract.prune (Circuit.ofEdges shape (unreached :: path))
            Expect.equal (Circuit.edges pruned) path "a1.h0 stays, the edge from unreached a0.h1 goes"
        }
    ]
