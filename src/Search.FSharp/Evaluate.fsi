/// Evaluating circuits with hard 0/1 coefficients: the metric of the circuit against the full model and the empty
/// circuit, the normalised faithfulness, the KL divergence, and MIB's faithfulness-curve areas CPR and CMD.
namespace PatchDescent.Search

open TorchSharp

/// What an evaluation runs on: an engine, one prepared batch, the tokens the metric reads, and the metric.
[<NoEquality; NoComparison>]
type Evaluation =
    { /// The compiled engine; its schedule decides which parameters a circuit switches (`Circuit.coefficients`).
      Engine: Engine.CompiledEngine
      /// The batch, prepared by that engine.
      Batch: Engine.PreparedBatch
      /// Answer ids [batch], int64.
      Answers: torch.Tensor
      /// Wrong-answer ids [batch], int64, for metrics that need them.
      Wrongs: torch.Tensor option
      /// Per-pair threshold weights [batch, vocab] (`Loss.thresholdWeights`), for metrics that need them.
      Thresholds: torch.Tensor option
      /// The metric, a 0-dim tensor; higher means the model does the task better, e.g. `Loss.logitDiffMetric`. It
      /// reads the logits under evaluation as `Patched`, the full model's as `Full` (both at each prompt's last
      /// real token, [batch, 1, vocab]), and the hard 0/1 coefficients.
      Metric: LossInputs -> torch.Tensor }

/// How well one circuit reproduces the full model on a batch.
type CircuitScores =
    { /// m(C): the metric with the circuit's edges clean and every other learnable edge removed.
      Circuit: float
      /// m(full): the metric with every learnable coefficient at 1 (the unpatched model when the schedule fixes no edge below 1).
      Full: float
      /// m(empty): the metric with every learnable coefficient at 0.
      Empty: float
      /// (m(C) - m(empty)) / (m(full) - m(empty)): 1 for the full circuit, 0 for the empty one; NaN when
      /// m(full) = m(empty), where no circuit can be told apart from another.
      Faithfulness: float
      /// KL(full || circuit) of the next-token distributions at the last position, mean over the batch, in nats.
      Kl: float }

/// One point of a faithfulness curve.
type CurvePoint =
    { /// The fraction of the Full graph's edges asked for, MIB's x axis: K = floor(Level x edges), as MIB's
      /// int(pct * n), so a level too small for one edge asks for none.
      Level: float
      /// How many top-scoring edges were asked for.
      K: int
      /// Edges left after pruning.
      Edges: int
      /// Edges left after pruning over the edges of the Full graph, in [0, 1].
      Fraction: float
      /// Normalised faithfulness of the pruned circuit.
      Faithfulness: float
      /// KL(full || circuit) in nats.
      Kl: float }

/// A faithfulness curve and its areas.
type Curve =
    { /// The points in the order of the requested k.
      Points: CurvePoint list
      /// Area under the faithfulness curve (`Evaluate.cpr`).
      Cpr: float
      /// Area under |1 - faithfulness| (`Evaluate.cmd`).
      Cmd: float }

/// Running evaluations.
module Evaluate =
    /// Scores a circuit under `torch.no_grad`, with three engine passes (circuit, all ones, all zeros). Fails when
    /// the circuit's shape is not the engine's.
    val run: Evaluation -> Circuit -> CircuitScores
    /// Scores a circuit on every batch (each with its pair count) and combines m(C), m(full), m(empty) and KL
    /// weighted by pairs, faithfulness from those means: a mean of per-batch ratios would weigh a batch by how
    /// little its full and empty metrics differ.
    val pooled: (Evaluation * int) list -> Circuit -> CircuitScores
    /// Scores circuits as `pooled` does, with each batch's full-model logits, m(full) and m(empty) computed once, on
    /// creation, so that a circuit costs one engine pass a batch instead of three; owns those logits.
    [<Sealed>]
    type Scorer =
        new: evaluations: (Evaluation * int) list -> Scorer
        /// The circuit's scores, pooled over the batches as `pooled` pools them.
        member Score: circuit: Circuit -> CircuitScores
        interface System.IDisposable
    /// For each k, `Extract.topK` of the scores, pruned with `Extract.prune`, and scored; m(full) and m(empty) are
    /// computed once for the whole curve.
    val curve: Evaluation -> scores: float[] -> ks: int list -> Curve
    /// Whether normalised faithfulness is meaningless for these figures: m(full) and m(empty) differ by at most
    /// 1e-3 of the larger of |m(full)| and |m(empty)|, or both are within 1e-6 of 0, so the ratio divides noise.
    val degenerate: CircuitScores -> bool
    /// CPR as MIB's evaluation computes it: the area under faithfulness over the level asked for (not the
    /// fraction left after pruning), by the trapezoid rule over the points sorted by level, between the smallest
    /// and the largest level present (nothing is extrapolated, so MIB's levels give MIB's area; fewer than two
    /// distinct levels give 0). NaN if a faithfulness is NaN.
    val cpr: CurvePoint list -> float
    /// CMD: the area under |1 - faithfulness| over the level, integrated as `cpr` integrates.
    val cmd: CurvePoint list -> float
