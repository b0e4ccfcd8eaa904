/// How a discovery run scores the edges: PatchDescent's gradient descent or one of the standard baselines, all on
/// the same engine, graph, data and ablation, all giving one score per Full-graph edge.
namespace PatchDescent.Search

/// A circuit-discovery method.
type Method =
    /// Gradient descent on the coefficients (`Train.run`); the circuit keeps edges scoring at least 0.5.
    | Descent
    /// Edge attribution patching (`Methods.Eap`); scores are |dm/da_e| at a = 1.
    | Eap
    /// EAP with integrated gradients along the coefficients (`Methods.EapIg`) with this many midpoint steps.
    | EapIg of steps: int
    /// ACDC (`Methods.Acdc`) with this KL threshold in nats; the circuit is what it keeps.
    | Acdc of tau: float
    /// Exact sequential elimination (`Methods.Prune`) with this floor in (0, 1]: an edge goes when faithfulness
    /// stays within 1 - floor of 1; the circuit is what survives.
    | Prune of floor: float

/// Naming methods.
module Method =
    /// The name the command line and reports use: `descent`, `eap`, `eap-ig`, `acdc`, `prune`.
    val name: Method -> string
    /// EAP-IG's default step count, 5 (Hanna et al. 2024).
    val defaultIgSteps: int
    /// ACDC's default threshold, 0.01 nats.
    val defaultAcdcTau: float
    /// Elimination's default floor, 0.9.
    val defaultPruneFloor: float
