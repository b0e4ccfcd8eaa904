/// Exact sequential elimination, the reference every method's circuit is judged against on graphs of up to a few
/// thousand edges: each learnable parameter is first removed alone from the full graph to measure its importance,
/// then the parameters are visited from least to most important and each is removed for good when the pruned
/// circuit without it keeps |1 - faithfulness| <= 1 - floor (`Elimination.sequential`).
module PatchDescent.Search.Methods.Prune

open PatchDescent.Search

/// What elimination found.
type PruneResult =
    { /// One score per Full-graph edge (`Elimination.rankingScores` through `Attribution.edgeScores`), a ranking
      /// whose top k, for k at most the circuit's size, are the greedy removals' survivors (`Elimination.greedy`
      /// within the circuit), and above it the eliminated parameters, the last removed first.
      Scores: float[]
      /// The pruned circuit of the parameters that survived.
      Circuit: Circuit
      /// The circuit's normalised faithfulness (m(C) - m(empty)) / (m(full) - m(empty)), pair-weighted.
      Faithfulness: float
      /// Trials run: one per parameter alone, the elimination's, and the greedy ordering's within the circuit.
      Trials: int }

/// The default floor, 0.9: an edge goes when faithfulness stays within 0.1 of 1.
val defaultFloor: float
/// Runs elimination with `floor` in (0, 1] on the engine's learnable parameters, scored with `metric` (a 0-dim
/// tensor per batch, as `Evaluation.Metric`); ties in importance are visited in parameter order. Fails for no
/// batches, a floor outside (0, 1], or m(full) = m(empty), where faithfulness is undefined and gives no criterion.
val run: floor: float -> Engine.CompiledEngine -> PreparedBatchWithTargets list -> metric: (LossInputs -> TorchSharp.torch.Tensor) -> PruneResult
