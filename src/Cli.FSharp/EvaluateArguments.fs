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
    | [<Unique; AltCommandLine("--n")>] Pairs of count: int
    | [<Unique>] Seed of int
    | [<Unique>] Split of SplitName
    | [<Unique>] Ablation of AblationName
    | [<Unique>] Metric of MetricName
    | [<Unique>] Mean_Data of file: string
    | Json
    | [<Unique>] Device of DeviceName
    | [<Unique>] Dtype of DTypeName
    | Strict_Fp32

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Model _ -> SharedUsage.model
            | Circuit _ -> "a circuit.json, or an MIB / EAP-IG graph JSON (told by its top-level cfg)"
            | Data _ -> "clean/corrupted pairs, JSONL; or --task"
            | Task _ -> "generate the pairs of a task instead of reading --data, and score with its metric"
            | Pairs _ -> "how many pairs --task generates (default 128)"
            | Seed _ -> "the seed --task generates with (default 1, as discover's)"
            | Split _ -> "ioi and greater-than: test (held-out prompts; the default) or train (discover's)"
            | Ablation _ -> "what a removed edge carries (default patching; mean: the mean over the clean prompts of --data or --mean-data)"
            | Metric _ -> SharedUsage.metric
            | Mean_Data _ -> "JSONL pairs whose clean prompts --ablation mean averages over, instead of --data's"
            | Json -> "print one JSON object {edges, metric, circuit, full, empty, faithfulness, kl}"
            | Device _ -> SharedUsage.device
            | Dtype _ -> SharedUsage.dtype
            | Strict_Fp32 -> SharedUsage.strictFp32

/// What `evaluate` was asked.
type EvaluateRequest =
    { ModelDir: string; CircuitFile: string; Data: DataSource; Ablation: AblationChoice; AblationName: string; Json: bool
      /// `--metric`; None scores with the data's or the task's own.
      Metric: Metric option
      /// Where and how precisely the model computes, as `discover --device --dtype --strict-fp32` give it.
      Compute: Compute }

/// Reading `evaluate`'s options.
module EvaluateArguments =
    /// The request the parsed options describe.
    let request (r: ParseResults<EvaluateArguments>) =
        let ablation = r.GetResult(Ablation, defaultValue = Patching)
        let data =
            match r.TryGetResult Data, r.TryGetResult Task with
            | Some file, None ->
                if r.Contains Pairs || r.Contains Seed || r.Contains Split then
                    raise (UsageException "evaluate: --pairs, --seed and --split go with --task; --data is read whole")
                JsonlFile file
            | None, Some task ->
                // Induction has no held-out split: its default is the only one it has.
                let split = r.GetResult(Split, defaultValue = (if task = Induction then Train else Test))
                let settings =
                    { TaskChoice.defaults with
                        Size = r.GetResult(Pairs, defaultValue = TaskChoice.defaults.Size) |> Choices.atLeast "evaluate" "--pairs" 1
                        Seed = r.GetResult(Seed, defaultValue = TaskChoice.defaults.Seed)
                        Split = split }
                DataSource.Task(TaskChoice.request task (TaskChoice.check "evaluate" task settings))
            | _ -> raise (UsageException "evaluate: give --data FILE or --task NAME, one of them")
        { ModelDir = r.GetResult Model
          CircuitFile = r.GetResult Circuit
          Data = data
          Ablation = Choices.ablation "evaluate" ablation (r.TryGetResult Mean_Data)
          AblationName = (sprintf "%A" ablation).ToLowerInvariant()
          Json = r.Contains Json
          Metric = r.TryGetResult Metric |> Option.map Choices.metric
          Compute = Choices.compute (r.TryGetResult Device) (r.TryGetResult Dtype) (r.Contains Strict_Fp32) }
