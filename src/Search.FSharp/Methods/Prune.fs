module PatchDescent.Search.Methods.Prune

open PatchDescent.Search

type PruneResult = { Scores: float[]; Circuit: Circuit; Faithfulness: float; Trials: int }

let defaultFloor = 0.9

let run floor (engine: Engine.CompiledEngine) batches metric =
    if List.isEmpty batches then invalidArg "batches" "elimination needs at least one batch"
    if not (floor > 0.0 && floor <= 1.0) then invalidArg "floor" $"the prune floor is {floor}; it must lie in (0, 1]"
    let schedule = engine.Schedule
    let n = schedule.ParamCount
    let at coefficients = Attribution.metricAt engine batches metric coefficients
    let full, empty = at (Array.create n 1.0), at (Array.zeroCreate n)
    if full = empty then
        invalidArg "metric" $"m(full) = m(empty) = {full}: faithfulness is undefined, so elimination has no criterion; choose a metric or pairs on which ablating every edge changes the metric"
    let faithfulness m = (m - empty) / (full - empty)
    let without (kept: float[]) i =
        let c = Array.copy kept
        c[i] <- 0.0
        c
    let alone = Array.init n (fun i -> abs (1.0 - faithfulness (at (without (Array.create n 1.0) i))))
    let order = Array.init n id |> Array.sortBy (fun i -> alone[i], i)
    // The fold carries the coefficients, the faithfulness of the circuit they make, and the step each removal took.
    let kept, f, removedAt =
        order
        |> Array.indexed
        |> Array.fold (fun (current: float[], f, removed: Map<int, int>) (step, i) ->
            let trial = without current i
            let g = faithfulness (at trial)
            if abs (1.0 - g) <= 1.0 - floor then trial, g, Map.add i (step + 1) removed
            else current, f, removed) (Array.create n 1.0, 1.0, Map.empty)
    let perParam = Array.init n (fun i -> if kept[i] = 1.0 then float n + 1.0 + alone[i] else float removedAt[i])
    let edges = Graph.edges schedule.Shape
    let survives id =
        match schedule.Source[id] with
        | Param i -> kept[i] = 1.0
        | Fixed v -> v > 0.0
    { Scores = Attribution.edgeScores engine perParam
      Circuit = Circuit.ofEdges schedule.Shape [ for id in 0 .. edges.Length - 1 do if survives id then edges[id] ]
      Faithfulness = f
      Trials = 2 * n }
