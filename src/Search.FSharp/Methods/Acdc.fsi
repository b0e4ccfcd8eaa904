/// ACDC (Conmy et al. 2023) in the engine: edges are tried from the logits backwards and each is removed for good
/// when removing it raises KL(full || current circuit) by less than tau; every trial is one patched forward pass
/// per batch under no_grad.
module PatchDescent.Search.Methods.Acdc

open PatchDescent.Search

/// What ACDC found.
type AcdcResult =
    { /// One score per Full-graph edge: |KL change| when the edge's parameter was tried (0 when it was never tried
      /// because its receiver no longer reaches the logits); edges the schedule fixes score as `Attribution.edgeScores` gives them.
      Scores: float[]
      /// The edges ACDC kept: learnable edges whose parameter survived, and edges fixed above 0. Not pruned.
      Circuit: Circuit
      /// KL(full || circuit) in nats at the end, pair-weighted over the batches.
      Kl: float
      /// Number of trials, each one engine pass per batch.
      Trials: int }

/// Runs ACDC on the learnable parameters of the engine's schedule, starting from every one at 1. Order: receivers
/// from the logits backwards (descending receiver order of `Graph.receivers`), and for each receiver its senders
/// from the nearest upstream to the input (descending sender order); a tied parameter is tried once, at its first
/// edge in that order. Before trying, a parameter whose edges all enter the visited node, when that node no longer
/// reaches the logits through kept edges, is removed untried (it cannot change the output). The trial sets the parameter to 0; when
/// KL(new) - KL(current) < tau it stays 0. Fails for no batches or a negative or NaN tau.
val run: tau: float -> Engine.CompiledEngine -> PreparedBatchWithTargets list -> AcdcResult
