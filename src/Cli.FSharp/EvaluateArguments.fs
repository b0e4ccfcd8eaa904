/// `patchdescent evaluate`: re-score a saved circuit.
namespace PatchDescent.Cli

open Argu
open PatchDescent.Search

/// The options of `evaluate`.
type EvaluateArguments =
    | [<Mandatory; Unique>] Model of dir: string
    | [<Mandatory; Unique>] Circuit of file: string
    | [<Mandatory; Unique>] Data of file: string
    | [<Unique>] Ablation of AblationName
    | [<Unique>] Mean_Data of file: string
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Model _ -> "a Hugging Face GPT-2 folder"
            | Circuit _ -> "a circuit.json, or an MIB / EAP-IG graph JSON (told by its top-level cfg)"
            | Data _ -> "clean/corrupted pairs, JSONL"
            | Ablation _ -> "what a removed edge carries (default patching; mean: the mean over the clean prompts of --data or --mean-data)"
            | Mean_Data _ -> "JSONL pairs whose clean prompts --ablation mean averages over, instead of --data's"
            | Json -> "print one JSON object {edges, metric, circuit, full, empty, faithfulness, kl}"

/// What `evaluate` was asked.
type EvaluateRequest =
    { ModelDir: string; CircuitFile: string; Data: DataSource; Ablation: AblationChoice; AblationName: string; Json: bool }

/// Reading `evaluate`'s options.
module EvaluateArguments =
    /// The request the parsed options describe.
    let request (r: ParseResults<EvaluateArguments>) =
        let ablation = r.GetResult(Ablation, defaultValue = Patching)
        { ModelDir = r.GetResult Model
          CircuitFile = r.GetResult Circuit
          Data = JsonlFile(r.GetResult Data)
          Ablation = Choices.ablation "evaluate" ablation (r.TryGetResult Mean_Data)
          AblationName = (sprintf "%A" ablation).ToLowerInvariant()
          Json = r.Contains Json }
