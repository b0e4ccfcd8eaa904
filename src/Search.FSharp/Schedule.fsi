/// Patch schedules: which edge coefficients are learned, which are fixed, where they start, and which share one
/// coefficient, as plain values; `Schedule.resolve` compiles one into the per-edge table the engine consumes.
namespace PatchDescent.Search

/// How a tie rule groups edges into one coefficient. A group's name is its parameter's name, so groups of one name
/// are one group, wherever their edges came from.
[<RequireQualifiedAccess>]
type Grouping =
    /// The q, k and v inputs of each (sender, receiving head) share one coefficient, named `a3.h7->a5.h1`;
    /// edges into MLPs and logits are left as they were.
    | Qkv
    /// Every edge out of one sender shares one coefficient (node-level patching), named `a3.h7->*`.
    | BySender
    /// Every edge the rule covers shares one coefficient of this name.
    | Named of string

/// One step of a schedule. Rules apply in order, each to the edges of its set, and a later rule overrides an
/// earlier one on the edges both cover.
type Rule =
    /// Make the coefficients learnable, keeping their initial values.
    | Learn of EdgeSet
    /// Fix the coefficients at a value in [0, 1] (1 = clean signal, 0 = corrupted).
    | Fix of EdgeSet * value: float
    /// Set the initial value in [0, 1] that learnable coefficients start from.
    | Initial of EdgeSet * value: float
    /// Move the edges into tie groups.
    | Tie of Grouping * EdgeSet

/// A patch schedule over the Full graph of a shape. Before any rule, every edge is fixed at 1 with initial
/// value 1 and a coefficient of its own (named after the edge).
type Schedule =
    { /// The graph the schedule covers.
      Shape: GraphShape
      /// The rules, applied first to last.
      Rules: Rule list }

/// Where the coefficient of one edge comes from.
type EdgeSource =
    /// A constant.
    | Fixed of float
    /// A learnable parameter, by index.
    | Param of int

/// A schedule compiled to one entry per edge: what the engine consumes.
type ResolvedSchedule =
    { /// The graph the schedule covers.
      Shape: GraphShape
      /// Number of distinct learnable coefficients after tying.
      ParamCount: int
      /// Initial value of each parameter.
      Init: float[]
      /// The coefficient of each edge, indexed by edge id.
      Source: EdgeSource[]
      /// The MIB name of each parameter: the edge name, `a3.h7->a5.h1` for tied q/k/v, `a3.h7->*` for a sender.
      ParamNames: string[] }

/// Building and compiling schedules.
module Schedule =
    /// Every edge its own learnable coefficient, starting at 1.
    val learnAll: GraphShape -> Schedule
    /// Every edge fixed at the value.
    val fixAll: GraphShape -> float -> Schedule
    /// The Heads granularity: q/k/v tied per (sender, head), edges into or out of MLPs and input->logits fixed at 1.
    val heads: GraphShape -> Schedule
    /// The schedule that learns every edge of a granularity.
    val ofGranularity: GraphShape -> Granularity -> Schedule
    /// Makes the edges learnable.
    val learn: EdgeSet -> Schedule -> Schedule
    /// Fixes the edges at a value.
    val fix: EdgeSet -> float -> Schedule -> Schedule
    /// Sets the initial value of the edges.
    val initial: EdgeSet -> float -> Schedule -> Schedule
    /// Ties the edges of the set by a grouping.
    val tie: Grouping -> EdgeSet -> Schedule -> Schedule
    /// Ties q, k and v of each (sender, receiving head).
    val tieQkv: Schedule -> Schedule
    /// Ties every edge out of each sender.
    val tieBySender: Schedule -> Schedule
    /// Fixes at 1 every edge that does not have both ends in the node set.
    val restrict: NodeSet -> Schedule -> Schedule
    /// The rules of `earlier`, then those of `later`, which override; fails when the shapes differ.
    val combine: earlier: Schedule -> later: Schedule -> Schedule
    /// Compiles the schedule. Fails, naming edges or groups, when a fixed or initial value is outside [0, 1], or a
    /// tie group mixes fixed and learnable edges, different fixed values or different initial values. Parameters are
    /// numbered in the order of their first edge.
    val resolve: Schedule -> Result<ResolvedSchedule, string>
