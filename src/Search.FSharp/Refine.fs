namespace PatchDescent.Search

type Refined = { BestFirst: int list; Kept: Set<int>; Candidates: Set<int>; Trials: int; Exhausted: bool }

module Refine =
    /// The lazy greedy's shortlist: each removal after the first round tries this many parameters.
    let private shortlist = 4

    let annealOrder (trained: TrainResult) =
        List.init trained.LogAlpha.Length id
        |> List.sortBy (fun p -> -trained.LastOpen[p], -trained.LogAlpha[p], p)

    let candidates (schedule: ResolvedSchedule) (trained: TrainResult) =
        let circuit = Extract.threshold schedule.Shape trained.Scores 0.5
        Elimination.pruned schedule (Set.ofSeq (seq { for id in circuit.Edges do match schedule.Source[id] with Param i -> i | Fixed _ -> () }))

    let run refinement trials target (oracle: Lazy<Oracle>) (schedule: ResolvedSchedule) (trained: TrainResult) =
        let order = annealOrder trained
        let weakestFirst = List.rev order
        let open' = candidates schedule trained
        let floor =
            match refinement with
            | NoRefinement -> None
            | PruneRefinement f | SwapRefinement f -> Some f
        match floor with
        | None -> { BestFirst = order; Kept = open'; Candidates = open'; Trials = 0; Exhausted = false }
        | Some floor ->
            let o = oracle.Force()
            let untouched = { Kept = open'; Faithfulness = nan; Removed = []; Trials = 0; Exhausted = false }
            let pared =
                match target with
                | Some k when open'.Count > k -> Elimination.greedy o shortlist k weakestFirst open' trials
                | Some _ -> untouched
                | None -> Elimination.sequential o floor weakestFirst open' trials
            let swapped =
                match refinement with
                | SwapRefinement _ ->
                    let pool = List.rev pared.Removed
                    Elimination.swaps o pool weakestFirst pared.Kept (trials - pared.Trials)
                | _ -> { untouched with Kept = pared.Kept }
            let within = Elimination.greedy o shortlist 0 weakestFirst swapped.Kept (trials - pared.Trials - swapped.Trials)
            let bestFirst = List.rev within.Removed @ List.rev swapped.Removed @ List.rev pared.Removed @ order |> List.distinct
            { BestFirst = bestFirst; Kept = swapped.Kept; Candidates = open'; Trials = pared.Trials + swapped.Trials + within.Trials
              Exhausted = pared.Exhausted || swapped.Exhausted || within.Exhausted }
