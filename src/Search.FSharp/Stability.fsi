/// Stability across seeds: the same experiment run once per seed, and how much the circuits of every two runs
/// overlap at each level of the faithfulness curve.
namespace PatchDescent.Search

/// The overlaps at one level of the curve.
type LevelStability =
    { /// The level, a fraction of the Full graph's edges as the experiment gives it.
      Level: float
      /// Seed a, seed b and the Jaccard overlap of their pruned top-k circuits, for every pair of runs in the order
      /// the seeds were given (a before b).
      Pairs: (int * int * float) list
      /// The mean of the pairs' overlaps.
      Mean: float }

/// Comparing runs.
module Stability =
    /// |A ∩ B| / |A ∪ B|, in [0, 1]; 1 for two empty sets, since two runs that both keep nothing agree entirely.
    val jaccard: Set<int> -> Set<int> -> float
    /// The overlaps of seeded runs, each given as its seed and its circuit at every level (in level order). Fails
    /// for fewer than two runs (no pair to compare) or a run whose circuit count is not the level count.
    val overlaps: levels: float list -> runs: (int * Circuit list) list -> LevelStability list
    /// `stability.csv`'s lines: the header `level,seed_a,seed_b,jaccard`, then for each level its pairs and a row
    /// with `mean` in both seed columns; numbers as invariant round-trip text.
    val csv: LevelStability list -> string list
    /// report.html of a seed sweep (`ReportPage`): every run's warnings, a row of figures per seed, every seed's
    /// curve in one figure, the overlap table (a column per pair of seeds, then the mean), each seed's diagram with a
    /// link to its own report.html, and the experiment.
    val page: Experiment -> runs: (int * DiscoveryResult) list -> LevelStability list -> string
    /// Claims `OutDir` (`Discovery.claim "discover"`), runs the experiment once per seed (the model loaded once)
    /// into `OutDir/seed-N`, each a complete `Discovery.runInto` run, then writes `OutDir/stability.csv` and `OutDir/report.html` (`page`) from the
    /// pruned top-k circuits of each level (`DiscoveryResult.CurveCircuits`); the whole folder appears at once
    /// (`OutputFolder.Write`), holding this run's files only, or not at all. Fails for fewer than two seeds or a
    /// repeated seed. `onLog` gets the seed with each step log.
    val run: Experiment -> seeds: int list -> onLog: (int -> StepLog -> unit) -> (int * DiscoveryResult) list * LevelStability list
