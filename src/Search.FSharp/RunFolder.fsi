/// The one place a run's files are written.
namespace PatchDescent.Search

/// Writing a run's report as files.
module RunFolder =
    /// Writes into `dir` (made if missing): circuit.json (`CircuitJson.writeReport`), graph.mib.json
    /// (`CircuitJson.exportMib` with the ranking as scores), circuit.dot, circuit.svg and circuit.png
    /// (`Diagram`, no Graphviz needed), report.html (`ReportPage.run`),
    /// curve.csv (level, k, edges, fraction, faithfulness, KL, source, step per row), curve.png and curve.svg when a
    /// point can be drawn, and run.log (the report's lines, what could not be written and why, the figures, the
    /// warnings). `name` is the folder's final path, for titles and messages: `dir` may be a temporary sibling.
    val write: dir: string -> name: string -> RunReport -> unit
