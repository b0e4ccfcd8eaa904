/// A finished run as one value: everything its folder shows, before anything is written.
namespace PatchDescent.Search

/// What `RunFolder.write` writes.
type RunReport =
    { /// circuit.json: the run's settings, the circuit's edges with their scores, the figures, the warnings.
      Report: CircuitReport
      /// The method's circuit.
      Circuit: Circuit
      /// One score per edge id, what circuit.dot shows.
      Scores: float[]
      /// One ranking key per edge id, graph.mib.json's `score`s.
      Ranking: float[]
      /// The curve, a row per level.
      Rows: CurveRow list
      /// The rows' curve and its areas.
      Curve: Curve
      /// The curves curve.png draws, by label.
      Plotted: (string * Curve) list
      /// The circuit's figures over every pair.
      Metrics: CircuitScores
      /// run.log's lines of the method; `RunFolder.write` adds what writing found, the figures and the warnings.
      Log: string list
      /// What a reader of the figures must know.
      Warnings: string list
      /// The experiment the run did, every setting of it, for report.html.
      Experiment: Experiment
      /// The model's d_model, which MIB's graph JSON records in its cfg.
      DModel: int }

/// Building a run's report.
module Report =
    /// The warning for figures whose normalised faithfulness means nothing (`Evaluate.degenerate`).
    val degenerateWarning: Metric -> CircuitScores -> string
    /// The report of a method's outcome on an experiment, its circuit scored as `metrics`: circuit.json's settings
    /// are the method, the ablation, the method's settings, then the batch size, levels, compute, device and metric;
    /// its figures are edges, faithfulness, KL, m(C), m(full), m(empty), CPR and CMD; the warnings are the method's,
    /// then the degenerate one when the figures are.
    val ofRun: Experiment -> task: string -> Metric -> device: string -> dModel: int -> MethodOutcome -> metrics: CircuitScores -> RunReport
