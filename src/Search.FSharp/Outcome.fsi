/// What one method makes of a run: its scores, its ranking, its own circuit, its settings and its curve, as one
/// value that `Report.ofRun` turns into the files of a run.
namespace PatchDescent.Search

/// What every method of a run works on, built once by `Discovery` from the experiment.
[<NoEquality; NoComparison>]
type RunInputs =
    { /// The engine of the experiment's graph and ablation.
      Engine: Engine.CompiledEngine
      /// Every batch with its full-model targets.
      Batches: PreparedBatchWithTargets list
      /// The batches as evaluations with their pair counts, for `Evaluate.pooled`.
      Evaluations: (Evaluation * int) list
      /// The metric the run scores circuits by.
      Metric: Metric
      /// The training settings, `TargetEdges` applied.
      Train: TrainSettings
      /// The trainer's options for a checkpoint file of that name.
      TrainOptions: string -> TrainOptions
      /// Called with every step log of every training, as it happens.
      OnLog: StepLog -> unit }

/// One method's result on a run.
type MethodOutcome =
    { /// One score per Full-graph edge id: descent's final gates, the method's scores otherwise.
      Scores: float[]
      /// One ranking key per edge id: the curve's top k and graph.mib.json's `score`s.
      Ranking: float[]
      /// The method's own circuit (see `Outcome.run`).
      Circuit: Circuit
      /// The method's settings as name and printed value, for circuit.json.
      Settings: (string * string) list
      /// The curve, a row per level of the experiment.
      Rows: CurveRow list
      /// The curves drawn in curve.png, by label.
      Plotted: (string * Curve) list
      /// run.log's lines of the method, in order: every step log, the refinement, the trials.
      Log: string list
      /// What a reader of the figures must know, e.g. that a target edge count was not reached.
      Warnings: string list
      /// Wall seconds of the method's phases, in order (descent: training, refinement, ranking, curve), for run.log.
      Timings: (string * float) list }

/// Running a method.
module Outcome =
    /// `f ()` and the wall seconds it took, for run.log's time line.
    val timed: f: (unit -> 'a) -> 'a * float
    /// The faithfulness an attribution method's circuit must reach: 0.85, the bar of Hanna et al. 2024.
    val attributionBar: float
    /// The experiment's training settings with `TargetEdges` K applied: the target's end at 1 - K / parameters.
    /// Fails naming the option for K outside 1 .. the learnable parameters, or a sparsity without a target.
    val trainSettings: Engine.CompiledEngine -> Experiment -> TrainSettings
    /// Runs the experiment's method. `Descent` trains (`Train.runWith`), refines (`Refine.run`, skipped when
    /// m(full) and m(empty) barely differ) and, with a refinement on a graph of one parameter per edge, makes the
    /// refinement's order nested at the curve's sizes (`Elimination.nested` over it, EAP's and EAP-IG's
    /// |attribution|, within the trials the refinement left; with `TargetEdges` K its first K are the anchor); its circuit is the refined candidates, or
    /// with `TargetEdges` K the pruned top K of the ranking, with a warning when the expected kept edges at the last
    /// step are above K + 0.5; under `PerPointRuns` each level trains once more. `Eap` and `EapIg` attribute the
    /// metric, and their circuit is the curve's smallest reaching `attributionBar`, else its largest. `Prune` and
    /// `Acdc` keep what they kept. Each curve level is the pruned top floor(level * edges) of the ranking.
    val run: Experiment -> RunInputs -> MethodOutcome
