/// What the attribution baselines share: a metric and its gradient with respect to every learnable coefficient,
/// over all batches weighted by pairs, and per-parameter scores spread over the Full graph's edges.
module PatchDescent.Search.Methods.Attribution

open TorchSharp
open PatchDescent.Search

/// The pair-weighted mean over the batches of the metric (a 0-dim tensor per batch, as `Evaluation.Metric`) with
/// the learnable coefficients at the given values [params], under no_grad: one engine pass per batch.
val metricAt: Engine.CompiledEngine -> PreparedBatchWithTargets list -> metric: (LossInputs -> torch.Tensor) -> coefficients: float[] -> float
/// The gradient of `metricAt` with respect to each learnable coefficient, at the given values: one forward and one
/// backward pass per batch. Fails for no batches or a coefficient count that is not the engine's.
val gradientAt: Engine.CompiledEngine -> PreparedBatchWithTargets list -> metric: (LossInputs -> torch.Tensor) -> coefficients: float[] -> float[]
/// Per-edge scores from one nonnegative score per learnable parameter: tied edges share their parameter's score;
/// an edge the schedule fixes scores its fixed value times the largest parameter score, so that edges fixed at 1
/// rank with the strongest and those fixed at 0 last (as `Train.edgeScores` gives fixed edges their value, the top
/// or bottom of its range). Fails when the count is not the engine's parameter count.
val edgeScores: Engine.CompiledEngine -> perParam: float[] -> float[]
