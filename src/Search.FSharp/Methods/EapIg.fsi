/// EAP with integrated gradients (Hanna et al. 2024), integrating along the coefficients rather than the input
/// embeddings: every learnable coefficient goes from 0 (the ablated run) to 1 (the full model) together.
module PatchDescent.Search.Methods.EapIg

open TorchSharp
open PatchDescent.Search

/// For each learnable coefficient, the integral over t in [0, 1] of dm/da at a = t (every learnable coefficient t,
/// fixed edges at their value) by the midpoint rule with `steps` points t = (k + 1/2) / steps: `steps` forward and
/// backward passes per batch. Their sum approaches m(all 1) - m(all 0) (completeness) with an error of order
/// 1/steps^2. Fails for steps below 1.
val attributions: steps: int -> Engine.CompiledEngine -> PreparedBatchWithTargets list -> metric: (LossInputs -> torch.Tensor) -> float[]
/// One score per Full-graph edge for ranking: |attribution|, spread by `Attribution.edgeScores`.
val scores: steps: int -> Engine.CompiledEngine -> PreparedBatchWithTargets list -> metric: (LossInputs -> torch.Tensor) -> float[]
