/// The task metric a circuit is scored with: a value naming what to read from the logits, higher meaning the
/// model does the task better. Every metric is a mean over the batch at the last position of each prompt.
namespace PatchDescent.Search

open TorchSharp

/// What a circuit's faithfulness is measured in.
[<RequireQualifiedAccess>]
type Metric =
    /// logit[answer] - logit[wrong] (IOI). Needs wrong-answer ids.
    | LogitDiff
    /// Summed probability of the Above tokens minus that of the AtOrBelow tokens (greater-than).
    | ProbDiff of ThresholdSet
    /// The same with each pair's own threshold set (greater-than: years above and at or below the pair's start
    /// year), read from the inputs' `Thresholds`. Also named `prob_diff`.
    | PairProbDiff
    /// logit[answer] (induction: how strongly the copied token is predicted).
    | AnswerLogit
    /// Minus the cross-entropy of the answer, in nats.
    | MinusCrossEntropy

/// Naming, choosing and evaluating metrics.
module Metric =
    /// The name reports record: `logit_diff`, `prob_diff`, `answer_logit`, `minus_cross_entropy`.
    val name: Metric -> string
    /// The metric a dataset gets when none is asked for: the per-pair probability difference when every pair has a
    /// threshold set, else the logit difference when every pair has a wrong answer, otherwise minus the
    /// cross-entropy of the answer.
    val defaultFor: PairDataset -> Metric
    /// Whether every pair has what the metric reads: logit_diff a wrong answer (`wrong` / `wrong_id`), the per-pair
    /// prob_diff a threshold set (`above` and `at_or_below`, or their `_ids`); the error names the metric, the
    /// field, the dataset and the first pair without it.
    val check: Metric -> PairDataset -> Result<unit, string>
    /// The metric of `Patched` as a 0-dim tensor, without reading it back; fails naming the metric when an input
    /// it needs is missing or misshapen.
    val evaluate: Metric -> LossInputs -> torch.Tensor
