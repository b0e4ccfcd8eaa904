namespace PatchDescent.Search

open System.Text.RegularExpressions

type RunReport =
    { Report: CircuitReport
      Circuit: Circuit
      Scores: float[]
      Ranking: float[]
      Rows: CurveRow list
      Curve: Curve
      Plotted: (string * Curve) list
      Metrics: CircuitScores
      Log: string list
      Warnings: string list
      Experiment: Experiment
      DModel: int }

module Report =
    let private num (x: float) = (x + 0.0).ToString("R", System.Globalization.CultureInfo.InvariantCulture)

    let private printed (x: 'a) = Regex.Replace(sprintf "%A" x, @"\s+", " ")

    let degenerateWarning metric (s: CircuitScores) =
        $"m(full) = {num s.Full} and m(empty) = {num s.Empty} ({Metric.name metric}) barely differ, so normalised faithfulness, "
        + "CPR and CMD are meaningless here: ablating every edge does not change the metric; choose a metric or pairs on which it does"

    let ofRun (experiment: Experiment) task metric device dModel (outcome: MethodOutcome) (metrics: CircuitScores) =
        let circuit = outcome.Circuit
        let curve = Curve.ofRows outcome.Rows
        let shape = circuit.Shape
        let warnings = outcome.Warnings @ (if Evaluate.degenerate metrics then [ degenerateWarning metric metrics ] else [])
        { Report =
            { LibraryVersion = Version.current
              Model = experiment.ModelDir
              Task = task
              Granularity = printed experiment.Granularity
              Seed = experiment.Train.Seed
              Hyperparameters =
                [ "method", Method.name experiment.Method; "ablation", printed experiment.Ablation ]
                @ outcome.Settings
                @ [ "batch_size", printed experiment.BatchSize; "levels", printed experiment.Levels
                    "compute", printed experiment.Compute; "device", device; "metric", Metric.name metric ]
              Edges = [ for id in circuit.Edges -> Edge.name (Graph.edge shape id), outcome.Scores[id] ]
              Metrics =
                [ "edges", float (Circuit.edgeCount circuit); "faithfulness", metrics.Faithfulness; "kl", metrics.Kl
                  "m_circuit", metrics.Circuit; "m_full", metrics.Full; "m_empty", metrics.Empty
                  "cpr", curve.Cpr; "cmd", curve.Cmd ]
              Warnings = warnings }
          Circuit = circuit
          Scores = outcome.Scores
          Ranking = outcome.Ranking
          Rows = outcome.Rows
          Curve = curve
          Plotted = outcome.Plotted
          Metrics = metrics
          Log = outcome.Log
          Warnings = warnings
          Experiment = experiment
          DModel = dModel }
