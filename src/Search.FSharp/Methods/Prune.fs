module PatchDescent.Search.Methods.Prune

open PatchDescent.Search

type PruneResult = { Scores: float[]; Circuit: Circuit; Faithfulness: float; Trials: int }

let defaultFloor = 0.9

let run floor (engine: Engine.CompiledEngine) batches metric =
    if not (floor > 0.0 && floor <= 1.0) then invalidArg "floor" $"the prune floor is {floor}; it must lie in (0, 1]"
    let o = Elimination.oracle engine batches metric
    let all = Elimination.parameters o
    let alone = Map.ofList [ for p in all -> p, abs (1.0 - Elimination.faithfulness o (Set.remove p all)) ]
    let order = all |> Seq.sortBy (fun p -> alone[p], p) |> List.ofSeq
    let unbounded = System.Int32.MaxValue
    let kept = Elimination.sequential o floor order all unbounded
    // The order within the circuit, for the curve below its size: the greedy removals down to nothing.
    let within = Elimination.greedy o kept.Kept.Count 0 order kept.Kept unbounded
    let bestFirst = List.rev (kept.Removed @ within.Removed)
    { Scores = Attribution.edgeScores engine (Elimination.rankingScores engine.Schedule bestFirst)
      Circuit = Elimination.circuit engine.Schedule kept.Kept
      Faithfulness = kept.Faithfulness
      Trials = alone.Count + kept.Trials + within.Trials }
