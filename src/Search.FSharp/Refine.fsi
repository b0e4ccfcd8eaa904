/// Descent's ranking and circuit: the order in which its gates shut as the target annealed, then the exact
/// refinement (`Refinement`) over the candidates training left open.
namespace PatchDescent.Search

/// What the refinement made of one training run.
type Refined =
    { /// Every learnable parameter, best first: the ranking whose pruned top k are the curve's circuits.
      BestFirst: int list
      /// The parameters of the refined circuit, closed under pruning: the candidates pared down (all of them under
      /// `NoRefinement`).
      Kept: Set<int>
      /// The candidates: the parameters of the pruned threshold circuit (gates of at least 0.5) of the final gates.
      Candidates: Set<int>
      /// Trials run.
      Trials: int
      /// Whether the trial budget stopped a stage early; its untried parameters then went in the anneal's order.
      Exhausted: bool }

/// Ranking and refining descent's result.
module Refine =
    /// The learnable parameters best first by the anneal: the later a gate last stood open (`TrainResult.LastOpen`)
    /// the better, ties (such as the gates still open at the end) by the larger logit, then by parameter index.
    val annealOrder: TrainResult -> int list
    /// The candidates of a training run on a schedule: the parameters of its pruned threshold circuit.
    val candidates: ResolvedSchedule -> TrainResult -> Set<int>
    /// Refines a training run within `trials` trials on the oracle (forced only when the refinement runs trials).
    /// Without a target, elimination keeps the candidates within the floor; with a target edge count that the
    /// candidates exceed, the greedy removals take them down to it; `SwapRefinement` then swaps once; the greedy
    /// removals within the circuit, down to nothing, order it. The ranking is that order, then the other candidates
    /// (the last removed first), then every other parameter in the anneal's order (which kept the curve above half
    /// the edges closer to 1 than first-order additions at the circuit or |EAP-IG| did on the benchmark models).
    val run: Refinement -> trials: int -> target: int option -> Lazy<Oracle> -> ResolvedSchedule -> TrainResult -> Refined
