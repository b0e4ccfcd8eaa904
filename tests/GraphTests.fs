module PatchDescent.Tests.GraphTests

open Expecto
open FsCheck
open FsCheck.FSharp
open PatchDescent.Search

/// Shapes small enough to enumerate: 1..6 layers, 1..6 heads, with or without MLPs.
let shapes =
    gen {
        let! layers = Gen.choose (1, 6)
        let! heads = Gen.choose (1, 6)
        let! hasMlp = Gen.elements [ true; false ]
        return { Layers = layers; Heads = heads; HasMlp = hasMlp }
    }
    |> Arb.fromGen

let mlp shape = if shape.HasMlp then 1 else 0

/// Edges of the Full graph by hand. A layer's receivers are 3H head inputs reading 1 + l*B senders (B = H + mlp)
/// and, with MLPs, an MLP input reading 1 + l*B + H; the logits read all 1 + L*B. Summing over l = 0..L-1:
/// E = (3H + mlp) * (L + B*L*(L-1)/2) + mlp*H*L + 1 + L*B.
let edgeCountByFormula shape =
    let l, h, m = shape.Layers, shape.Heads, mlp shape
    let b = h + m
    (3 * h + m) * (l + b * l * (l - 1) / 2) + m * h * l + 1 + l * b

/// The sender order as the specification states it.
let referenceSenders shape =
    [ yield Input
      for l in 0 .. shape.Layers - 1 do
          for h in 0 .. shape.Heads - 1 do
              yield Head(l, h)
          if shape.HasMlp then
              yield Mlp l ]

/// The receiver order as the specification states it.
let referenceReceivers shape =
    [ for l in 0 .. shape.Layers - 1 do
          for port in [ Q; K; V ] do
              for h in 0 .. shape.Heads - 1 do
                  yield HeadIn(l, h, port)
          if shape.HasMlp then
              yield MlpIn l
      yield LogitsIn ]

/// Whether the receiver's input is computed after the sender's output, from layers alone: an MLP reads its own
/// layer's heads, a head reads only earlier layers.
let reads sender receiver =
    match sender, receiver with
    | Input, _
    | _, LogitsIn -> true
    | Head(ls, _), HeadIn(lr, _, _)
    | Mlp ls, HeadIn(lr, _, _)
    | Mlp ls, MlpIn lr -> ls < lr
    | Head(ls, _), MlpIn lr -> ls <= lr
    | Logits, _ -> false

let referenceEdges shape =
    [ for r in referenceReceivers shape do
          for s in referenceSenders shape do
              if reads s r then
                  yield { Sender = s; Receiver = r } ]

let private gpt2 = Graph.gpt2Small
let private edge sender receiver = { Sender = sender; Receiver = receiver }
let private count set = Graph.edges gpt2 |> Array.filter (Edges.contains set) |> Array.length

[<Tests>]
let tests =
    testList "Graph" [
        test "the Full graph of GPT-2 small has exactly 32,491 edges" {
            Expect.equal (Graph.edgeCount gpt2) 32491 "edgeCount"
            Expect.equal (Graph.edges gpt2).Length 32491 "enumerated"
        }
        testProperty "the closed-form edge count equals the number of enumerated edges" <|
            Prop.forAll shapes (fun shape ->
                let expected = edgeCountByFormula shape
                expected = (referenceEdges shape).Length
                && expected = Graph.edgeCount shape
                && expected = (Graph.edges shape).Length)
        testProperty "edges are ordered by receiver, then by sender, as the specification enumerates them" <|
            Prop.forAll shapes (fun shape -> List.ofArray (Graph.edges shape) = referenceEdges shape)
        testProperty "senders and receivers come in the specified order" <|
            Prop.forAll shapes (fun shape ->
                List.ofArray (Graph.senders shape) = referenceSenders shape
                && List.ofArray (Graph.receivers shape) = referenceReceivers shape)
        testProperty "sender indices are 1 + l*(H+mlp) + h for heads and 1 + l*(H+mlp) + H for MLPs" <|
            Prop.forAll shapes (fun shape ->
                let b = shape.Heads + mlp shape
                referenceSenders shape
                |> List.forall (fun node ->
                    let expected =
                        match node with
                        | Head(l, h) -> 1 + l * b + h
                        | Mlp l -> 1 + l * b + shape.Heads
                        | _ -> 0
                    Graph.senderIndex shape node = expected && Graph.sender shape expected = node))
        testProperty "every receiver reads exactly the first upstreamCount senders" <|
            Prop.forAll shapes (fun shape ->
                let senders = referenceSenders shape
                referenceReceivers shape
                |> List.forall (fun r ->
                    List.filter (fun s -> reads s r) senders = List.truncate (Graph.upstreamCount shape r) senders))
        testProperty "an edge's id is its position, and Graph.edge inverts Graph.edgeId" <|
            Prop.forAll shapes (fun shape ->
                referenceEdges shape
                |> List.indexed
                |> List.forall (fun (i, e) -> Graph.edgeId shape e = i && Graph.edge shape i = e))
        test "GPT-2 small edge ids counted by hand" {
            // Layer 0: 36 head inputs read only the input (ids 0..35), m0 reads input + 12 heads (36..48).
            Expect.equal (Graph.edge gpt2 0) (edge Input (HeadIn(0, 0, Q))) "first edge"
            Expect.equal (Graph.edge gpt2 35) (edge Input (HeadIn(0, 11, V))) "last edge into layer 0 heads"
            Expect.equal (Graph.edge gpt2 36) (edge Input (MlpIn 0)) "first edge into m0"
            Expect.equal (Graph.edge gpt2 48) (edge (Head(0, 11)) (MlpIn 0)) "last edge into m0"
            Expect.equal (Graph.edge gpt2 49) (edge Input (HeadIn(1, 0, Q))) "first edge into layer 1"
            Expect.equal (Graph.edge gpt2 62) (edge (Mlp 0) (HeadIn(1, 0, Q))) "14th and last edge into a1.h0<q>"
            Expect.equal (Graph.receiverOffset gpt2 LogitsIn) (32491 - 157) "the logits read the last 157 edges"
            Expect.equal (Graph.edge gpt2 32490) (edge (Mlp 11) LogitsIn) "last edge"
        }
        test "MIB names print and parse" {
            let examples =
                [ "a3.h7->a5.h1<q>", edge (Head(3, 7)) (HeadIn(5, 1, Q))
                  "input->a0.h0<k>", edge Input (HeadIn(0, 0, K))
                  "a0.h1->m0", edge (Head(0, 1)) (MlpIn 0)
                  "m11->logits", edge (Mlp 11) LogitsIn
                  "input->logits", edge Input LogitsIn ]
            for name, e in examples do
                Expect.equal (Edge.name e) name "printed"
                Expect.equal (Edge.parse name) (Ok [ e ]) "parsed"
        }
        test "a port-less head edge name means its q, k and v inputs" {
            let expected = [ for port in [ Q; K; V ] -> edge (Head(3, 7)) (HeadIn(5, 1, port)) ]
            Expect.equal (Edge.parse "a3.h7->a5.h1") (Ok expected) "parsed"
        }
        testProperty "every edge name parses back to its edge" <|
            Prop.forAll shapes (fun shape ->
                Graph.edges shape |> Array.forall (fun e -> Edge.parse (Edge.name e) = Ok [ e ]))
        testProperty "every node name parses back to its node" <|
            Prop.forAll shapes (fun shape ->
                Logits :: referenceSenders shape |> List.forall (fun n -> Node.parse (Node.name n) = Ok n))
        test "a bad name is an error that quotes it" {
            let bad =
                [ ""; "a3.h7"; "a3.h7->"; "->m0"; "logits->m0"; "a0.h0->input"; "a3.h7->m4<q>"; "a3.h7<q>->m4"
                  "a-1.h0->m0"; "a01.h0->m0"; "x->m0"; "a3.h7->a5.h1<x>"; "a3.h7->a5.h1->m6"; "A3.H7->m4"
                  "a3.h7 ->m4"; "a99999999999.h0->logits" ]
            for name in bad do
                match Edge.parse name with
                | Ok edges -> failtest $"'{name}' parsed as %A{edges}"
                | Error message -> Expect.stringContains message $"'{name}'" "the message quotes the name"
            Expect.isError (Node.parse "a3") "a3 is no node"
        }
        test "edges outside the graph are refused, by name" {
            let outside =
                [ edge (Head(5, 1)) (HeadIn(3, 7, Q)), gpt2
                  edge (Head(3, 1)) (HeadIn(3, 7, Q)), gpt2
                  edge (Mlp 3) (MlpIn 3), gpt2
                  edge Input (HeadIn(12, 0, Q)), gpt2
                  edge (Head(0, 12)) LogitsIn, gpt2
                  edge Logits LogitsIn, gpt2
                  edge Input (MlpIn 0), { gpt2 with HasMlp = false } ]
            for e, shape in outside do
                Expect.isFalse (Graph.contains shape e) (Edge.name e)
                let ex = Expect.throwsC (fun () -> Graph.edgeId shape e |> ignore) id
                Expect.stringContains ex.Message (Edge.name e) "the message names the edge"
            Expect.isTrue (Graph.contains gpt2 (edge (Head(3, 1)) (MlpIn 3))) "an MLP reads its own layer's heads"
        }
        test "edge sets of GPT-2 small have the sizes counted by hand" {
            // Into MLPs: sum over l of (1 + 13l + 12) = 156 + 13*66. Out of MLPs: 36 head inputs per later layer
            // (36*66), later MLPs (66), logits (12). MLP-to-MLP edges (66) are in both.
            Expect.equal (count (Edges.into Nodes.mlps)) 1014 "into MLPs"
            Expect.equal (count (Edges.from Nodes.mlps)) 2454 "out of MLPs"
            Expect.equal (count (Edges.touching Nodes.mlps)) 3402 "touching MLPs"
            // One third of the head inputs: 12 heads * sum over l of (1 + 13l).
            Expect.equal (count (Edges.atPort Q)) 10440 "into query inputs"
            // m2 reads a2's 12 heads; each of a3's 36 inputs reads a2's 13 senders; m3 reads those and a3's 12 heads.
            Expect.equal (count (Edges.within (Nodes.layers 2 3))) (12 + 36 * 13 + 25) "within layers 2..3"
            // The input feeds every one of the 12 * 37 + 1 receivers.
            Expect.equal (count (Edges.except Edges.all (Edges.from Nodes.input))) (32491 - (12 * 37 + 1)) "not from the input"
            // Each head of layer 0 feeds the 36 head inputs of the 11 later layers, all 12 MLPs and the logits.
            Expect.equal (count (Edges.from (Nodes.inter [ Nodes.heads; Nodes.layer 0 ]))) (12 * (36 * 11 + 12 + 1)) "out of a0"
            Expect.equal (count (Edges.only [ edge Input LogitsIn; edge (Mlp 0) LogitsIn ])) 2 "two named edges"
        }
    ]
