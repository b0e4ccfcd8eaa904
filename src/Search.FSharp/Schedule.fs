namespace PatchDescent.Search

[<RequireQualifiedAccess>]
type Grouping =
    | Qkv
    | BySender
    | Named of string

type Rule =
    | Learn of EdgeSet
    | Fix of EdgeSet * value: float
    | Initial of EdgeSet * value: float
    | Tie of Grouping * EdgeSet

type Schedule = { Shape: GraphShape; Rules: Rule list }

type EdgeSource =
    | Fixed of float
    | Param of int

type ResolvedSchedule =
    { Shape: GraphShape
      ParamCount: int
      Init: float[]
      Source: EdgeSource[]
      ParamNames: string[] }

module Schedule =
    let learnAll shape = { Shape = shape; Rules = [ Learn Edges.all ] }
    let fixAll shape value = { Shape = shape; Rules = [ Fix(Edges.all, value) ] }

    let private add rule (schedule: Schedule) = { schedule with Rules = schedule.Rules @ [ rule ] }
    let learn edges schedule = add (Learn edges) schedule
    let fix edges value schedule = add (Fix(edges, value)) schedule
    let initial edges value schedule = add (Initial(edges, value)) schedule
    let tie grouping edges schedule = add (Tie(grouping, edges)) schedule
    let tieQkv schedule = tie Grouping.Qkv Edges.all schedule
    let tieBySender schedule = tie Grouping.BySender Edges.all schedule
    let restrict nodes schedule = fix (Edges.except Edges.all (Edges.within nodes)) 1.0 schedule

    let heads shape =
        learnAll shape
        |> tieQkv
        |> fix (Edges.touching Nodes.mlps) 1.0
        |> fix (Edges.inter [ Edges.from Nodes.input; Edges.into Nodes.logits ]) 1.0

    let ofGranularity shape granularity =
        match granularity with
        | Granularity.Full -> learnAll shape
        | Granularity.Heads -> heads shape

    let combine (earlier: Schedule) (later: Schedule) =
        if earlier.Shape <> later.Shape then
            invalidArg (nameof later) $"cannot combine schedules of different graphs: %A{earlier.Shape} and %A{later.Shape}"
        { earlier with Rules = earlier.Rules @ later.Rules }

    /// What the rules say about one edge; `Group` is the name of its coefficient.
    type private EdgeState = { Fixed: float option; Init: float; Group: string }

    let private groupName grouping edge =
        match grouping, edge.Receiver with
        | Grouping.Qkv, HeadIn(l, h, _) -> Some $"{Node.name edge.Sender}->{Node.name (Head(l, h))}"
        | Grouping.Qkv, _ -> None
        | Grouping.BySender, _ -> Some $"{Node.name edge.Sender}->*"
        | Grouping.Named name, _ -> Some name

    let private apply edge state rule =
        match rule with
        | Learn edges when Edges.contains edges edge -> { state with Fixed = None }
        | Fix(edges, value) when Edges.contains edges edge -> { state with Fixed = Some value }
        | Initial(edges, value) when Edges.contains edges edge -> { state with Init = value }
        | Tie(grouping, edges) when Edges.contains edges edge ->
            match groupName grouping edge with
            | Some group -> { state with Group = group }
            | None -> state
        | _ -> state

    // Written so that NaN fails too.
    let private isCoefficient value = 0.0 <= value && value <= 1.0

    let private valueProblems (edge, state) =
        match state.Fixed with
        | Some v when not (isCoefficient v) -> [ $"{Edge.name edge} is fixed at {v}, outside [0, 1]" ]
        | None when not (isCoefficient state.Init) -> [ $"{Edge.name edge} starts at {state.Init}, outside [0, 1]" ]
        | _ -> []

    let private groupProblems (group, members: (Edge * EdgeState)[]) =
        let fixedOnes, learned = members |> Array.partition (fun (_, s) -> s.Fixed.IsSome)
        let example (edge, value) = $"{Edge.name edge} at %g{value}"
        let disagree (values: (Edge * float)[]) what =
            match values |> Array.distinctBy snd with
            | [| _ |] -> []
            | distinct ->
                let shown = distinct |> Array.truncate 3 |> Array.map example |> String.concat ", "
                [ $"the edges tied as {group} are {what} ({shown}); one coefficient has one value" ]
        match fixedOnes, learned with
        | [||], _ -> disagree (learned |> Array.map (fun (e, s) -> e, s.Init)) "learnable but start from different values"
        | _, [||] -> disagree (fixedOnes |> Array.map (fun (e, s) -> e, s.Fixed.Value)) "fixed at different values"
        | _ ->
            [ $"the edges tied as {group} mix learnable ones ({Edge.name (fst learned[0])}) with fixed ones "
              + $"({example (fst fixedOnes[0], (snd fixedOnes[0]).Fixed.Value)}): fix or learn the whole group, "
              + "or tie only edges of one kind" ]

    let resolve (schedule: Schedule) =
        let shape = schedule.Shape
        let edges = Graph.edges shape
        let states =
            edges
            |> Array.map (fun edge ->
                let start = { Fixed = Some 1.0; Init = 1.0; Group = Edge.name edge }
                edge, schedule.Rules |> List.fold (apply edge) start)
        // Groups in the order of their first edge, so parameter numbers depend on the schedule alone.
        let groups =
            states
            |> Array.indexed
            |> Array.groupBy (fun (_, (_, s)) -> s.Group)
            |> Array.sortBy (fun (_, members) -> fst members[0])
            |> Array.map (fun (group, members) -> group, Array.map snd members)
        let problems =
            List.ofSeq (Seq.collect valueProblems states) @ List.ofSeq (Seq.collect groupProblems groups)
        match problems with
        | [] ->
            let parameters = groups |> Array.filter (fun (_, members) -> (snd members[0]).Fixed.IsNone)
            let index = parameters |> Array.mapi (fun i (group, _) -> group, i) |> dict
            let source =
                states
                |> Array.map (fun (_, s) ->
                    match s.Fixed with
                    | Some v -> Fixed v
                    | None -> Param index[s.Group])
            Ok
                { Shape = shape
                  ParamCount = parameters.Length
                  Init = parameters |> Array.map (fun (_, members) -> (snd members[0]).Init)
                  Source = source
                  ParamNames = parameters |> Array.map fst }
        | _ ->
            let shown = problems |> List.truncate 5 |> List.map (sprintf "  %s")
            let more = if problems.Length > 5 then [ $"  ... and {problems.Length - 5} more" ] else []
            Error(String.concat "\n" ("the schedule cannot be resolved:" :: shown @ more))
