module PatchDescent.Search.Methods.Acdc

open TorchSharp
open PatchDescent.Search

type AcdcResult = { Scores: float[]; Circuit: Circuit; Kl: float; Trials: int }

let private kl (inputs: LossInputs) =
    use scope = torch.NewDisposeScope()
    (Loss.evaluate Loss.kl inputs).Total.MoveToOuterDisposeScope()

let run tau (engine: Engine.CompiledEngine) batches =
    if List.isEmpty batches then invalidArg "batches" "ACDC needs at least one batch"
    if not (tau >= 0.0) then invalidArg "tau" $"tau is {tau}; it must be 0 or more"
    let schedule = engine.Schedule
    let shape = schedule.Shape
    let edges = Graph.edges shape
    let current = Array.create schedule.ParamCount 1.0
    let coefficient id =
        match schedule.Source[id] with
        | Param i -> current[i]
        | Fixed v -> v
    let outgoing =
        edges |> Array.indexed |> Array.groupBy (fun (_, e) -> e.Sender) |> Map.ofArray |> Map.map (fun _ es -> Array.map fst es)
    let edgesOf =
        schedule.Source |> Array.indexed |> Array.choose (function (id, Param i) -> Some(i, id) | _ -> None)
        |> Array.groupBy fst |> Map.ofArray |> Map.map (fun _ es -> Array.map snd es)
    // Edges go from lower to higher receivers, so by the time a node's first receiver is visited every edge out of
    // it has been decided and whether it still reaches the logits is final.
    let live = System.Collections.Generic.Dictionary<Node, bool>()
    let rec reaches node =
        match node with
        | Logits -> true
        | _ ->
            match live.TryGetValue node with
            | true, v -> v
            | _ ->
                let v =
                    Map.tryFind node outgoing |> Option.defaultValue [||]
                    |> Array.exists (fun id -> coefficient id > 0.0 && reaches (Receiver.node edges[id].Receiver))
                live[node] <- v
                v
    let klNow () = Attribution.metricAt engine batches kl current
    let scores = Array.zeroCreate<float> schedule.ParamCount
    let tried = Array.zeroCreate<bool> schedule.ParamCount
    let mutable currentKl = klNow ()
    let mutable trials = 0
    // Edge ids run by receiver, then sender, so descending ids visit receivers from the logits back and, within
    // one, senders from the nearest upstream to the input.
    for id in edges.Length - 1 .. -1 .. 0 do
        match schedule.Source[id] with
        | Fixed _ -> ()
        | Param i when tried[i] -> ()
        | Param i ->
            tried[i] <- true
            let node = Receiver.node edges[id].Receiver
            // Only the visited node's reach is final here; a parameter tied across nodes is always tried.
            if edgesOf[i] |> Array.forall (fun e -> Receiver.node edges[e].Receiver = node) && not (reaches node) then
                current[i] <- 0.0
            else
                current[i] <- 0.0
                let trial = klNow ()
                trials <- trials + 1
                let change = trial - currentKl
                scores[i] <- abs change
                if change < tau then currentKl <- trial else current[i] <- 1.0
    let kept = [ for id in 0 .. edges.Length - 1 do if coefficient id > 0.0 then edges[id] ]
    { Scores = Attribution.edgeScores engine scores
      Circuit = Circuit.ofEdges shape kept
      Kl = currentKl
      Trials = trials }
