/// Edge attribution patching (Syed et al. 2023) in the engine: at a = 1 the gradient of a metric with respect to
/// a_e is (x_s - xc_s) . dm/d(input_r), EAP's first-order estimate of what removing the edge does to the metric.
module PatchDescent.Search.Methods.Eap

open TorchSharp
open PatchDescent.Search

/// dm/da for each learnable coefficient at a = 1 (signed; removing the edge changes the metric by about minus it):
/// one forward and one backward pass per batch, the metric a pair-weighted mean over the batches.
val attributions: Engine.CompiledEngine -> PreparedBatchWithTargets list -> metric: (LossInputs -> torch.Tensor) -> float[]
/// One score per Full-graph edge for ranking: |attribution|, spread by `Attribution.edgeScores`.
val scores: Engine.CompiledEngine -> PreparedBatchWithTargets list -> metric: (LossInputs -> torch.Tensor) -> float[]
