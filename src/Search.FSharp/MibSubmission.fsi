/// A finished run, or a comparison's runs, as MIB's circuit-localization submission: one folder per method, then one
/// per task and model in MIB's naming (`ioi_gpt2`), holding the edges' importance scores, the layout MIB's
/// `run_evaluation.py` reads (`CIRCUIT_DIR/METHOD_ABLATION_edge/TASK_MODEL/importances.json`).
namespace PatchDescent.Search

/// One file of a submission.
type MibFile =
    { /// Its path under the submission folder: `descent_patching_edge/ioi_gpt2/importances.json`.
      Path: string
      /// MIB's graph JSON (`CircuitJson.exportMib`) with every edge's importance: the run's ranking.
      Text: string
      /// The run folder it came from, for the verb's report.
      Run: string
      /// The method and the ablation, as run_evaluation.py's `--method` and `--ablation` take them.
      Method: string
      Ablation: string
      /// The MIB task and model, as its `--tasks` (with `_` for `-`) and `--models` take them.
      Task: string
      Model: string
      /// How many edges have a score.
      Edges: int }

/// Building submissions.
module MibSubmission =
    /// MIB's task names as its folders spell them.
    val tasks: string list
    /// MIB's models by folder name, with the layers, heads and d_model of each.
    val models: (string * (int * int * int)) list
    /// The files for a run folder (circuit.json and graph.mib.json) or a compare folder (comparison.csv, then each
    /// method's run folder). The model is told by the graph's shape, which must be one of `models`; the task is
    /// `taskName`, else `ioi` for the IOI generator's pairs. Reads the files and writes nothing. The error names the
    /// file and what is wrong: a missing file, a seed sweep (export one seed's folder), a graph.mib.json without
    /// cfg.d_model, without MLP edges or without a score for every edge of MIB's graph, a shape or a task MIB
    /// does not have, an ablation MIB does not run.
    val files: runDir: string -> taskName: string option -> Result<MibFile list, string>
