/// Exact sequential elimination, the reference every method's circuit is judged against on graphs of up to a few
/// thousand edges: each learnable parameter is first removed alone from the full graph to measure its importance,
/// then the parameters are visited from least to most important and each is removed for good when the circuit
/// without it keeps |1 - faithfulness| <= 1 - floor. Every trial is one engine pass per batch with hard 0/1
/// coefficients, under no_grad.
module PatchDescent.Search.Methods.Prune

open PatchDescent.Search

/// What elimination found.
type PruneResult =
    { /// One score per Full-graph edge, a ranking with the kept edges first: a kept parameter scores n + 1 + its
      /// importance alone (n parameters), a removed one the 1-based step at which it went, so that the edges removed
      /// last, which the circuit could least spare, rank next; edges the schedule fixes score as
      /// `Attribution.edgeScores` gives them.
      Scores: float[]
      /// The edges that survived (learnable edges whose parameter stayed 1, and edges fixed above 0), not pruned.
      Circuit: Circuit
      /// The circuit's normalised faithfulness (m(C) - m(empty)) / (m(full) - m(empty)), pair-weighted.
      Faithfulness: float
      /// Trials run: one per parameter alone, then one per parameter in the elimination.
      Trials: int }

/// The default floor, 0.9: an edge goes when faithfulness stays within 0.1 of 1.
val defaultFloor: float
/// Runs elimination with `floor` in (0, 1] on the engine's learnable parameters, scored with `metric` (a 0-dim
/// tensor per batch, as `Evaluation.Metric`); ties in importance are visited in parameter order. Fails for no
/// batches, a floor outside (0, 1], or m(full) = m(empty), where faithfulness is undefined and gives no criterion.
val run: floor: float -> Engine.CompiledEngine -> PreparedBatchWithTargets list -> metric: (LossInputs -> TorchSharp.torch.Tensor) -> PruneResult
