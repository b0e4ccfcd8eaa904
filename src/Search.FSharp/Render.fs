namespace PatchDescent.Search

open System
open System.Diagnostics
open System.Globalization
open System.IO
open PatchDescent.Model

module Render =
    let private quote (node: Node) = $"\"{Node.name node}\""

    let private port edge =
        match edge.Receiver with
        | HeadIn(_, _, Q) -> Some("q", "#1f77b4")
        | HeadIn(_, _, K) -> Some("k", "#2ca02c")
        | HeadIn(_, _, V) -> Some("v", "#d62728")
        | MlpIn _
        | LogitsIn -> None

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
              let label, colour = port edge |> Option.defaultValue ("", "#7f7f7f")
              let penwidth = (width id).ToString("0.00", CultureInfo.InvariantCulture)
              let labelled = if label = "" then "" else $"label=\"{label}\", "
              yield $"  {quote edge.Sender} -> {quote (Receiver.node edge.Receiver)} [{labelled}color=\"{colour}\", penwidth={penwidth}];"
          yield "}" ]
        |> String.concat "\n"
        |> fun text -> text + "\n"

    /// The `dot` executable on PATH, if any.
    let private findDot () =
        let name = if OperatingSystem.IsWindows() then "dot.exe" else "dot"
        (Environment.GetEnvironmentVariable "PATH" |> Option.ofObj |> Option.defaultValue "").Split(Path.PathSeparator)
        |> Array.filter (String.IsNullOrEmpty >> not)
        |> Array.map (fun dir -> Path.Combine(dir, name))
        |> Array.tryFind File.Exists

    let svg (dotText: string) (outputPath: string) =
        match findDot () with
        | None ->
            Error $"{outputPath}: not written, because Graphviz's dot is not on PATH; install Graphviz (apt-get install graphviz on Debian or Ubuntu, brew install graphviz on macOS) and run again, or open the .dot file in any Graphviz viewer"
        | Some dot ->
            let info = ProcessStartInfo(dot, [ "-Tsvg" ], UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true)
            use p = nonNull (Process.Start info)
            // Read both outputs while writing stdin, so that no pipe can fill and stall the other side.
            let svg, errors = p.StandardOutput.ReadToEndAsync(), p.StandardError.ReadToEndAsync()
            p.StandardInput.Write dotText
            p.StandardInput.Close()
            p.WaitForExit()
            if p.ExitCode <> 0 then Error $"{outputPath}: not written, dot -Tsvg exited with {p.ExitCode}: {errors.Result.Trim()}"
            else
                AtomicFile.WriteText(outputPath, svg.Result)
                Ok()
