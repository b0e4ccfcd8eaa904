namespace PatchDescent.Search

type Circuit = { Shape: GraphShape; Edges: Set<int> }

module Circuit =
    let empty shape = { Shape = shape; Edges = Set.empty }

    let full shape = { Shape = shape; Edges = Set.ofSeq (seq { 0 .. Graph.edgeCount shape - 1 }) }

    let ofEdges shape (edges: Edge seq) = { Shape = shape; Edges = edges |> Seq.map (Graph.edgeId shape) |> Set.ofSeq }

    let edges circuit = [ for id in circuit.Edges -> Graph.edge circuit.Shape id ]

    let edgeCount circuit = circuit.Edges.Count

    let nodes circuit =
        edges circuit |> List.collect (fun e -> [ e.Sender; Receiver.node e.Receiver ]) |> Set.ofList

    let coefficients (schedule: ResolvedSchedule) circuit =
        if schedule.Shape <> circuit.Shape then
            invalidArg "circuit" $"the circuit is for %A{circuit.Shape}, the schedule for %A{schedule.Shape}"
        let values = Array.zeroCreate schedule.ParamCount
        for id in circuit.Edges do
            match schedule.Source[id] with
            | Param i -> values[i] <- 1.0
            | Fixed _ -> ()
        values
