/// `patchdescent export-mib`: a finished run or comparison as MIB's circuit-localization submission folder.
namespace PatchDescent.Cli

open Argu

/// The options of `export-mib`.
type ExportMibArguments =
    | [<Mandatory; Unique>] Run of dir: string
    | [<Mandatory; Unique>] Out of dir: string
    | [<Unique>] Task_Name of name: string
    | Force

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Run _ -> "a discover or compare output folder (circuit.json and graph.mib.json; a comparison's, per method)"
            | Out _ -> "the submission folder: METHOD_ABLATION_edge/TASK_MODEL/importances.json per run, as MIB's run_evaluation.py reads it"
            | Task_Name _ -> "the MIB task the run's pairs are (ioi, mcqa, arithmetic-addition, arithmetic-subtraction, arc-easy, arc-challenge); default ioi for --task ioi runs"
            | Force -> SharedUsage.force

/// What `export-mib` was asked.
type ExportMibRequest = { RunDir: string; OutDir: string; TaskName: string option; Force: bool }

/// Reading `export-mib`'s options.
module ExportMibArguments =
    /// The request the parsed options describe.
    let request (r: ParseResults<ExportMibArguments>) =
        { RunDir = r.GetResult Run; OutDir = r.GetResult Out; TaskName = r.TryGetResult Task_Name; Force = r.Contains Force }
