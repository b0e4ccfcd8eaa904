/// One discovery run end to end: load the model and the pairs, train the coefficients, extract and evaluate the
/// circuit and its faithfulness curve, and write every artefact into the experiment's folder at once.
namespace PatchDescent.Search

open PatchDescent.Model

/// What a run found; the same figures are in the files of `OutDir`.
type DiscoveryResult =
    { /// The method's circuit (`MethodOutcome.Circuit`, see `Outcome.run`).
      Circuit: Circuit
      /// One score per Full-graph edge id: the final gates (`TrainResult.Scores`) for `Descent`, the method's
      /// scores otherwise; circuit.json and circuit.dot show them.
      Scores: float[]
      /// One ranking key per edge id, what the curve's top-k takes and graph.mib.json's `score`s: for `Descent`
      /// the nested ranking (`Outcome.run`, `Elimination.nested`) as `Elimination.rankingScores`, no two alike; the
      /// scores otherwise.
      Ranking: float[]
      /// The circuit's figures over all pairs (`Evaluate.pooled`).
      Metrics: CircuitScores
      /// The faithfulness curve, one point per level of the experiment, and its CPR and CMD.
      Curve: Curve
      /// The pruned circuit each curve point scored, in the order of the levels.
      CurveCircuits: Circuit list
      /// What a reader of the figures must know (also in circuit.json and run.log), e.g. that m(full) and
      /// m(empty) barely differ (`Evaluate.degenerate`), so normalised faithfulness is meaningless.
      Warnings: string list
      /// The folder the run wrote.
      OutDir: string
      /// Everything the folder shows, as `RunFolder.write` wrote it.
      Report: RunReport }

/// A saved circuit scored again on a dataset.
type SavedEvaluation =
    { /// The form the file was in.
      Format: CircuitFileFormat
      /// The circuit as read, on the model's Full graph; not pruned, so it is scored exactly as saved.
      Circuit: Circuit
      /// The metric's name as `circuit.json` records it (`Metric.name`).
      Metric: string
      /// The circuit's figures over all pairs (`Evaluate.pooled`).
      Scores: CircuitScores
      /// As `DiscoveryResult.Warnings`.
      Warnings: string list }

/// Running experiments.
module Discovery =
    /// Claims `OutDir` for `verb` before any work (`OutputFolder.Claim` with flag "--out", the experiment's
    /// `--model`, `--data` and `--mean-data` inputs and its `Force`): refused when it is a file, holds an input, is
    /// a non-empty folder without the mark, or holds another verb's run without `Force`.
    val claim: verb: string -> Experiment -> OutputFolder
    /// Claims `OutDir` (`claim "discover"`), then loads `ModelDir` (`Checkpoint.Load`) on the experiment's device and
    /// precision (`Compute.apply`, which also sets TF32 on CUDA) and runs `runOn`'s work with it, disposing it afterwards.
    val run: Experiment -> onLog: (StepLog -> unit) -> DiscoveryResult
    /// Runs the experiment as `runOn` does, but writes its files into `dir` (made if missing) as they are, with no
    /// claim, mark or swap: for a caller whose own `OutputFolder.Write` holds several runs (`Compare`, `Stability`).
    /// `OutDir` still names the run (the checkpoints' folder, the titles, `DiscoveryResult.OutDir`).
    val runInto: Decoder -> Experiment -> dir: string -> onLog: (StepLog -> unit) -> DiscoveryResult
    /// Runs the experiment on a model already in memory, which stays the caller's; `ModelDir` only names it.
    /// `OutDir` is claimed first (`claim "discover"`). A run is a composition: the data read with the model's
    /// vocabulary size (a load error names the file and line), the engine with the experiment's ablation (a mean
    /// over the clean prompts of the reference data, or of the run's own), the batches (`Dataset.batches`,
    /// right-padded; every metric reads each prompt's last real token), then `Outcome.run` (the method, its ranking,
    /// circuit and curve), `Report.ofRun` (the circuit scored by `Evaluate.pooled`) and `RunFolder.write`, through
    /// `OutputFolder.Write` (a temporary sibling, marked, then swapped in). Descent's checkpoints live in
    /// `checkpointDir OutDir` when asked: a resume without that folder fails naming it, a run that does not resume
    /// deletes it first, and a run that succeeds deletes it; on any failure nothing is left behind, an old `OutDir`
    /// is left as it was, and the checkpoints stay. A marked old `OutDir` loses the files its mark lists and keeps
    /// every other. The metric is the experiment's, else the task's, else `Metric.defaultFor` the data; one the data
    /// cannot support fails before any work, naming the field it lacks (`Metric.check`).
    /// Fails naming the setting for `TargetEdges` outside 1 .. the learnable parameters, for `TargetEdges` or
    /// `PerPointRuns` without a `TargetLagrangian`, and for `PerPointRuns`, `TargetEdges` or `Checkpoint` with a
    /// method other than `Descent`.
    val runOn: Decoder -> Experiment -> onLog: (StepLog -> unit) -> DiscoveryResult
    /// The folder of a run's checkpoints: `OutDir` with `.checkpoint` appended, beside it.
    val checkpointDir: outDir: string -> string
    /// Scores a saved circuit on a model and data as `runOn` scores its circuit: the Full graph's `learnAll`
    /// schedule with the given ablation (a mean over the clean prompts of its reference, or of `data`), the given metric (None: the task's, else `Metric.defaultFor` the data; refused as `runOn` refuses it), every batch, figures weighted by pairs (so a
    /// circuit `runOn` wrote, on the run's data and ablation, scores its `circuit.json` figures again). The file is
    /// read by `CircuitJson.readCircuit` (only its `edges` are needed); a `model` it records other than `modelDir`
    /// adds a warning naming both. Every error names the file: a folder, one missing or not JSON, a malformed report
    /// or graph, an edge name that does not parse or that the model's graph lacks; data errors name the data file and
    /// line. A model whose full-model metric is not finite (NaN weights) is refused rather than scored.
    /// The model is loaded on `compute`'s device and precision, as `run` loads it.
    val evaluateSaved: modelDir: string -> circuitFile: string -> data: DataSource -> ablation: AblationChoice -> metric: Metric option -> compute: Compute -> SavedEvaluation
