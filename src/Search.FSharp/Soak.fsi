/// Memory over a long discovery run, sampled as it trains: the soak bench's figures.
namespace PatchDescent.Search

/// A soak's samples.
type SoakReport =
    { /// The steps trained.
      Steps: int
      /// (steps done, resident set size in bytes) every `every` steps, in order.
      Samples: (int * int64) list
      /// Wall time of the whole run, the curve and its files included.
      Seconds: float }

/// Running a soak.
module Soak =
    /// Runs the experiment's discovery on a model in memory (`Discovery.runInto`, into a temporary folder removed
    /// afterwards) and samples the process's RSS after every `every` steps; fails where /proc is missing.
    val run: PatchDescent.Model.Decoder -> Experiment -> every: int -> SoakReport
    /// The report's lines: the first, last and largest sample and how far the last and the largest lie above the
    /// first, against the target of 5 %.
    val lines: SoakReport -> string list
