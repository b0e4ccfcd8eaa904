/// Losses and regularisers as values: a loss describes what to minimise, and `Loss.evaluate` alone turns it into
/// TorchSharp scalars. Every term compares next-token predictions at the last position of the logits it is given,
/// the patched model's against the full model's (unpatched, on the clean input); for a padded batch the caller
/// passes each prompt's last real position (`Engine.PreparedBatch.AtLastPositions`).
namespace PatchDescent.Search

open TorchSharp

/// One quantity a loss can be built from; each is a mean over the batch.
[<RequireQualifiedAccess>]
type Term =
    /// KL(full || patched) of the next-token distributions, in nats.
    | Kl
    /// Minus the logit difference, logit[answer] - logit[wrong], of the patched model: minimising it raises the
    /// answer over the wrong token. Needs wrong-answer ids.
    | LogitDiff
    /// Minus (the summed probability of the Above tokens - that of the AtOrBelow tokens) under the patched model.
    | ProbDiff of ThresholdSet
    /// The same with each pair's own threshold set (greater-than: the years above and at or below the pair's start
    /// year), read from `Thresholds`. Named `prob_diff` too.
    | PairProbDiff
    /// Cross-entropy of the answer token under the patched model, in nats.
    | CrossEntropy
    /// Mean of the learnable coefficients (each in [0, 1]): the simple sparsity pressure. Needs coefficients.
    | L1

/// A loss: terms, scaled and summed. Scripts write `Loss.kl + 0.01 * Loss.l1`.
type Loss =
    /// One term, weight 1.
    | Term of Term
    /// A loss times a weight.
    | Weighted of weight: float * Loss
    /// The sum of losses.
    | Sum of Loss list

    /// The sum of two losses, flattened into one `Sum`.
    static member (+): Loss * Loss -> Loss
    /// A loss times a weight.
    static member (*): float * Loss -> Loss

/// What a loss reads. All tensors live on one device; logits share one dtype.
[<NoEquality; NoComparison>]
type LossInputs =
    { /// Logits of the patched model [batch, pos, vocab]; what gradients flow through.
      Patched: torch.Tensor
      /// Logits of the full model [batch, pos, vocab]; read without gradient.
      Full: torch.Tensor
      /// Answer ids [batch], int64.
      Answers: torch.Tensor
      /// Wrong-answer ids [batch], int64, for the logit difference.
      Wrongs: torch.Tensor option
      /// Per-pair token weights [batch, vocab] for `PairProbDiff` (`Loss.thresholdWeights`): +1 for a pair's Above
      /// tokens, -1 for its AtOrBelow tokens, 0 elsewhere.
      Thresholds: torch.Tensor option
      /// The learnable coefficients [params], for sparsity.
      Coefficients: torch.Tensor option }

/// A loss's value: the total to back-propagate and each distinct term, unweighted, for progress printing.
[<NoEquality; NoComparison>]
type LossValue =
    { /// The weighted sum, a 0-dim tensor.
      Total: torch.Tensor
      /// Each distinct term's name (`Term.name`) and unweighted 0-dim value, in order of first appearance.
      Terms: (string * torch.Tensor) list }

/// Term names.
module Term =
    /// The name printed in progress lines: `kl`, `logit_diff`, `prob_diff`, `cross_entropy`, `l1`.
    val name: Term -> string

/// Building and evaluating losses.
module Loss =
    /// KL(full || patched) at the last position.
    val kl: Loss
    /// Minus the logit difference answer - wrong of the patched model.
    val logitDiff: Loss
    /// Minus (probability above - probability at or below) of the patched model.
    val probDiff: above: int list -> atOrBelow: int list -> Loss
    /// Minus (probability above - probability at or below) of the patched model, each pair with its own threshold set.
    val pairProbDiff: Loss
    /// The `Thresholds` weights of a batch's threshold sets: [pairs, vocabSize], float32, on the device; a token
    /// listed twice counts twice, as in `ProbDiff`. Fails naming a token outside the vocabulary.
    val thresholdWeights: sets: ThresholdSet[] -> vocabSize: int -> device: torch.Device -> torch.Tensor
    /// Cross-entropy of the answer under the patched model.
    val crossEntropy: Loss
    /// Mean coefficient.
    val l1: Loss
    /// The distinct terms of a loss, in order of first appearance.
    val terms: Loss -> Term list
    /// Evaluates a loss without reading any value back to the host. Fails, naming the term, when a term's input is
    /// missing or shaped wrongly, and for an empty sum.
    val evaluate: Loss -> LossInputs -> LossValue
    /// The evaluation metric: the mean logit difference logit[answer] - logit[wrong] of `Patched` at the last
    /// position (the negation of the `LogitDiff` term); pass the full logits as `Patched` to measure the full model.
    val logitDiffMetric: LossInputs -> torch.Tensor
    /// The evaluation metric of greater-than style tasks: the mean over pairs of the probability of the pair's Above
    /// tokens minus that of its AtOrBelow tokens under `Patched` (the negation of the `PairProbDiff` term).
    val pairProbDiffMetric: LossInputs -> torch.Tensor
