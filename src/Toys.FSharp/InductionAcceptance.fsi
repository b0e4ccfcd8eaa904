/// Acceptance of a model trained on the trigger task: the mechanism check establishes the previous-token and
/// induction heads from attention patterns and ablations alone, then discovery must find the edge between them.
namespace PatchDescent.Toys

open PatchDescent.Model
open PatchDescent.Search
open PatchDescent.Search.Tasks

/// What acceptance measured on one model.
type AcceptanceReport =
    { /// The mechanism check: head scores, losses, ablations, and the heads that pass the bars.
      Mechanism: InductionReport
      /// p -> i<k>: of the edges from a previous-token head into the key of a later induction head (every head
      /// passing the bars), the one discovery ranks best; None without such a pair.
      KeyEdge: Edge option
      /// The key edge's rank (1 = best) by `DiscoveryResult.Ranking`, discovery's one ranking;
      /// 0 without a key edge.
      KeyEdgeRank: int
      /// The ten best-ranked edges, with their discovery scores.
      Top: (Edge * float) list
      /// The faithfulness curve's point at `Level`.
      AtLevel: CurvePoint
      /// The discovery run.
      Discovery: DiscoveryResult }

/// The bars and the run behind them.
module InductionAcceptance =
    /// The fraction of the Full graph's edges the faithfulness and KL bars are read at: 0.1.
    val level: float
    /// The discovery experiment acceptance runs: 300 pairs of `TriggerPairs.generate` (seed 1), answer-logit metric,
    /// the Full graph, patching, `Experiment.defaults` otherwise, with `level` among the curve's levels.
    val experiment: modelDir: string -> task: TriggerTask -> outDir: string -> Experiment
    /// Runs the mechanism check and the experiment on a model in memory (which stays the caller's).
    val run: model: Gpt2 -> task: TriggerTask -> experiment: Experiment -> AcceptanceReport
    /// Whether every bar holds: the mechanism check passes, the key edge ranks in the top 3, and at `level`
    /// faithfulness is at least 0.8 and KL at most 0.1 nats.
    val passes: AcceptanceReport -> bool
    /// Every figure, one a line, ending with PASS or FAIL.
    val lines: AcceptanceReport -> string list
