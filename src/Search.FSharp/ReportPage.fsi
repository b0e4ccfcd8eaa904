/// report.html: a run, a comparison or a seed sweep as one self-contained page that makes no network request
/// (styles, script and pictures inline), built from small fragments of HTML text.
namespace PatchDescent.Search

/// Building report pages.
module ReportPage =
    /// Text made safe for HTML element content and attribute values.
    val escape: string -> string
    /// A number as the page prints it: `digits` decimals, `NaN` for NaN.
    val number: digits: int -> float -> string
    /// A table of text cells (escaped), the header first.
    val table: header: string list -> rows: string list list -> string
    /// A bulleted list of warnings, or a line saying there are none.
    val warnings: string list -> string
    /// The faithfulness curves as an inline SVG figure (`Plot.faithfulnessSvg`), or a line saying why none is drawn
    /// when no curve has a point with edges and a finite faithfulness.
    val curves: title: string -> curves: (string * Curve) list -> string
    /// A circuit's diagram (`Diagram.svg`) inside a `<figure class="diagram">` whose script shows the hovered edge's
    /// name, score and rank below it and, on a click on a node, highlights that node's edges (class `lit`) and dims the
    /// others; a second click clears. A page opened with `#select=NODE` starts with NODE selected in every diagram.
    val diagram: Diagram -> string
    /// The experiment value with every setting, as F# prints it (%A), with in-memory pairs summarised by count.
    val experiment: Experiment -> string
    /// A model as titles name it: the folder's last name, or the name as given when it has none.
    val modelName: model: string -> string
    /// The title of a run's diagram: the model's folder or name, the task, the edge count and the faithfulness.
    val diagramTitle: CircuitReport -> string
    /// A whole page: the title, then each section as a heading and its HTML, with the page's style and script
    /// inline; the script marks `<body data-ready="true">` once every diagram is wired.
    val document: title: string -> sections: (string * string) list -> string
    /// A run's page: warnings, the circuit's diagram (laid out once by the caller, `Diagram.layout`), the curve and
    /// its rows, the figures (m(C), m(full), m(empty), faithfulness, KL, CPR, CMD, edges), the settings circuit.json
    /// records, and the experiment.
    val run: RunReport -> Diagram -> string
