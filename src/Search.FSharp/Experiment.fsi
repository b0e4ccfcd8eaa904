/// A discovery experiment as one immutable value: what a script or the command line builds, prints (%A), compares
/// and hands to `Discovery.run`.
namespace PatchDescent.Search

/// Where the clean/corrupted pairs come from.
type DataSource =
    /// A JSONL file in `Dataset.load`'s format, read with the model's vocabulary size.
    | JsonlFile of path: string
    /// Pairs already in memory (tests, scripts that build their prompts).
    | Pairs of PairDataset
    /// A task's generated pairs, resolved by the run (induction on the experiment's model folder), scored with the
    /// task's metric unless the experiment names another.
    | Task of Tasks.TaskRequest

/// What a removed edge carries, as an experiment names it; the run turns it into the engine's `Ablation`.
[<RequireQualifiedAccess>]
type AblationChoice =
    /// The sender's output in the corrupted run of the same pair.
    | Patching
    /// Nothing (biases stay).
    | Zero
    /// The sender's mean output over every token of the clean prompts of a dataset: the run's own pairs when None.
    | Mean of reference: DataSource option

/// How the faithfulness curve is obtained.
type CurveMode =
    /// From the one training run: each level's circuit is the pruned top-k of its one ranking (the refinement's
    /// order, then the anneal's; `Refine.run`), so the circuits are nested.
    | FromAnneal
    /// One extra training per level, with the target sparsity's end set to 1 - level and the same steps; each
    /// level's circuit is the top-k of that run's anneal order. Slower, not nested; for comparison.
    | PerPointRuns

/// How descent's circuit is pared down exactly once training ends (`Elimination`), from the candidates it
/// trained: the threshold circuit of its final gates.
type Refinement =
    /// The threshold circuit as training left it, ranked by the anneal alone.
    | NoRefinement
    /// Sequential elimination over the candidates with this floor (as `Method.Prune`), or, with a target edge
    /// count the candidates exceed, the greedy removals down to it; then the greedy order within the circuit.
    | PruneRefinement of floor: float
    /// The same, with one pass of single swaps between the circuit and the other candidates before the ordering.
    | SwapRefinement of floor: float

/// Checkpoints of a discovery run, kept in the folder `OutDir.checkpoint` beside the output until the run succeeds.
type CheckpointPolicy =
    { /// A checkpoint after every this many steps (`Checkpointing.Every`).
      Every: int
      /// Continue from the checkpoints in `OutDir.checkpoint`, which must exist.
      Resume: bool }

/// The number format a model computes in.
type Precision =
    | Float32
    | BFloat16

/// Where and how precisely the model computes.
type Compute =
    { /// "auto" (CUDA when the loaded libtorch sees a GPU, else the CPU), "cpu", "cuda" or "cuda:N".
      Device: string
      /// The dtype the checkpoint is loaded in and every step computes in.
      Precision: Precision
      /// On CUDA, refuse TF32 tensor-core matrix products for float32 (slower, float32-exact); no effect on the CPU.
      StrictFp32: bool }

/// Everything one discovery run needs.
type Experiment =
    { /// A Hugging Face model folder (config.json + model.safetensors or its shards): GPT-2, Llama or Qwen2.
      ModelDir: string
      /// The prompt pairs the coefficients are trained and evaluated on.
      Data: DataSource
      /// The graph the coefficients live on.
      Granularity: Granularity
      /// What a removed edge carries.
      Ablation: AblationChoice
      /// How the edges are scored: `Descent` trains with `Train`; the baselines ignore `Train`.
      Method: Method
      /// The task metric circuits are scored with; None takes `Metric.defaultFor` the data.
      Metric: Metric option
      /// The training run: steps, learning rate, gate, loss, sparsity pressure, seed.
      Train: TrainSettings
      /// Pairs per batch (`Dataset.batches`).
      BatchSize: int
      /// The points of the faithfulness curve, as fractions of the Full graph's edges in [0, 1].
      Levels: float list
      /// How the curve's circuits are found.
      CurveMode: CurveMode
      /// When set, the target sparsity's end keeps this many learnable parameters (edges, in Full granularity):
      /// End = 1 - K / parameters. Needs a `TargetLagrangian` sparsity.
      TargetEdges: int option
      /// The exact stage after descent's training; the other methods have none and ignore it.
      Refine: Refinement
      /// The most trials the refinement may run; None takes `Experiment.defaultRefineTrials`.
      RefineTrials: int option
      /// Checkpoints, or None for none.
      Checkpoint: CheckpointPolicy option
      /// The folder the run writes (`OutputFolder`): new, empty, or holding an earlier run of the same verb, whose
      /// files it replaces once the run has succeeded.
      OutDir: string
      /// Replace an `OutDir` that holds another verb's run (`--force`); never a folder that holds an input.
      Force: bool
      /// The device and precision the model runs in.
      Compute: Compute }

/// Choosing a device and precision.
module Compute =
    /// The device "auto", float32, TF32 allowed on CUDA.
    val auto: Compute
    /// The device, resolved as `DeviceChoice.Resolve` does (an error when CUDA is asked for and absent).
    val device: Compute -> TorchSharp.torch.Device
    /// The TorchSharp dtype of a precision.
    val dtype: Precision -> TorchSharp.torch.ScalarType
    /// Resolves the device and sets the process's matmul precision for it (`DeviceChoice.SetMatmulPrecision`).
    val apply: Compute -> TorchSharp.torch.Device

/// Building experiments.
module Experiment =
    /// MIB's edge fractions: 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0.
    val mibLevels: float list
    /// The default sparsity pressure for a run of `steps` steps: a target-sparsity Lagrangian whose target starts
    /// at 0, rises linearly to 0.95 over the first 80% of the steps (most of the run, so the gates settle at the
    /// final target before the end) and holds there; its multipliers climb at rate 0.5.
    val annealedTarget: steps: int -> SparsityPressure
    /// The `Descent` method, Full granularity, patching ablation, the data's default metric, batches of 16,
    /// `mibLevels` from the anneal, no target edge count, no checkpoints, and training for 300 steps with Adam at
    /// learning rate 0.1 on hard concrete gates (the paper's constants), the KL loss, `annealedTarget 300`, no
    /// gradient clipping, seed 1, a log every 10 steps; `Compute.auto`.
    val defaults: modelDir: string -> data: DataSource -> outDir: string -> Experiment
    /// The refinement's default trial budget, 2 x steps / batches but at least 400: a trial is one engine pass over
    /// every batch without gradient, a training step a forward and backward pass over one, so on a large model the
    /// refinement costs about two thirds of the training's passes; on the shipped and benchmark models (110 to 262
    /// edges, 128 pairs) a refinement needed 64 to 134 trials, which the floor of 400 always covers.
    val defaultRefineTrials: steps: int -> batches: int -> int
    /// Sets the step count; a target-sparsity schedule is stretched to keep its warmup and anneal the same
    /// fractions of the run.
    val withSteps: steps: int -> Experiment -> Experiment
