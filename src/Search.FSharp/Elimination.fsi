/// Exact elimination over the learnable parameters of an engine: every trial is the metric of one pruned circuit,
/// one engine pass per batch with hard 0/1 coefficients under no_grad, and a trial budget bounds what a stage costs.
/// The method `prune` runs it from the full graph; descent's refinement (`Refinement`) from descent's own circuit.
namespace PatchDescent.Search

open TorchSharp

/// The exact figures of one engine, batches and metric: m(full) and m(empty) measured once, then the normalised
/// faithfulness of any set of kept parameters.
[<NoEquality; NoComparison>]
type Oracle

/// What a stage ended with.
type StageOutcome =
    { /// The parameters kept, closed under pruning (`Oracle.pruned`).
      Kept: Set<int>
      /// The normalised faithfulness of the kept parameters' circuit, pair-weighted; NaN when the budget ran out
      /// before it was measured.
      Faithfulness: float
      /// Every parameter the stage removed, the first removed first; parameters a removal left dangling come
      /// just before the one whose removal did it.
      Removed: int list
      /// Trials the stage ran.
      Trials: int
      /// Whether the budget stopped the stage before it had visited everything it would have.
      Exhausted: bool }

/// What the nested selection (`Elimination.nested`) ended with.
type NestedOutcome =
    { /// Every parameter, best first: the chosen sets, smallest first, then the rest.
      BestFirst: int list
      /// Trials run.
      Trials: int
      /// The sizes at which another order's set beat the first order's.
      Alternatives: int
      /// Whether the budget left a size to the first order untried.
      Exhausted: bool }

/// Building an oracle and running elimination stages on it.
module Elimination =
    /// The oracle of an engine, its batches and a metric (a 0-dim tensor per batch, as `Evaluation.Metric`); runs two
    /// passes per batch. Fails for no batches or m(full) = m(empty), where faithfulness is undefined.
    val oracle: Engine.CompiledEngine -> PreparedBatchWithTargets list -> metric: (LossInputs -> torch.Tensor) -> Oracle
    /// The learnable parameters of the engine's schedule, for a stage's starting set.
    val parameters: Oracle -> Set<int>
    /// The kept parameters whose edges survive `Extract.prune` of their circuit (edges fixed above 0 count as kept).
    val pruned: ResolvedSchedule -> Set<int> -> Set<int>
    /// The circuit of kept parameters: their edges and the edges fixed above 0, pruned.
    val circuit: ResolvedSchedule -> Set<int> -> Circuit
    /// The normalised faithfulness of the kept parameters' pruned circuit: one trial.
    val faithfulness: Oracle -> Set<int> -> float
    /// Visits `order` (parameters outside the kept set are skipped) and removes each parameter for good when the
    /// pruned circuit without it keeps |1 - faithfulness| <= 1 - floor; at most `budget` trials. A start already
    /// outside the floor is kept whole after its one trial.
    val sequential: Oracle -> floor: float -> order: int list -> kept: Set<int> -> budget: int -> StageOutcome
    /// Removes, one at a time, the parameter whose removal leaves the pruned circuit closest to the full model
    /// (smallest |1 - faithfulness|; ties go to the earlier in `order`), until at most `target` parameters are kept.
    /// The first round tries every kept parameter; each later one only the `shortlist` whose removal, when last
    /// tried, left the circuit closest (a lazy greedy: with a shortlist as large as the circuit it is the exact
    /// one). When the budget cannot pay for a round, the rest go in `order`'s order, untried, and the outcome says
    /// it was exhausted.
    val greedy: Oracle -> shortlist: int -> target: int -> order: int list -> kept: Set<int> -> budget: int -> StageOutcome
    /// One pass of single swaps at the kept set's size: for each parameter of `pool` outside it, best first, the
    /// first kept parameter (in `order`'s order) whose exchange for it brings the pruned circuit strictly closer to
    /// the full model is exchanged. At most `budget` trials; `Removed` lists the parameters swapped out.
    val swaps: Oracle -> pool: int list -> order: int list -> kept: Set<int> -> budget: int -> StageOutcome
    /// Nested sets, one per size, largest first (sizes of 0 or of every parameter and above choose nothing), the
    /// anchor's size among them: at each size every order's first k parameters within the set chosen above, each
    /// set above the anchor's size holding the anchor and each below it within it, and the one whose pruned circuit
    /// is closest to the full model (smallest |1 - faithfulness|; ties to the earlier order) is chosen; then, at most
    /// 8 trials a size, first-improvement swaps of one of the winning order's 3 best outside it (within the set
    /// above) for one of its 3 weakest inside (never an anchor parameter) while one brings the circuit closer. The first
    /// order is the incumbent and the anchor its prefix (failing otherwise); the ranking is the chosen sets'
    /// bands, smallest first, each in the first order's order, so its top k at every size is the chosen set. At
    /// most `budget` trials; a size the budget cannot pay for takes the first order's set.
    val nested: Oracle -> anchor: int list -> sizes: int list -> orders: int list list -> budget: int -> NestedOutcome
    /// Per-parameter ranking scores from an order, best first: the i-th (0-based) of n parameters scores (n - i) / n,
    /// so every score is distinct and positive and the top k are the first k; parameters the order leaves out come
    /// after it, in parameter order. Fails when the order names a parameter twice or one the schedule lacks.
    val rankingScores: ResolvedSchedule -> bestFirst: int list -> float[]
