/// The discovery loop: gradient descent on one logit (log alpha) per learnable parameter of a compiled engine, a
/// faithfulness loss plus a sparsity pressure, with hand-written Adam so that one seed gives one result bit for bit.
namespace PatchDescent.Search

open TorchSharp

/// What pushes coefficients towards 0.
type SparsityPressure =
    /// weight * `Gate.expectedL0`, added to the loss: for `Sigmoid` the mean coefficient, for `HardConcrete` the
    /// expected fraction of gates that are nonzero.
    | L1Penalty of weight: float
    /// `Lagrangian.penalty` of the sparsity (1 - `Gate.expectedL0`) against the schedule's target at each step.
    /// The multipliers start at 0 and climb by plain gradient ASCENT with this learning rate (the trainer negates
    /// their gradients), so a missed target costs more every step until the logits meet it.
    | TargetLagrangian of TargetSchedule * lagrangianLearningRate: float

/// A training run as a value.
type TrainSettings =
    { /// Number of optimisation steps.
      Steps: int
      /// Adam's learning rate for the logits (beta1 0.9, beta2 0.999, epsilon 1e-8, with bias correction).
      LearningRate: float
      /// How logits become coefficients.
      Gate: Gate
      /// The faithfulness part of the loss, e.g. `Loss.kl`; its `L1` term, if any, reads the sampled coefficients.
      Loss: Loss
      /// The sparsity pressure added to it.
      Sparsity: SparsityPressure
      /// When set, the gradient of the logits is scaled down to at most this global L2 norm before each Adam step.
      ClipNorm: float option
      /// Seeds the generator of the hard concrete noise, on the model's device; the only source of randomness.
      Seed: int
      /// A `StepLog` after every this many steps (and after the last); also how often the loss is checked for NaN.
      LogEvery: int }

/// One prepared batch and what the loss compares it against.
[<NoEquality; NoComparison>]
type PreparedBatchWithTargets =
    { /// The batch, prepared by the engine that trains on it.
      Batch: Engine.PreparedBatch
      /// Answer ids [batch], int64.
      Answers: torch.Tensor
      /// Wrong-answer ids [batch], int64, for losses that need them.
      Wrongs: torch.Tensor option
      /// Per-pair threshold weights [batch, vocab] (`Loss.thresholdWeights`), for `PairProbDiff`.
      Thresholds: torch.Tensor option
      /// The full model's logits at each prompt's last real token [batch, 1, vocab]: every learnable coefficient at
      /// 1, computed once, without gradient.
      FullLogits: torch.Tensor }

/// Progress after one step.
type StepLog =
    { /// The 0-based index of the step just taken.
      Step: int
      /// Each distinct faithfulness term unweighted (`Term.name`), then `sparsity` (the penalty as added to the
      /// loss) and `total`, measured before the step's update.
      Terms: (string * float) list
      /// `Gate.expectedL0` before the update: the expected fraction of learnable parameters kept.
      ExpectedKeptFraction: float
      /// The target sparsity of this step under `TargetLagrangian`; None under `L1Penalty`.
      Target: float option }

/// What a run learned.
type TrainResult =
    { /// The final logits, one per learnable parameter.
      LogAlpha: float[]
      /// One score per edge id of the Full graph (`Train.edgeScores`).
      Scores: float[]
      /// Steps taken.
      Steps: int }

/// Raised when the loss became NaN or infinite; `step` is the 0-based step where it first did, which the trainer
/// finds without reading the loss back every step (it keeps the first bad step on the device and reads it back
/// every `LogEvery` steps and after the last).
exception TrainingDiverged of step: int * detail: string

/// Running discovery.
module Train =
    /// The batch with its full-model logits: one engine pass with every learnable coefficient at 1 under no_grad.
    /// The caller disposes the tensors it passed and `FullLogits`.
    val withTargets: Engine.CompiledEngine -> Engine.PreparedBatch -> answers: torch.Tensor -> wrongs: torch.Tensor option -> thresholds: torch.Tensor option -> PreparedBatchWithTargets
    /// Per-edge scores from logits: a learnable edge scores `Gate.deterministic` of its parameter's logit (tied
    /// edges share it); an edge the schedule fixes scores its fixed value, so `Extract` keeps edges fixed at 1 and
    /// drops those fixed at 0. Fails when the logit count is not the engine's parameter count.
    val edgeScores: Engine.CompiledEngine -> Gate -> logAlpha: float[] -> float[]
    /// Trains from `Gate.initialLogAlpha` of the schedule's initial values, taking the batches round robin, one a
    /// step, each step in its own dispose scope. Calls `onLog` after every `LogEvery`-th step and after the last.
    /// Fails for no batches, no learnable parameter, negative steps or LogEvery below 1; raises `TrainingDiverged`
    /// when the loss stops being finite.
    val run: TrainSettings -> Engine.CompiledEngine -> batches: PreparedBatchWithTargets list -> onLog: (StepLog -> unit) -> TrainResult
