namespace PatchDescent.Search

module Extract =
    let private check shape (scores: float[]) =
        let edges = Graph.edgeCount shape
        if scores.Length <> edges then
            invalidArg "scores" $"there are {scores.Length} scores, the graph of %A{shape} has {edges} edges: give one score per edge id"
        match Array.tryFindIndex System.Double.IsNaN scores with
        | Some id -> invalidArg "scores" $"the score of edge {Edge.name (Graph.edge shape id)} (id {id}) is NaN"
        | None -> ()

    let threshold shape (scores: float[]) threshold =
        check shape scores
        { Shape = shape; Edges = Set.ofSeq (seq { for id in 0 .. scores.Length - 1 do if scores[id] >= threshold then id }) }

    let topK shape (scores: float[]) k =
        check shape scores
        if k < 0 then invalidArg "k" $"k must be at least 0, got {k}"
        let best = Array.init scores.Length id |> Array.sortBy (fun id -> -scores[id], id) |> Array.truncate k
        { Shape = shape; Edges = Set.ofArray best }

    /// Every node reachable from the start by following `next`, the start included.
    let private reachable (start: Node) (next: Map<Node, Node list>) =
        let rec go (seen: Set<Node>) frontier =
            match frontier with
            | [] -> seen
            | node :: rest ->
                let fresh = Map.tryFind node next |> Option.defaultValue [] |> List.filter (seen.Contains >> not) |> List.distinct
                go (Set.union seen (Set.ofList fresh)) (fresh @ rest)
        go (Set.singleton start) [ start ]

    let prune circuit =
        let edges = [ for id in circuit.Edges -> id, Graph.edge circuit.Shape id ]
        let adjacency from into =
            edges |> List.groupBy (snd >> from) |> List.map (fun (node, es) -> node, es |> List.map (snd >> into)) |> Map.ofList
        let fromInput = reachable Input (adjacency (fun e -> e.Sender) (fun e -> Receiver.node e.Receiver))
        let toLogits = reachable Logits (adjacency (fun e -> Receiver.node e.Receiver) (fun e -> e.Sender))
        let kept = edges |> List.filter (fun (_, e) -> fromInput.Contains e.Sender && toLogits.Contains(Receiver.node e.Receiver))
        { circuit with Edges = kept |> List.map fst |> Set.ofList }
