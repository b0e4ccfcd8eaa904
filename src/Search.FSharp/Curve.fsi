/// A run's faithfulness curve as rows: at each level, the circuit a method's ranking gives and how faithful it is.
namespace PatchDescent.Search

/// Where a curve row's circuit came from.
type CurveSource =
    /// The pruned top k of descent's one ranking (`Refine.run`'s order); curve.csv's `ranking`.
    | Ranking
    /// The pruned top k of a method's scores, for a method that does not train; curve.csv's `final`.
    | Final
    /// One training per level (`PerPointRuns`), the pruned top k of that run's anneal order; curve.csv's `run`.
    | PerPointRun

/// One level of a curve.
type CurveRow =
    { /// The fraction of the Full graph's edges asked for.
      Level: float
      /// Where the circuit came from.
      Source: CurveSource
      /// The training step whose gates the circuit used; 0 for a method that does not train.
      Step: int
      /// The pruned circuit scored.
      Circuit: Circuit
      /// Its figures.
      Point: CurvePoint }

/// Building curves.
[<CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module Curve =
    /// The name curve.csv gives a source: `ranking`, `final`, `run`.
    val sourceName: CurveSource -> string
    /// MIB's edge count of a level: int(pct * n) in its evaluation, the floor of the product. Fails for a level
    /// outside [0, 1].
    val levelK: edgeCount: int -> level: float -> int
    /// At each level, the pruned top `levelK` edges of the ranking, scored by `score` (e.g. `Evaluate.pooled`).
    val rows: score: (Circuit -> CircuitScores) -> GraphShape -> ranking: float[] -> source: CurveSource -> step: int -> levels: float list -> CurveRow list
    /// The rows' points with MIB's areas (`Evaluate.cpr`, `Evaluate.cmd`).
    val ofRows: CurveRow list -> Curve
