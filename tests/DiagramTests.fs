module PatchDescent.Tests.DiagramTests

open System.IO
open System.Xml.Linq
open Expecto
open PatchDescent.Search
open PatchDescent.Tests.Fixtures

let private shape = { Layers = 3; Heads = 4; HasMlp = true }

/// A circuit of `count` edges drawn from the graph by a fixed stride, and a score per edge id.
let private sample count =
    let edges = Graph.edgeCount shape
    let ids = [ for i in 0 .. count - 1 -> (i * 37 + 11) % edges ] |> Set.ofList
    { Shape = shape; Edges = ids }, Array.init edges (fun id -> float ((id * 7) % 13) - 6.0)

let private svgName = XName.Get("path", "http://www.w3.org/2000/svg")

[<Tests>]
let tests =
    testList "Diagram" [
        test "the SVG draws every edge and node of the circuit and no other, with the edge's score and rank" {
            let circuit, scores = sample 30
            let doc = XDocument.Parse(Diagram.svg (Diagram.layout "t" circuit scores))
            let all = doc.Descendants() |> List.ofSeq
            let edgeNames = [ for e in all do if e.Name = svgName && e.Attribute(XName.Get "class").Value = "edge" then e.Attribute(XName.Get "data-edge").Value ]
            let expected = [ for id in circuit.Edges -> Edge.name (Graph.edge shape id) ]
            Expect.equal (List.sort edgeNames) (List.sort expected) "one path per circuit edge"
            let nodeNames = [ for e in all do if e.Attribute(XName.Get "data-node") <> null then e.Attribute(XName.Get "data-node").Value ]
            Expect.equal (List.sort nodeNames) (Circuit.nodes circuit |> Seq.map Node.name |> Seq.sort |> List.ofSeq) "one box per circuit node"
            // Rank 1 is the largest |score|, by a plain sort of the circuit's scores.
            let byRank = [ for e in all do if e.Name = svgName then int (e.Attribute(XName.Get "data-rank").Value), abs (float (e.Attribute(XName.Get "data-score").Value)) ] |> List.sortBy fst
            Expect.equal (List.map fst byRank) [ 1 .. 30 ] "ranks 1..30"
            Expect.isTrue (byRank |> List.pairwise |> List.forall (fun ((_, a), (_, b)) -> a >= b)) "rank order is |score| order"
        }
        test "the input is drawn below every layer and the logits above, and a layer's MLP above its heads" {
            let circuit, scores = sample 40
            let d = Diagram.layout "t" circuit scores
            let y name = (d.Nodes |> List.find (fun n -> n.Name = name)).Y
            let present name = d.Nodes |> List.exists (fun n -> n.Name = name)
            for n in d.Nodes do
                if n.Name <> "input" && present "input" then Expect.isLessThan n.Y (y "input") $"{n.Name} above the input"
                if n.Name <> "logits" && present "logits" then Expect.isGreaterThan n.Y (y "logits") $"{n.Name} below the logits"
                match n.Node with
                | Head(l, _) when present $"m{l}" -> Expect.isGreaterThan n.Y (y $"m{l}") $"{n.Name} below m{l}"
                | Head(l, _) when l > 0 && present $"a{l - 1}.h0" -> Expect.isLessThan n.Y (y $"a{l - 1}.h0") "a layer above the one before"
                | _ -> ()
        }
        test "reordering does not add crossings to the plain head order, and boxes in a row do not overlap" {
          for count in [ 12; 20; 30; 45; 60 ] do
            let circuit, scores = sample count
            let d = Diagram.layout "t" circuit scores
            // The plain head order: each row sorted by head index, at the same x slots as the layout's.
            let slots = d.Nodes |> List.groupBy (fun n -> n.Y) |> List.collect (fun (_, row) ->
                let xs = row |> List.map (fun n -> n.X) |> List.sort
                let ordered = row |> List.sortBy (fun n -> match n.Node with Head(_, h) -> h | _ -> 1000)
                List.zip ordered xs |> List.map (fun (n, x) -> n.Name, x))
                        |> Map.ofList
            let moved = { d with Nodes = d.Nodes |> List.map (fun n -> { n with X = slots[n.Name] }) }
            let plain =
                // Edges re-anchored on the plain order's x, keeping each port's offset from its box.
                { moved with
                    Edges = moved.Edges |> List.map (fun e ->
                        let i = e.Name.IndexOf "->"
                        let s, r = e.Name.Substring(0, i), e.Name.Substring(i + 2)
                        let rNode = match r.IndexOf '<' with -1 -> r | k -> r.Substring(0, k)
                        let dx name = slots[name] - (d.Nodes |> List.find (fun n -> n.Name = name)).X
                        match e.Points with
                        | [ (x0, y0); (x1, y1); (x2, y2); (x3, y3) ] ->
                            { e with Points = [ x0 + dx s, y0; x1 + dx s, y1; x2 + dx rNode, y2; x3 + dx rNode, y3 ] }
                        | _ -> e) }
            Expect.isLessThanOrEqual (Diagram.crossings d) (Diagram.crossings plain) "no more crossings than head order"
            for _, row in d.Nodes |> List.groupBy (fun n -> n.Y) do
                for a, b in row |> List.sortBy (fun n -> n.X) |> List.pairwise do
                    Expect.isGreaterThan (b.X - b.Width / 2.0) (a.X + a.Width / 2.0) "boxes apart"
        }
        test "a crossing that head order makes is undone: a0.h0 feeds a1.h1 and a0.h1 feeds a1.h0" {
            let parse name = match Edge.parse name with Ok [ e ] -> e | other -> failwith $"{name}: %A{other}"
            let circuit =
                [ "input->a0.h0<q>"; "input->a0.h1<q>"; "a0.h0->a1.h1<q>"; "a0.h1->a1.h0<q>"; "a1.h0->logits"; "a1.h1->logits" ]
                |> List.map parse |> Circuit.ofEdges shape
            let d = Diagram.layout "t" circuit (Array.create (Graph.edgeCount shape) 1.0)
            let x name = (d.Nodes |> List.find (fun n -> n.Name = name)).X
            // By hand: with a0.h0 left of a0.h1, the two layer-1 heads must swap for the edges not to cross.
            Expect.equal (Diagram.crossings d) 0 "no crossing left"
            Expect.equal (compare (x "a0.h0") (x "a0.h1")) (compare (x "a1.h1") (x "a1.h0")) "a1.h1 sits on a0.h0's side"
        }
        test "the PNG is written, the width of the layout, and not blank" {
            use dir = new TempDir()
            let circuit, scores = sample 30
            let d = Diagram.layout "model, task: 30 edges" circuit scores
            let path = dir.File "circuit.png"
            Diagram.writePng d path
            use bitmap = SkiaSharp.SKBitmap.Decode path
            Expect.equal bitmap.Width (int (ceil d.Width)) "width"
            let colours = set [ for x in 0 .. 4 .. bitmap.Width - 1 do for y in 0 .. 4 .. bitmap.Height - 1 -> uint (bitmap.GetPixel(x, y)) ]
            Expect.isGreaterThan colours.Count 10 "more than a few colours: something is drawn"
        }
        test "a circuit of more than 2,000 edges is drawn whole, its rows in head order" {
            let big = { Layers = 6; Heads = 8; HasMlp = true }
            let n = Graph.edgeCount big
            Expect.isGreaterThan n 2000 "the whole graph is over the bound"
            let d = Diagram.layout "t" { Shape = big; Edges = set [ 0 .. n - 1 ] } (Array.init n float)
            Expect.equal d.Edges.Length n "every edge drawn"
            for row in 0 .. big.Layers - 1 do
                let xs = [ for node in d.Nodes do match node.Node with Head(l, h) when l = row -> h, node.X | _ -> () ]
                Expect.equal (List.sortBy snd xs |> List.map fst) [ 0 .. big.Heads - 1 ] $"layer {row} in head order"
        }
        test "scores that are not one per edge id are refused" {
            let circuit, scores = sample 5
            Expect.throwsT<System.ArgumentException> (fun () -> Diagram.layout "t" circuit scores[1..] |> ignore) "refused"
        }
    ]
