namespace PatchDescent.Search

open System
open System.Globalization
open System.Text
open SkiaSharp

type DiagramNode =
    { Node: Node
      Name: string
      Label: string
      X: float
      Y: float
      Width: float
      Height: float }

type DiagramEdge =
    { Id: int
      Name: string
      Score: float
      Rank: int
      Port: string
      Colour: string
      Width: float
      Points: (float * float) list }

type Diagram =
    { Title: string
      Width: float
      Height: float
      Rows: (string * float) list
      Nodes: DiagramNode list
      Edges: DiagramEdge list }

module Diagram =
    let private boxWidth, boxHeight, gap, rowGap = 56.0, 26.0, 18.0, 120.0
    let private left, right, bottom, header = 96.0, 32.0, 36.0, 116.0
    // The MLP sits this far above its layer's heads, so that their edges into it are short curves, not lines
    // hidden along the row.
    let private mlpRaise = 0.42 * rowGap
    // The legend's four entries fit across.
    let private minimumWidth = 760.0

    /// 0 for the input, l + 1 for layer l, layers + 1 for the logits.
    let private rowOf layers node =
        match node with
        | Input -> 0
        | Logits -> layers + 1
        | n -> Option.get (Node.layer n) + 1

    let private label node =
        match node with
        | Head(_, h) -> $"h{h}"
        | Mlp _ -> "MLP"
        | Input -> "input"
        | Logits -> "logits"

    let private rowName layers row =
        if row = 0 then "input" elif row = layers + 1 then "logits" else $"layer {row - 1}"

    /// The title in at most two lines: what the circuit is of, then its figures.
    let private titleLines (title: string) =
        match title.IndexOf(": ", StringComparison.Ordinal) with
        | -1 -> [ title ]
        | i -> [ title.Substring(0, i); title.Substring(i + 2) ]

    /// The x of each node of the rows' orders, every row centred on the widest, in at least `least` pixels.
    let private positions least (orders: (int * Node list) list) =
        let rowWidth count = float count * boxWidth + float (max 0 (count - 1)) * gap
        let content = orders |> List.map (snd >> List.length >> rowWidth) |> List.fold max (least - left - right)
        [ for _, nodes in orders do
              let start = left + (content - rowWidth nodes.Length) / 2.0
              yield! nodes |> List.mapi (fun i node -> node, start + float i * (boxWidth + gap) + boxWidth / 2.0) ]
        |> Map.ofList,
        left + content + right

    let private portOffset receiver =
        match receiver with
        | HeadIn(_, _, Q) -> -boxWidth / 4.0
        | HeadIn(_, _, V) -> boxWidth / 4.0
        | _ -> 0.0

    // Counting crossings compares every pair of edges; above this many edges the sweeps are not scored, and the
    // rows keep head order (a circuit that large is read from its files, not its picture).
    let private sweptEdges = 2000

    let private crossingCount (segments: ((Node * Node) * ((float * float) * (float * float))) list) =
        let orient (px, py) (qx, qy) (rx, ry) = (qx - px) * (ry - py) - (qy - py) * (rx - px)
        let cross (a1, a2) (b1, b2) = orient b1 b2 a1 * orient b1 b2 a2 < 0.0 && orient a1 a2 b1 * orient a1 a2 b2 < 0.0
        let all = Array.ofList segments
        // Counted as a sequence, never listed: a large circuit has hundreds of millions of crossings.
        seq {
            for i in 0 .. all.Length - 1 do
                let (s1, r1), a = all[i]
                for j in i + 1 .. all.Length - 1 do
                    let (s2, r2), b = all[j]
                    if s1 <> s2 && s1 <> r2 && r1 <> s2 && r1 <> r2 && cross a b then 1 }
        |> Seq.length

    let layout (title: string) (circuit: Circuit) (scores: float[]) =
        let shape = circuit.Shape
        let edgeCount = Graph.edgeCount shape
        if scores.Length <> edgeCount then
            invalidArg "scores" $"there are {scores.Length} scores, the graph of %A{shape} has {edgeCount} edges: give one score per edge id"
        let layers = shape.Layers
        // About 8.6 pixels a character of the 15-pixel bold title, so that it is not cut.
        let least = titleLines title |> List.map (fun t -> 8.6 * float t.Length + 40.0) |> List.fold max minimumWidth
        let positions = positions least
        let edges = [ for id in circuit.Edges -> id, Graph.edge shape id ]
        let nodes = Circuit.nodes circuit
        let used = nodes |> Seq.map (rowOf layers) |> Seq.distinct |> Seq.sort |> List.ofSeq
        let rowHasMlp row = nodes |> Set.exists (fun n -> rowOf layers n = row && Node.kind n = NodeKind.Mlp)
        // Rows top to bottom: the logits first, the input last.
        let topExtra = match List.tryLast used with Some r when rowHasMlp r -> mlpRaise | _ -> 0.0
        let rowY row =
            let k = List.findIndex ((=) row) used
            header + topExtra + float (used.Length - 1 - k) * rowGap
        let nodeY node = rowY (rowOf layers node) - (if Node.kind node = NodeKind.Mlp then mlpRaise else 0.0)
        let initial =
            [ for row in used ->
                  let members = nodes |> Set.filter (fun n -> rowOf layers n = row) |> List.ofSeq
                  let heads = members |> List.filter (fun n -> Node.kind n = NodeKind.Head) |> List.sortBy (function Head(_, h) -> h | _ -> 0)
                  row, heads @ (members |> List.filter (fun n -> Node.kind n <> NodeKind.Head)) ]
        let links = [ for _, e in edges -> e.Sender, Receiver.node e.Receiver ]
        let segments (xs: Map<Node, float>) =
            [ for _, e in edges ->
                  let r = Receiver.node e.Receiver
                  (e.Sender, r), ((xs[e.Sender], nodeY e.Sender - boxHeight / 2.0), (xs[r] + portOffset e.Receiver, nodeY r + boxHeight / 2.0)) ]
        // One sweep reorders each row's heads by the mean x of their neighbours in the rows before it in the
        // sweep's direction; a head without such a neighbour keeps its x. The MLP stays last in its row.
        let sweep (orders: (int * Node list) list) (rowsInOrder: int list) (before: int -> int -> bool) =
            rowsInOrder
            |> List.fold (fun (orders: (int * Node list) list) row ->
                let xs, _ = positions orders
                let centre node =
                    let others = links |> List.choose (fun (a, b) ->
                        if a = node && before (rowOf layers b) row then Some b
                        elif b = node && before (rowOf layers a) row then Some a
                        else None)
                    if others.IsEmpty then xs[node] else others |> List.averageBy (fun n -> xs[n])
                orders |> List.map (fun (r, members) ->
                    if r <> row then r, members
                    else
                        let heads = members |> List.filter (fun n -> Node.kind n = NodeKind.Head) |> List.sortBy centre
                        r, heads @ (members |> List.filter (fun n -> Node.kind n <> NodeKind.Head)))) orders
        let score orders = crossingCount (segments (fst (positions orders)))
        let candidates =
            [ 1 .. (if edges.Length > sweptEdges then 0 else 4) ]
            |> List.scan (fun orders _ ->
                let up = sweep orders used (fun other row -> other < row)
                sweep up (List.rev used) (fun other row -> other > row)) initial
        // The first order with the fewest crossings: the head order itself when sweeping does not help.
        let best = match candidates with [ only ] -> only | _ -> candidates |> List.minBy score
        let xs, width = positions best
        let height = header + topExtra + float (max 0 (used.Length - 1)) * rowGap + boxHeight / 2.0 + bottom
        let largest = edges |> List.fold (fun m (id, _) -> max m (abs scores[id])) 0.0
        let ranks =
            edges |> List.map fst |> List.sortBy (fun id -> -abs scores[id], id) |> List.mapi (fun i id -> id, i + 1) |> Map.ofList
        { Title = title
          Width = width
          Height = height
          Rows = [ for row in used -> rowName layers row, rowY row ]
          Nodes =
            [ for _, members in best do
                  for node in members ->
                      { Node = node; Name = Node.name node; Label = label node; X = xs[node]; Y = nodeY node
                        Width = boxWidth; Height = boxHeight } ]
          Edges =
            [ for id, e in edges ->
                  let r = Receiver.node e.Receiver
                  let x1, y1 = xs[e.Sender], nodeY e.Sender - boxHeight / 2.0
                  let x2, y2 = xs[r] + portOffset e.Receiver, nodeY r + boxHeight / 2.0
                  let bend = max 24.0 (0.45 * (y1 - y2))
                  let port, colour = Render.port e.Receiver
                  { Id = id; Name = Edge.name e; Score = scores[id]; Rank = ranks[id]; Port = port; Colour = colour
                    Width = (if largest > 0.0 then 1.0 + 4.0 * abs scores[id] / largest else 1.0)
                    Points = [ x1, y1; x1, y1 - bend; x2, y2 + bend; x2, y2 ] } ] }

    let crossings (diagram: Diagram) =
        crossingCount
            [ for e in diagram.Edges ->
                  match Edge.parse e.Name with
                  | Ok(edge :: _) -> (edge.Sender, Receiver.node edge.Receiver), (List.head e.Points, List.last e.Points)
                  | _ -> failwith $"unreachable: the diagram's edge {e.Name} has no MIB name" ]

    let private n (x: float) = x.ToString("0.##", CultureInfo.InvariantCulture)
    let private escape (text: string) =
        text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;")

    /// The legend's entries: a colour and what it marks.
    let private legend =
        [ for receiver, what in [ HeadIn(0, 0, Q), "into a query (q)"; HeadIn(0, 0, K), "into a key (k)"; HeadIn(0, 0, V), "into a value (v)"; LogitsIn, "into an MLP or the logits" ] ->
              snd (Render.port receiver), what ]

    let private fontFamily = "DejaVu Sans, Helvetica, Arial, sans-serif"

    let svg (d: Diagram) =
        let b = StringBuilder()
        let line (s: string) = b.Append(s).Append('\n') |> ignore
        line $"""<svg xmlns="http://www.w3.org/2000/svg" width="{n d.Width}" height="{n d.Height}" viewBox="0 0 {n d.Width} {n d.Height}" font-family="{fontFamily}">"""
        line $"""<title>{escape d.Title}</title>"""
        line $"""<rect width="100%%" height="100%%" fill="white"/>"""
        titleLines d.Title |> List.iteri (fun i t ->
            line $"""<text class="title" x="{n (d.Width / 2.0)}" y="{22 + 20 * i}" text-anchor="middle" font-size="15" font-weight="bold">{escape t}</text>""")
        line """<g class="legend" font-size="12">"""
        legend |> List.iteri (fun i (colour, what) ->
            let x = 16.0 + float i * 170.0
            line $"""<line x1="{n x}" y1="72" x2="{n (x + 24.0)}" y2="72" stroke="{colour}" stroke-width="3"/><text x="{n (x + 30.0)}" y="76">{escape what}</text>""")
        line $"""<text x="16" y="96">line width: 1 + 4 |score| / max |score|; hover an edge for its name, score and rank</text>"""
        line "</g>"
        line """<g class="rows" font-size="12" fill="#555">"""
        for name, y in d.Rows do line $"""<text x="12" y="{n (y + 4.0)}">{escape name}</text>"""
        line "</g>"
        line """<g class="edges" fill="none">"""
        // Counted once: the edges are a list, and a length per edge would be quadratic in a large circuit.
        let total = d.Edges.Length
        for e in d.Edges do
            let p = e.Points |> List.map (fun (x, y) -> $"{n x} {n y}")
            let sender, receiver = let i = e.Name.IndexOf("->", StringComparison.Ordinal) in e.Name.Substring(0, i), e.Name.Substring(i + 2)
            let receiverNode = let i = receiver.IndexOf '<' in if i < 0 then receiver else receiver.Substring(0, i)
            let score = e.Score.ToString("G4", CultureInfo.InvariantCulture)
            line (
                $"""<path class="edge" data-edge="{escape e.Name}" data-sender="{escape sender}" data-receiver="{escape receiverNode}" data-score="{e.Score.ToString("R", CultureInfo.InvariantCulture)}" data-rank="{e.Rank}" """
                + $"""d="M {p[0]} C {p[1]}, {p[2]}, {p[3]}" stroke="{e.Colour}" stroke-width="{n e.Width}" stroke-opacity="0.85">"""
                + $"""<title>{escape e.Name}&#10;score {score}, rank {e.Rank} of {total}</title></path>""")
        line "</g>"
        line """<g class="nodes" font-size="12">"""
        for node in d.Nodes do
            line (
                $"""<g class="node" data-node="{escape node.Name}"><title>{escape node.Name}</title>"""
                + $"""<rect x="{n (node.X - node.Width / 2.0)}" y="{n (node.Y - node.Height / 2.0)}" width="{n node.Width}" height="{n node.Height}" rx="4" fill="#f4f4f4" stroke="#333"/>"""
                + $"""<text x="{n node.X}" y="{n (node.Y + 4.0)}" text-anchor="middle">{escape node.Label}</text></g>""")
        line "</g>"
        line "</svg>"
        b.ToString()

    let writePng (d: Diagram) (path: string) =
        let typeface = ScottPlot.Fonts.GetTypeface(ScottPlot.Fonts.Sans, false, false)
        let bold = ScottPlot.Fonts.GetTypeface(ScottPlot.Fonts.Sans, true, false)
        use surface = SKSurface.Create(SKImageInfo(int (ceil d.Width), int (ceil d.Height)))
        let canvas = surface.Canvas
        canvas.Clear SKColors.White
        use small = new SKFont(typeface, 12.0f)
        use titleFont = new SKFont(bold, 15.0f)
        use ink = new SKPaint(Color = SKColors.Black, IsAntialias = true)
        use grey = new SKPaint(Color = SKColor.Parse "#555555", IsAntialias = true)
        let f (x: float) = float32 x
        let text (s: string) x y (font: SKFont) (paint: SKPaint) align = canvas.DrawText(s, f x, f y, align, font, paint)
        titleLines d.Title |> List.iteri (fun i t -> text t (d.Width / 2.0) (22.0 + 20.0 * float i) titleFont ink SKTextAlign.Center)
        legend |> List.iteri (fun i (colour, what) ->
            let x = 16.0 + float i * 170.0
            use stroke = new SKPaint(Color = SKColor.Parse colour, StrokeWidth = 3.0f, IsAntialias = true)
            canvas.DrawLine(f x, 72.0f, f (x + 24.0), 72.0f, stroke)
            text what (x + 30.0) 76.0 small ink SKTextAlign.Left)
        text "line width: 1 + 4 |score| / max |score|" 16.0 96.0 small ink SKTextAlign.Left
        for name, y in d.Rows do text name 12.0 (y + 4.0) small grey SKTextAlign.Left
        for e in d.Edges do
            match e.Points with
            | [ (x0, y0); (x1, y1); (x2, y2); (x3, y3) ] ->
                use curve = new SKPath()
                curve.MoveTo(f x0, f y0)
                curve.CubicTo(f x1, f y1, f x2, f y2, f x3, f y3)
                use stroke = new SKPaint(Color = (SKColor.Parse e.Colour).WithAlpha 217uy, StrokeWidth = f e.Width, IsStroke = true, IsAntialias = true)
                canvas.DrawPath(curve, stroke)
            | _ -> failwith $"unreachable: edge {e.Name} is not one cubic curve"
        use fill = new SKPaint(Color = SKColor.Parse "#f4f4f4", IsAntialias = true)
        use border = new SKPaint(Color = SKColor.Parse "#333333", IsStroke = true, StrokeWidth = 1.0f, IsAntialias = true)
        for node in d.Nodes do
            let box = SKRect.Create(f (node.X - node.Width / 2.0), f (node.Y - node.Height / 2.0), f node.Width, f node.Height)
            canvas.DrawRoundRect(box, 4.0f, 4.0f, fill)
            canvas.DrawRoundRect(box, 4.0f, 4.0f, border)
            text node.Label node.X (node.Y + 4.0) small ink SKTextAlign.Center
        use image = surface.Snapshot()
        use data = image.Encode(SKEncodedImageFormat.Png, 100)
        PatchDescent.Model.AtomicFile.Write(path, fun p -> IO.File.WriteAllBytes(p, data.ToArray()))
