module PatchDescent.Tests.RenderTests

open System
open System.IO
open System.Text.RegularExpressions
open Expecto
open FsCheck
open FsCheck.FSharp
open PatchDescent.Search
open PatchDescent.Tests.Fixtures

let private nodeLine = Regex "^  \"([^\"]+)\";$"
let private rankLine = Regex "^  \\{ rank=same; (.*)\\}$"
let private edgeLine = Regex "^  \"([^\"]+)\" -> \"([^\"]+)\" \\[(.*)\\];$"
let private quoted = Regex "\"([^\"]+)\""
let private penwidth = Regex "penwidth=([0-9.]+)"

/// Whether every brace outside quotes closes one opened before it, and all close.
let private balanced (text: string) =
    let depths =
        text
        |> Seq.scan (fun (depth, inQuote) c ->
            match c with
            | '"' -> depth, not inQuote
            | '{' when not inQuote -> depth + 1, inQuote
            | '}' when not inQuote -> depth - 1, inQuote
            | _ -> depth, inQuote) (0, false)
    Seq.forall (fun (d, _) -> d >= 0) depths && Seq.last depths = (0, false)

let private lines (text: string) = text.Split '\n' |> List.ofArray

let private matching (pattern: Regex) text =
    [ for line in lines text do
          let m = pattern.Match line
          if m.Success then yield m ]

let private shape = { Layers = 2; Heads = 2; HasMlp = true }
let private edge s r = { Sender = s; Receiver = r }

[<Tests>]
let tests =
    testList "Render" [
        testProperty "the DOT text is a digraph with balanced braces, each circuit node declared once, each circuit edge drawn once between declared nodes, and ranks holding only declared nodes" <|
            Prop.forAll CircuitTests.scoredCircuits (fun (circuit, scores) ->
                let text = Render.dot circuit scores
                let declared = [ for m in matching nodeLine text -> m.Groups[1].Value ]
                let ranked = [ for m in matching rankLine text do for q in quoted.Matches m.Groups[1].Value -> q.Groups[1].Value ]
                let drawn = [ for m in matching edgeLine text -> m.Groups[1].Value, m.Groups[2].Value ]
                let expected = [ for e in Circuit.edges circuit -> Node.name e.Sender, Node.name (Receiver.node e.Receiver) ]
                text.StartsWith "digraph circuit {\n"
                && balanced text
                && List.sort declared = List.sort [ for n in Circuit.nodes circuit -> Node.name n ]
                && List.length declared = List.length (List.distinct declared)
                && List.sort ranked = List.sort declared
                && List.sort drawn = List.sort expected
                && drawn |> List.forall (fun (s, r) -> List.contains s declared && List.contains r declared))
        testProperty "pen widths lie in [1, 5], and with nonzero scores the largest |score| gets 5" <|
            Prop.forAll CircuitTests.scoredCircuits (fun (circuit, scores) ->
                let widths = [ for m in matching penwidth (Render.dot circuit scores) -> float m.Groups[1].Value ]
                List.forall (fun w -> w >= 1.0 && w <= 5.0) widths
                && (match scores with
                    | Some s when circuit.Edges |> Seq.exists (fun id -> s[id] <> 0.0) -> List.max widths = 5.0
                    | _ -> List.forall ((=) 1.0) widths))
        test "a hand-built circuit draws its edges by port colour and score, and ranks input, layers and logits in order" {
            let circuit =
                Circuit.ofEdges shape
                    [ edge Input (HeadIn(0, 1, Q)); edge (Head(0, 1)) (HeadIn(1, 0, K)); edge (Head(0, 0)) (HeadIn(1, 1, V))
                      edge (Head(1, 0)) (MlpIn 1); edge (Mlp 1) LogitsIn ]
            let scores = Array.zeroCreate (Graph.edgeCount shape)
            let score e s = scores[Graph.edgeId shape e] <- s
            score (edge Input (HeadIn(0, 1, Q))) 0.5
            score (edge (Head(0, 1)) (HeadIn(1, 0, K))) -2.0
            score (edge (Head(1, 0)) (MlpIn 1)) 1.0
            let text = lines (Render.dot circuit (Some scores))
            let expected =
                [ "  \"input\" -> \"a0.h1\" [label=\"q\", color=\"#1f77b4\", penwidth=2.00];"
                  "  \"a0.h1\" -> \"a1.h0\" [label=\"k\", color=\"#2ca02c\", penwidth=5.00];"
                  "  \"a0.h0\" -> \"a1.h1\" [label=\"v\", color=\"#d62728\", penwidth=1.00];"
                  "  \"a1.h0\" -> \"m1\" [color=\"#7f7f7f\", penwidth=3.00];"
                  "  \"m1\" -> \"logits\" [color=\"#7f7f7f\", penwidth=1.00];" ]
            for line in expected do Expect.contains text line "edge line"
            let ranks = text |> List.filter (fun l -> l.StartsWith "  { rank=same;")
            Expect.equal ranks
                [ "  { rank=same; \"input\"; }"
                  "  { rank=same; \"a0.h0\"; \"a0.h1\"; }"
                  "  { rank=same; \"a1.h0\"; \"a1.h1\"; \"m1\"; }"
                  "  { rank=same; \"logits\"; }" ] "ranks top to bottom"
        }
    ]
