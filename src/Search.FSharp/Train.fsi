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

/// Where a run saves its state, and whether it continues from a saved one.
type Checkpointing =
    { /// The checkpoint file (safetensors: logits, Adam's moments, the multipliers, the recorded levels, the noise
      /// generator's state, the next step and the run's fingerprint), replaced through a temporary file each time.
      Path: string
      /// A checkpoint after every this many steps, and after the last.
      Every: int
      /// Continue from the file at `Path` when there is one; it must come from a run with the same settings (all
      /// but `LogEvery`), schedule, batch shapes, answers and record levels, else the run is refused naming the first
      /// difference. When false, or when there is no file, the run starts at step 0 and overwrites the file.
      Resume: bool
      /// Named lines the caller adds to the fingerprint: what decides the run but is not the trainer's to see,
      /// such as the model, the data and the ablation.
      Context: (string * string) list }

/// How a run is carried out beyond the settings that decide what it learns.
type TrainOptions =
    { /// Checkpoints, or None for none.
      Checkpoint: Checkpointing option
      /// Fractions of the Full graph's edges in [0, 1]. For each, the run keeps the logits of the first step (before
      /// its update) whose expected kept edge count (`StepLog.ExpectedKeptEdges`) is at most level * edges: the
      /// circuit as the sparsity target anneals past that level. Kept on the device, without read-backs.
      RecordLevels: float list }

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
      Target: float option
      /// The expected number of Full-graph edges kept before the update: each learnable edge counts its
      /// parameter's `Gate.keepProbabilities`, each fixed edge its fixed value.
      ExpectedKeptEdges: float
      /// Full-graph edges whose evaluation-time coefficient (`Train.edgeScores`) is at least 0.5 before the update:
      /// the size of the threshold circuit before pruning.
      EdgesAtThreshold: int
      /// The run's step count, so that a progress display needs nothing else.
      TotalSteps: int
      /// Wall-clock time spent training up to this log, including the time before a checkpoint it resumed from.
      Elapsed: System.TimeSpan }

/// The gates recorded as the expected kept edge count first fell to a level (`TrainOptions.RecordLevels`).
type RecordedScores =
    { /// The level, a fraction of the Full graph's edges.
      Level: float
      /// The 0-based step whose logits (before its update) were recorded.
      Step: int
      /// One score per Full-graph edge, as `Train.edgeScores` gives them.
      Scores: float[]
      /// The edges' ranking keys at that step (`Train.ranking`).
      Ranking: float[] }

/// What a run learned.
type TrainResult =
    { /// The final logits, one per learnable parameter.
      LogAlpha: float[]
      /// One score per edge id of the Full graph (`Train.edgeScores`).
      Scores: float[]
      /// One ranking key per edge id (`Train.ranking`), for top-k.
      Ranking: float[]
      /// Per learnable parameter, the last 0-based step whose gate (`Gate.deterministic`, before the update) was at
      /// least 0.5; -1 for one shut from the first step. The order in which the gates shut as the target anneals.
      LastOpen: int[]
      /// Steps taken.
      Steps: int
      /// The levels of `TrainOptions.RecordLevels` the run reached, in the order given; those never reached are left out.
      Recorded: RecordedScores list
      /// The step a resumed run continued from (the checkpoint's next step); None when it started at step 0.
      ResumedAt: int option }

/// Raised when the loss became NaN or infinite; `step` is the 0-based step where it first did, which the trainer
/// finds without reading the loss back every step (it keeps the first bad step on the device and reads it back
/// every `LogEvery` steps, before each checkpoint and after the last step). `lastCheckpoint` is the steps done and
/// path of the newest checkpoint, which always predates the bad step.
exception TrainingDiverged of step: int * lastCheckpoint: (int * string) option * detail: string

/// Running discovery.
module Train =
    /// The batch with its full-model logits: one engine pass with every learnable coefficient at 1 under no_grad.
    /// The caller disposes the tensors it passed and `FullLogits`.
    val withTargets: Engine.CompiledEngine -> Engine.PreparedBatch -> answers: torch.Tensor -> wrongs: torch.Tensor option -> thresholds: torch.Tensor option -> PreparedBatchWithTargets
    /// Per-edge scores from logits: a learnable edge scores `Gate.deterministic` of its parameter's logit (tied
    /// edges share it); an edge the schedule fixes scores its fixed value, so `Extract` keeps edges fixed at 1 and
    /// drops those fixed at 0. Fails when the logit count is not the engine's parameter count.
    val edgeScores: Engine.CompiledEngine -> Gate -> logAlpha: float[] -> float[]
    /// Per-edge ranking keys: edges ordered by score, ties broken by the parameter's logit (the gates clamp at 0
    /// and 1, so many edges share a score of 1 while their logits still say how sure the training is; a fixed edge
    /// ranks by its value alone), then by edge id; an edge's key is the number of edges ranked below it, so
    /// `Extract.topK` on the keys takes the k best.
    val ranking: Engine.CompiledEngine -> Gate -> logAlpha: float[] -> float[]
    /// Per-edge ranking keys from scores and a tie-break, one of each per edge id: by score, ties by the larger
    /// tie-break, then by edge id; an edge's key is the number of edges ranked below it. Fails on lengths that differ.
    val rankingBy: scores: float[] -> tieBreak: float[] -> float[]
    /// Trains from `Gate.initialLogAlpha` of the schedule's initial values, taking the batches round robin, one a
    /// step, each step in its own dispose scope. Calls `onLog` after every `LogEvery`-th step and after the last.
    /// Fails for no batches, no learnable parameter, negative steps or LogEvery below 1; raises `TrainingDiverged`
    /// when the loss stops being finite.
    val run: TrainSettings -> Engine.CompiledEngine -> batches: PreparedBatchWithTargets list -> onLog: (StepLog -> unit) -> TrainResult
    /// No checkpoints and no record levels: what `run` does.
    val noOptions: TrainOptions
    /// `run` with checkpoints and recorded levels. A resumed run continues at the checkpoint's next step with its
    /// state and generator and ends bit for bit where an uninterrupted run ends; it logs only the steps it takes.
    /// Also fails for a level outside [0, 1] or `Every` below 1, and, naming the file, for a checkpoint that cannot
    /// be read or comes from another run.
    val runWith: TrainOptions -> TrainSettings -> Engine.CompiledEngine -> batches: PreparedBatchWithTargets list -> onLog: (StepLog -> unit) -> TrainResult
