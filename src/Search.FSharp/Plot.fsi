/// Pictures of faithfulness curves, drawn with ScottPlot: one PNG and one SVG of the same figure.
namespace PatchDescent.Search

/// Plotting curves.
module Plot =
    /// Draws normalised faithfulness against the percentage of the graph's edges kept, on a log scale as MIB draws
    /// it, one line per named curve (several methods or runs in one figure), with the ideal faithfulness 1 dashed
    /// and the y axis spanning at least [0, 1],
    /// and writes `pngPath` and `svgPath` (each through a temporary file renamed into place). Points at 0 edges
    /// (no place on a log axis) and points whose faithfulness is NaN are left out. Fails when no curve has a point
    /// left to draw.
    val faithfulness: title: string -> curves: (string * Curve) list -> pngPath: string -> svgPath: string -> unit
    /// The same figure as an `<svg>` element for an HTML page, with no XML declaration; fails as `faithfulness` does.
    val faithfulnessSvg: title: string -> curves: (string * Curve) list -> string
