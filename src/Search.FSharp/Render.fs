namespace PatchDescent.Search

open System
open System.Globalization

module Render =
    let private quote (node: Node) = $"\"{Node.name node}\""

    let port receiver =
        match receiver with
        | HeadIn(_, _, Q) -> "q", "#1f77b4"
        | HeadIn(_, _, K) -> "k", "#2ca02c"
        | HeadIn(_, _, V) -> "v", "#d62728"
        | MlpIn _
        | LogitsIn -> "", "#7f7f7f"

    let dot (circuit: Circuit) (scores: float[] option) =
        let shape = circuit.Shape
        scores |> Option.iter (fun s ->
            let edges = Graph.edgeCount shape
            if s.Length <> edges then
                invalidArg "scores" $"there are {s.Length} scores, the graph of %A{shape} has {edges} edges: give one score per edge id")
        let nodes = Circuit.nodes circuit
        let largest =
            match scores with
            | Some s when not circuit.Edges.IsEmpty -> circuit.Edges |> Seq.map (fun id -> abs s[id]) |> Seq.max
            | _ -> 0.0
        let width id =
            match scores with
            | Some s when largest > 0.0 -> 1.0 + 4.0 * abs s[id] / largest
            | _ -> 1.0
        // Senders are in layer order, so the ranks come out top to bottom.
        let ranks =
            Array.append (Graph.senders shape) [| Logits |]
            |> Array.filter nodes.Contains
            |> Array.groupBy (fun node ->
                match node with
                | Input -> -1
                | Logits -> shape.Layers
                | _ -> Option.get (Node.layer node))
        [ yield "digraph circuit {"
          yield "  // Edges into a head's query are blue (q), key green (k), value red (v); into an MLP or the logits grey."
          yield "  // Pen width is 1 + 4 |score| / max |score| over the circuit's edges."
          yield "  rankdir=TB;"
          yield "  node [shape=box, fontname=\"Helvetica\"];"
          for _, group in ranks do
              for node in group -> $"  {quote node};"
          for _, group in ranks ->
              let members = group |> Array.map (fun node -> $"{quote node}; ") |> String.concat ""
              $"  {{ rank=same; {members}}}"
          for id in circuit.Edges do
              let edge = Graph.edge shape id
              let label, colour = port edge.Receiver
              let penwidth = (width id).ToString("0.00", CultureInfo.InvariantCulture)
              let labelled = if label = "" then "" else $"label=\"{label}\", "
              yield $"  {quote edge.Sender} -> {quote (Receiver.node edge.Receiver)} [{labelled}color=\"{colour}\", penwidth={penwidth}];"
          yield "}" ]
        |> String.concat "\n"
        |> fun text -> text + "\n"
