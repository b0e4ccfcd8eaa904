/// Several discovery methods on one model, data, graph, ablation and metric, side by side: a table of each method's
/// circuit, cost and curve areas, and one plot with every method's faithfulness curve.
namespace PatchDescent.Search

/// One method's run and what it cost.
type MethodRun =
    { /// The method, with its settings.
      Method: Method
      /// The method's settings in words (`Compare.settings`).
      Settings: string
      /// What `Discovery.runOn` returned; its folder is `OUT/<method name>`.
      Result: DiscoveryResult
      /// Wall-clock seconds of the whole run: scoring, curve, evaluation and writing its folder.
      Seconds: float
      /// Peak resident set size during the run minus the resident set size at its start, in bytes, from
      /// /proc/self/status after resetting the peak through /proc/self/clear_refs; None where that is unavailable.
      /// Memory the allocator kept from an earlier run is reused without counting, so later methods can read low.
      PeakRssDelta: int64 option }

/// Comparing methods.
module Compare =
    /// Claims `OutDir` (`Discovery.claim "compare"`), loads the model once, as `Discovery.run` does (device and
    /// dtype from `Compute`), and runs the experiment once per method, in the order given, each into
    /// `OutDir/<Method.name>` (so the names must differ), then writes `comparison.csv`, `comparison.md` (`table`)
    /// `curves.png` / `curves.svg` (`Plot.faithfulness`, one line per method) and report.html (`page`) into `OutDir`. The whole folder
    /// appears at once (`OutputFolder.Write`), holding this comparison's files only, or not at all. Fails for no
    /// methods or two of one name.
    val run: Experiment -> methods: Method list -> onLog: (Method -> StepLog -> unit) -> MethodRun list
    /// The table as CSV lines: method, settings, edges, faithfulness, kl, cpr, cmd, seconds, peak_rss_delta_mib
    /// (empty when unknown); NaN as `NaN`.
    val csv: MethodRun list -> string list
    /// The same table as Markdown lines.
    val markdown: MethodRun list -> string list
    /// report.html of a comparison (`ReportPage`): every method's warnings, the table with m(C), m(full) and
    /// m(empty) beside faithfulness, KL, CPR, CMD, time and memory, every curve in one figure, each method's diagram
    /// with a link to its own report.html, and the experiment.
    val page: Experiment -> MethodRun list -> string
    /// A method's settings in words: `5 steps`, `tau 0.01`, or the descent run's steps.
    val settings: Experiment -> Method -> string
