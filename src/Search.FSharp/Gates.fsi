/// Coefficient parametrisations: discovery optimises unconstrained logits (log alpha), one per learnable parameter,
/// and a gate maps them to the coefficients in [0, 1] that `CompiledEngine.Forward` reads. Gates are values; the
/// functions of `Gate` alone turn them into tensors. Also here: the target-sparsity Lagrangian and its schedule.
/// Throughout, "sparsity" is the fraction of gates REMOVED, 1 - the expected kept fraction (`Gate.expectedL0`).
namespace PatchDescent.Search

open TorchSharp

/// The hard concrete distribution's constants (Louizos, Welling and Kingma 2018, "Learning sparse neural networks
/// through L0 regularization"): a binary concrete of temperature Beta, stretched to (Gamma, Zeta) and clamped to
/// [0, 1], so a gate is exactly 0 or exactly 1 with positive probability.
type HardConcreteSettings =
    { /// The temperature; smaller is closer to a Bernoulli gate. The paper's default is 2/3.
      Beta: float
      /// The lower end of the stretch, below 0. The paper's default is -0.1.
      Gamma: float
      /// The upper end of the stretch, above 1. The paper's default is 1.1.
      Zeta: float }

/// How logits become coefficients.
type Gate =
    /// coefficient = sigmoid(log alpha), in training and evaluation alike; never exactly 0 or 1.
    | Sigmoid
    /// A stochastic hard concrete gate in training, its clamped stretched sigmoid in evaluation.
    | HardConcrete of HardConcreteSettings

/// Turning gates and logits into coefficients. Every function keeps the logits' dtype and device.
module Gate =
    /// Hard concrete with the paper's constants: Beta = 2/3, Gamma = -0.1, Zeta = 1.1.
    val hardConcrete: Gate
    /// Training-time coefficients [params], differentiable in the logits. Sigmoid: sigmoid(log alpha), the generator
    /// unused. HardConcrete: u ~ U(1e-6, 1 - 1e-6), s = sigmoid((log u - log(1 - u) + log alpha) / Beta), then
    /// clamp(s * (Zeta - Gamma) + Gamma, 0, 1), whose gradient is 0 where it clamps. The noise is drawn in float64
    /// on the logits' device with the generator, which must live there: one seed gives one sample per device kind
    /// (CPU and CUDA generators differ), and a CUDA step copies nothing from the host.
    val sample: Gate -> logAlpha: torch.Tensor -> generator: torch.Generator -> torch.Tensor
    /// Evaluation-time coefficients [params]. Sigmoid: sigmoid(log alpha). HardConcrete: the noise-free gate
    /// clamp(sigmoid(log alpha) * (Zeta - Gamma) + Gamma, 0, 1).
    val deterministic: Gate -> logAlpha: torch.Tensor -> torch.Tensor
    /// Each gate's probability of being nonzero [params]: HardConcrete sigmoid(log alpha - Beta * log(-Gamma / Zeta)),
    /// Sigmoid the coefficient itself. `expectedL0` is their mean.
    val keepProbabilities: Gate -> logAlpha: torch.Tensor -> torch.Tensor
    /// The expected fraction of gates that are nonzero, a 0-dim tensor in [0, 1]. HardConcrete: the mean of
    /// P(gate > 0) = sigmoid(log alpha - Beta * log(-Gamma / Zeta)). Sigmoid: the mean coefficient (its L1).
    /// The sparsity the Lagrangian reads is 1 minus this.
    val expectedL0: Gate -> logAlpha: torch.Tensor -> torch.Tensor
    /// The logits whose `deterministic` coefficients are the initial values (each in [0, 1]) a schedule gives, to
    /// about 1e-6. Sigmoid has no finite logit for 0 or 1, so values are first clamped to [1e-6, 1 - 1e-6] (logits
    /// of about -13.8 and 13.8, where the gradient is still 1e-6 and not 0). HardConcrete reaches 0 and 1 at the
    /// finite logits log(-Gamma / Zeta) and log((1 - Gamma) / (Zeta - 1)), plus or minus 2.398 with the defaults;
    /// 0 and 1 map one nat beyond them, so rounding cannot leave the coefficient a hair inside (0, 1), and with
    /// the defaults a training sample at initial value 1 is exactly 1 with probability 0.86.
    /// Fails, naming the index, for a value outside [0, 1].
    val initialLogAlpha: Gate -> init: float[] -> float[]

/// The starting values of the two Lagrange multipliers of the target-sparsity penalty; the trainer makes them
/// 0-dim tensors that require gradients.
type Lagrangian =
    { /// The multiplier of the linear term.
      Lambda1: float
      /// The multiplier of the quadratic term.
      Lambda2: float }

/// The target-sparsity constraint (Edge Pruning, Bhaskar et al. 2024, after CoFi pruning).
module Lagrangian =
    /// lambda1 * (s - t) + lambda2 * (s - t)^2, a 0-dim tensor, where s is the sparsity (the fraction removed,
    /// 1 - `Gate.expectedL0`) and t the target. The logits descend on it while the multipliers ascend: the caller
    /// negates the multipliers' gradients (or steps them with a negated learning rate), so a missed target makes
    /// the penalty grow until the logits meet it.
    val penalty: sparsity: torch.Tensor -> target: float -> lambda1: torch.Tensor -> lambda2: torch.Tensor -> torch.Tensor

/// A target sparsity (fraction of gates removed) that moves linearly from Start to End: the target is Start for
/// the first WarmupSteps steps, rises over the next AnnealSteps, and is End from then on.
type TargetSchedule =
    { /// The target during warmup, in [0, 1].
      Start: float
      /// The final target, in [0, 1].
      End: float
      /// Steps held at Start before the anneal begins.
      WarmupSteps: int
      /// Steps over which the target moves from Start to End; 0 jumps straight to End after warmup.
      AnnealSteps: int }

/// Reading a target schedule.
module TargetSchedule =
    /// The target at a 0-based step: Start while step <= WarmupSteps, then
    /// Start + (End - Start) * (step - WarmupSteps) / AnnealSteps, and End from step WarmupSteps + AnnealSteps on.
    val at: TargetSchedule -> step: int -> float
