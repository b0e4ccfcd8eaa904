/// `patchdescent compare`: several discovery methods on one model and data, side by side.
namespace PatchDescent.Cli

open Argu
open PatchDescent.Search

/// The options of `compare`.
type CompareArguments =
    | [<Mandatory; Unique>] Model of dir: string
    | [<Unique>] Data of file: string
    | [<Unique>] Task of TaskName
    | [<Unique; AltCommandLine("--n")>] Pairs of count: int
    | [<Mandatory; Unique>] Out of dir: string
    | [<Unique>] Methods of list: string
    | [<Unique>] Granularity of GranularityName
    | [<Unique>] Steps of count: int
    | [<Unique>] Seed of int
    | [<Unique>] Batch_Size of pairs: int
    | [<Unique>] Metric of MetricName
    | [<Unique>] Ig_Steps of steps: int
    | [<Unique>] Acdc_Tau of nats: float
    | [<Unique>] Prune_Floor of floor: float
    | [<Unique>] Device of DeviceName
    | [<Unique>] Dtype of DTypeName
    | Strict_Fp32
    | Force

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Model _ -> SharedUsage.model
            | Data _ -> "clean/corrupted pairs, JSONL (text or token ids, one pair a line); or --task"
            | Task _ -> "generate the pairs of a task instead of reading --data, and score with its metric"
            | Pairs _ -> "how many pairs --task generates (default 128, seeded by --seed)"
            | Out _ -> "the folder: one subfolder per method, comparison.csv, comparison.md, curves.png, curves.svg and report.html"
            | Methods _ -> "comma-separated methods to run: descent, eap, eap-ig, acdc, prune (default descent,eap,eap-ig,acdc)"
            | Granularity _ -> "the graph: full (the default) or heads"
            | Steps _ -> "descent's training steps (default 300)"
            | Seed _ -> "descent's seed (default 1)"
            | Batch_Size _ -> "pairs per batch (default 16)"
            | Metric _ -> SharedUsage.metric
            | Ig_Steps _ -> "EAP-IG's integration steps (default 5)"
            | Acdc_Tau _ -> "ACDC's KL threshold in nats (default 0.01)"
            | Prune_Floor _ -> "the floor in (0, 1] of prune and of descent's refinement (default 0.9)"
            | Device _ -> SharedUsage.device
            | Dtype _ -> SharedUsage.dtype
            | Strict_Fp32 -> SharedUsage.strictFp32
            | Force -> SharedUsage.force

/// What `compare` was asked: the experiment every method shares, and the methods in order.
type CompareRequest = { Experiment: Experiment; Methods: Method list }

/// Reading `compare`'s options.
module CompareArguments =
    /// The request the parsed options describe, built from `Experiment.defaults` as a script builds it.
    let request (r: ParseResults<CompareArguments>) =
        let names =
            r.TryGetResult Methods
            |> Option.map (Choices.methodNames "compare" "--methods")
            |> Option.defaultValue [ MethodName.Descent; MethodName.Eap; MethodName.Eap_Ig; MethodName.Acdc ]
        if List.distinct names <> names then raise (UsageException "compare: --methods names a method twice")
        let steps = r.GetResult(Steps, defaultValue = 300) |> Choices.atLeast "compare" "--steps" 1
        let data =
            match r.TryGetResult Data, r.TryGetResult Task with
            | Some file, None ->
                if r.Contains Pairs then raise (UsageException "compare: --pairs counts the pairs of --task; --data reads them all")
                JsonlFile file
            | None, Some task ->
                let size = r.GetResult(Pairs, defaultValue = 128) |> Choices.atLeast "compare" "--pairs" 1
                DataSource.Task(TaskChoice.request task { TaskChoice.defaults with Size = size; Seed = (r.GetResult(Seed, defaultValue = 1)) })
            | _ -> raise (UsageException "compare: give --data FILE or --task NAME, one of them")
        let e = Experiment.defaults (r.GetResult Model) data (r.GetResult Out) |> Experiment.withSteps steps
        let experiment =
            { e with
                Granularity = Choices.granularity (r.GetResult(Granularity, defaultValue = Full))
                Train = { e.Train with Seed = r.GetResult(Seed, defaultValue = e.Train.Seed) }
                BatchSize = r.GetResult(Batch_Size, defaultValue = e.BatchSize) |> Choices.atLeast "compare" "--batch-size" 1
                Metric = r.TryGetResult Metric |> Option.map Choices.metric
                Compute = Choices.compute (r.TryGetResult Device) (r.TryGetResult Dtype) (r.Contains Strict_Fp32)
                // The floor is the refinement's as much as prune's, so descent's run uses it too.
                Refine = r.TryGetResult Prune_Floor |> Option.map PruneRefinement |> Option.defaultValue e.Refine
                Force = r.Contains Force }
        { Experiment = experiment
          Methods = DiscoverArguments.methods "compare" names (r.TryGetResult Ig_Steps) (r.TryGetResult Acdc_Tau) (r.TryGetResult Prune_Floor) }
