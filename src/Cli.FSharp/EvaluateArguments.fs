/// `patchdescent evaluate`: re-score a saved circuit.
namespace PatchDescent.Cli

open Argu
open PatchDescent.Search

/// The options of `evaluate`.
type EvaluateArguments =
    | [<Mandatory; Unique>] Model of dir: string
    | [<Mandatory; Unique>] Circuit of file: string
    | [<Unique>] Data of file: string
    | [<Unique>] Task of TaskName
    | [<Unique>] N of pairs: int
    | [<Unique>] Split of SplitName
    | [<Unique>] Ablation of AblationName
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Model _ -> "a Hugging Face GPT-2 folder"
            | Circuit _ -> "a circuit.json, or an MIB / EAP-IG graph JSON (told by its top-level cfg)"
            | Data _ -> "clean/corrupted pairs, JSONL; or --task"
            | Task _ -> "a generated task instead of --data: ioi or greater-than (data seed 1), scored with its metric"
            | N _ -> "with --task: number of pairs (default 100)"
            | Split _ -> "with --task: test (held-out prompts; the default) or train (discover's)"
            | Ablation _ -> "what a removed edge carries (default patching)"
            | Json -> "print one JSON object {edges, metric, circuit, full, empty, faithfulness, kl}"

/// What `evaluate` was asked.
type EvaluateRequest =
    { ModelDir: string; CircuitFile: string; Data: DataSource; Metric: Metric option; Ablation: Ablation; AblationName: string; Json: bool }

/// Reading `evaluate`'s options.
module EvaluateArguments =
    /// The request the parsed options describe.
    let request (r: ParseResults<EvaluateArguments>) =
        let ablation = r.GetResult(Ablation, defaultValue = Patching)
        let data, metric = Tasks.source "evaluate" (r.TryGetResult Data) (r.TryGetResult Task) (r.TryGetResult N) (r.GetResult(Split, defaultValue = Test))
        if r.Contains Split && r.Contains Data then raise (UsageException "evaluate: --split goes with --task; a --data file is used whole")
        { ModelDir = r.GetResult Model
          CircuitFile = r.GetResult Circuit
          Data = data
          Metric = metric
          Ablation = Choices.ablation ablation
          AblationName = (sprintf "%A" ablation).ToLowerInvariant()
          Json = r.Contains Json }
