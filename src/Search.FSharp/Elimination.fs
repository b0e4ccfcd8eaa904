namespace PatchDescent.Search

open PatchDescent.Search.Methods

[<NoEquality; NoComparison>]
type Oracle =
    { Schedule: ResolvedSchedule
      Metric: float[] -> float
      Full: float
      Empty: float }

type StageOutcome = { Kept: Set<int>; Faithfulness: float; Removed: int list; Trials: int; Exhausted: bool }

type NestedOutcome = { BestFirst: int list; Trials: int; Alternatives: int; Exhausted: bool }

module Elimination =
    let oracle (engine: Engine.CompiledEngine) batches metric =
        if List.isEmpty batches then invalidArg "batches" "elimination needs at least one batch"
        let at = Attribution.metricAt engine batches metric
        let n = engine.ParamCount
        let full, empty = at (Array.create n 1.0), at (Array.zeroCreate n)
        if full = empty then
            invalidArg "metric" $"m(full) = m(empty) = {full}: faithfulness is undefined, so elimination has no criterion; choose a metric or pairs on which ablating every edge changes the metric"
        { Schedule = engine.Schedule; Metric = at; Full = full; Empty = empty }

    let parameters (o: Oracle) = Set.ofSeq (seq { 0 .. o.Schedule.ParamCount - 1 })

    let circuit (s: ResolvedSchedule) (kept: Set<int>) =
        let inCircuit id =
            match s.Source[id] with
            | Param i -> kept.Contains i
            | Fixed v -> v > 0.0
        Extract.prune { Shape = s.Shape; Edges = Set.ofSeq (seq { for id in 0 .. s.Source.Length - 1 do if inCircuit id then id }) }

    let pruned (s: ResolvedSchedule) kept =
        let c = circuit s kept
        Set.ofSeq (seq { for id in c.Edges do match s.Source[id] with Param i -> i | Fixed _ -> () })

    let faithfulness (o: Oracle) kept =
        (o.Metric (Circuit.coefficients o.Schedule (circuit o.Schedule kept)) - o.Empty) / (o.Full - o.Empty)

    let private distance f = abs (1.0 - f)

    /// The parameters a removal took, the one removed last: those it left dangling, in parameter order, then it.
    let private removal (before: Set<int>) (after: Set<int>) p =
        [ for q in Set.difference before after do if q <> p then q ] @ [ p ]

    /// A trial of kept-without-p, pruned, with its faithfulness.
    let private without o (kept: Set<int>) p =
        let trial = pruned o.Schedule (Set.remove p kept)
        trial, faithfulness o trial

    let sequential (o: Oracle) floor (order: int list) (kept: Set<int>) budget =
        if not (floor > 0.0 && floor <= 1.0) then invalidArg "floor" $"the prune floor is {floor}; it must lie in (0, 1]"
        let start = pruned o.Schedule kept
        let rec go (kept: Set<int>) f removed trials order =
            match order with
            | [] -> { Kept = kept; Faithfulness = f; Removed = List.rev removed; Trials = trials; Exhausted = false }
            | p :: rest when not (kept.Contains p) -> go kept f removed trials rest
            | _ when trials >= budget -> { Kept = kept; Faithfulness = f; Removed = List.rev removed; Trials = trials; Exhausted = true }
            | p :: rest ->
                let trial, g = without o kept p
                if distance g <= 1.0 - floor then go trial g (List.rev (removal kept trial p) @ removed) (trials + 1) rest
                else go kept f removed (trials + 1) rest
        // The start's own faithfulness is one trial more, paid before any removal.
        if budget < 1 then { Kept = start; Faithfulness = nan; Removed = []; Trials = 0; Exhausted = true }
        else
            let f = faithfulness o start
            // A start outside the floor has no faithfulness to keep: the stage ends there and leaves its budget to
            // the stages after it, instead of spending it on removals that must each land inside the floor.
            if distance f > 1.0 - floor then { Kept = start; Faithfulness = f; Removed = []; Trials = 1; Exhausted = false }
            else go start f [] 1 order

    let greedy (o: Oracle) shortlist target (order: int list) (kept: Set<int>) budget =
        if shortlist < 1 then invalidArg "shortlist" $"the shortlist is {shortlist}; it must be 1 or more"
        let rank = order |> List.indexed |> List.map (fun (i, p) -> p, i) |> Map.ofList
        let position p = Map.tryFind p rank |> Option.defaultValue System.Int32.MaxValue
        // stale: each parameter's distance when its removal was last tried, the estimate a round sorts by.
        let rec go (kept: Set<int>) f removed trials (stale: Map<int, float>) =
            let estimate p = Map.tryFind p stale |> Option.defaultValue infinity, position p
            let round =
                if stale.IsEmpty then List.ofSeq kept
                else kept |> Seq.sortBy estimate |> Seq.truncate shortlist |> List.ofSeq
            if kept.Count <= target then
                { Kept = kept; Faithfulness = f; Removed = List.rev removed; Trials = trials; Exhausted = false }
            elif trials + round.Length > budget then
                // What the budget cannot try goes in the order given, weakest first, as far as the target.
                let rec fallBack (kept: Set<int>) removed untried =
                    match untried with
                    | p :: rest when kept.Count > target ->
                        if kept.Contains p then
                            let after = pruned o.Schedule (Set.remove p kept)
                            fallBack after (List.rev (removal kept after p) @ removed) rest
                        else fallBack kept removed rest
                    | _ -> kept, removed
                let kept, removed = fallBack kept removed (kept |> Seq.sortBy position |> List.ofSeq)
                { Kept = kept; Faithfulness = nan; Removed = List.rev removed; Trials = trials; Exhausted = true }
            else
                let tried = [ for p in round -> p, without o kept p ]
                let p, (after, g) = tried |> List.minBy (fun (p, (_, g)) -> distance g, position p)
                let stale = tried |> List.fold (fun m (q, (_, d)) -> Map.add q (distance d) m) stale
                go after g (List.rev (removal kept after p) @ removed) (trials + tried.Length) stale
        go (pruned o.Schedule kept) nan [] 0 Map.empty

    let swaps (o: Oracle) (pool: int list) (order: int list) (kept: Set<int>) budget =
        let start = pruned o.Schedule kept
        let rec visit (kept: Set<int>) f out trials pool =
            match pool with
            | [] -> { Kept = kept; Faithfulness = f; Removed = List.rev out; Trials = trials; Exhausted = false }
            | q :: rest when kept.Contains q -> visit kept f out trials rest
            | q :: rest ->
                // The first kept parameter whose exchange for q helps; None when none does.
                let rec exchange trials candidates =
                    match candidates with
                    | [] -> None, trials, false
                    | _ when trials >= budget -> None, trials, true
                    | p :: others ->
                        let trial = pruned o.Schedule (Set.add q (Set.remove p kept))
                        let g = if trial.Count <= kept.Count then faithfulness o trial else nan
                        if distance g < distance f then Some (p, trial, g), trials + 1, false
                        else exchange (trials + 1) others
                let candidates = [ for p in order do if kept.Contains p then p ]
                match exchange trials candidates with
                | Some (p, trial, g), trials, _ -> visit trial g (p :: out) trials rest
                | None, trials, true -> { Kept = kept; Faithfulness = f; Removed = List.rev out; Trials = trials; Exhausted = true }
                | None, trials, false -> visit kept f out trials rest
        if budget < 1 then { Kept = start; Faithfulness = nan; Removed = []; Trials = 0; Exhausted = true }
        else visit start (faithfulness o start) [] 1 pool

    /// How many of the best outside and the weakest inside a nested size's swaps try.
    let private swapWidth = 3

    /// The trials a nested size's swaps may take.
    let private swapBudget = 8

    let nested (o: Oracle) (anchor: int list) (sizes: int list) (orders: int list list) budget =
        let incumbent = match orders with first :: _ -> first | [] -> invalidArg "orders" "nested needs at least one order"
        let n = o.Schedule.ParamCount
        let anchorSet = Set.ofList anchor
        if anchorSet.Count <> anchor.Length || List.truncate anchor.Length incumbent <> anchor then
            invalidArg "anchor" "the anchor must be the first order's prefix, each parameter once"
        let position = incumbent |> List.indexed |> List.map (fun (i, p) -> p, i) |> Map.ofList
        let at p = Map.tryFind p position |> Option.defaultValue System.Int32.MaxValue
        let sizes = anchor.Length :: sizes |> List.filter (fun k -> k >= 0 && k < n) |> List.distinct |> List.sortDescending
        // The first k of an order within the set above; above the anchor's size every set holds the anchor.
        let pick (above: Set<int>) k (order: int list) =
            let within = order |> Seq.filter above.Contains
            if k >= anchorSet.Count then
                Set.union anchorSet (within |> Seq.filter (anchorSet.Contains >> not) |> Seq.truncate (k - anchorSet.Count) |> Set.ofSeq)
            else within |> Seq.truncate k |> Set.ofSeq
        // First-improvement swaps at one size: one of the `swapWidth` best of the winning order outside the set
        // for one of the set's `swapWidth` weakest, while one brings the circuit closer and the size's budget lasts.
        let rec improve (above: Set<int>) (held: Set<int>) (winning: int list) (set: Set<int>) d trials left =
            let ins = winning |> List.filter (fun p -> above.Contains p && not (set.Contains p)) |> List.truncate swapWidth
            let outs = winning |> List.filter (fun p -> set.Contains p && not (held.Contains p)) |> List.rev |> List.truncate swapWidth
            let rec first trials pairs =
                match pairs with
                | [] -> None, trials
                | _ when trials >= left -> None, trials
                | (q, p) :: rest ->
                    let trial = Set.add q (Set.remove p set)
                    let e = distance (faithfulness o trial)
                    if e < d then Some (trial, e), trials + 1 else first (trials + 1) rest
            match first 0 [ for q in ins do for p in outs -> q, p ] with
            | Some (better, e), used -> improve above held winning better e (trials + used) (left - used)
            | None, used -> set, trials + used
        let rec go (above: Set<int>) sets trials chosen exhausted sizes =
            match sizes with
            | [] -> sets, trials, chosen, exhausted
            | _ :: _ when trials + orders.Length > budget -> sets, trials, chosen, true
            | k :: rest ->
                let candidates = orders |> List.map (fun order -> pick above k order, order) |> List.distinctBy fst
                let scored = candidates |> List.indexed |> List.map (fun (i, (c, order)) -> i, c, order, distance (faithfulness o c))
                let i, best, winning, d = scored |> List.minBy (fun (i, _, _, d) -> d, i)
                // A set above the anchor's size keeps the anchor, as its candidates did; one below lies within it.
                let swapped, used =
                    if k = anchorSet.Count || k = 0 then best, 0
                    else
                        let held = if k > anchorSet.Count then anchorSet else Set.empty
                        improve above held winning best d 0 (min swapBudget (budget - trials - scored.Length))
                go swapped (swapped :: sets) (trials + scored.Length + used) (if i > 0 || swapped <> best then chosen + 1 else chosen) exhausted rest
        let sets, trials, chosen, exhausted = go (parameters o) [] 0 0 false sizes
        // Bands from the smallest set up, each in the first order's order, then what no set holds.
        let bands = List.pairwise (Set.empty :: sets @ [ parameters o ]) |> List.map (fun (inner, outer) -> Set.difference outer inner)
        { BestFirst = bands |> List.collect (fun band -> band |> Seq.sortBy (fun p -> at p, p) |> List.ofSeq)
          Trials = trials; Alternatives = chosen; Exhausted = exhausted }

    let rankingScores (schedule: ResolvedSchedule) (bestFirst: int list) =
        let n = schedule.ParamCount
        if List.distinct bestFirst <> bestFirst then invalidArg "bestFirst" "the order names a parameter twice"
        match bestFirst |> List.tryFind (fun p -> p < 0 || p >= n) with
        | Some p -> invalidArg "bestFirst" $"the order names parameter {p}; the schedule has {n}"
        | None -> ()
        let listed = Set.ofList bestFirst
        let whole = bestFirst @ [ for p in 0 .. n - 1 do if not (listed.Contains p) then p ]
        let scores = Array.zeroCreate n
        whole |> List.iteri (fun i p -> scores[p] <- float (n - i) / float n)
        scores

