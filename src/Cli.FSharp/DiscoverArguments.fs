/// `patchdescent discover`: one discovery run, or one per seed and their overlaps.
namespace PatchDescent.Cli

open Argu
open PatchDescent.Search

/// The options of `discover`.
type DiscoverArguments =
    | [<Mandatory; Unique>] Model of dir: string
    | [<Unique>] Data of file: string
    | [<Unique>] Task of TaskName
    | [<Unique; AltCommandLine("--n")>] Pairs of count: int
    | [<Mandatory; Unique>] Out of dir: string
    | [<Unique>] Granularity of GranularityName
    | [<Unique>] Steps of count: int
    | [<Unique>] Seed of int
    | [<Unique>] Seeds of list: string
    | [<Unique>] Batch_Size of pairs: int
    | [<Unique>] Ablation of AblationName
    | [<Unique>] Metric of MetricName
    | [<Unique>] Mean_Data of file: string
    | [<Unique>] Loss of LossName
    | [<Unique>] Target_Edges of count: int
    | [<Unique>] Per_Point_Runs
    | [<Unique>] Checkpoint_Every of steps: int
    | [<Unique>] Resume
    | [<Unique>] Method of MethodName
    | [<Unique>] Ig_Steps of steps: int
    | [<Unique>] Acdc_Tau of nats: float
    | [<Unique>] Prune_Floor of floor: float
    | [<Unique>] Refine of mode: string
    | [<Unique>] Refine_Trials of count: int
    | [<Unique>] Device of DeviceName
    | [<Unique>] Dtype of DTypeName
    | Strict_Fp32
    | Force

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Model _ -> SharedUsage.model
            | Data _ -> "clean/corrupted pairs, JSONL (text or token ids, one pair a line); or --task"
            | Task _ -> "generate the pairs of a task instead of reading --data (ioi and greater-than: their train split), and score with its metric"
            | Pairs _ -> "how many pairs --task generates (default 128, seeded by --seed)"
            | Out _ -> "the folder the run writes: new, empty, or an earlier run's (whose files it replaces); it appears only once the run has succeeded"
            | Granularity _ -> "the graph: full (MLPs and separate q/k/v inputs; the default) or heads"
            | Steps _ -> "training steps (default 300)"
            | Seed _ -> "the seed of one run (default 1)"
            | Seeds _ -> "several seeds, comma-separated: one run each into OUT/seed-N and their overlaps in OUT/stability.csv"
            | Batch_Size _ -> "pairs per batch (default 16)"
            | Ablation _ -> "what a removed edge carries (default patching; mean: the mean over the clean prompts of --data or --mean-data)"
            | Metric _ -> SharedUsage.metric
            | Mean_Data _ -> "JSONL pairs whose clean prompts --ablation mean averages over, instead of --data's"
            | Loss _ -> "the faithfulness loss (default kl)"
            | Target_Edges _ -> "the edges (learnable parameters, in heads granularity) the target sparsity anneals to; default 5% of them"
            | Per_Point_Runs -> "the curve from one training per level (slow; for comparison) instead of from the one run's anneal"
            | Checkpoint_Every _ -> "write a checkpoint into OUT.checkpoint every this many steps (deleted once the run succeeds)"
            | Resume -> "continue from the checkpoints in OUT.checkpoint; the other options must be those of the interrupted run"
            | Method _ -> "how edges are scored: descent (gradient descent, the default), eap, eap-ig, acdc or prune (exact sequential elimination, the reference)"
            | Ig_Steps _ -> "EAP-IG's integration steps (default 5)"
            | Acdc_Tau _ -> "ACDC's threshold: an edge goes when removing it raises KL by less than this, in nats (default 0.01)"
            | Prune_Floor _ -> "the floor in (0, 1] of prune and of descent's refinement: an edge goes when the circuit without it keeps |1 - faithfulness| <= 1 - floor (default 0.9)"
            | Refine _ -> "descent's exact stage after training: none, prune (elimination over its candidates, the default) or swap (then single swaps at the budget)"
            | Refine_Trials _ -> "the most trials the refinement runs, each one pass over the pairs (default 2 x steps / batches, at least 400)"
            | Device _ -> SharedUsage.device
            | Dtype _ -> SharedUsage.dtype
            | Strict_Fp32 -> SharedUsage.strictFp32
            | Force -> SharedUsage.force

/// What `discover` was asked: the experiment a script would build, and the seeds when several runs are wanted.
type DiscoverRequest = { Experiment: Experiment; Seeds: int list option }

/// Reading `discover`'s options.
module DiscoverArguments =
    let private seedList text =
        let seeds = Choices.integers "discover" "--seeds" text
        if seeds.Length < 2 || List.distinct seeds <> seeds then
            raise (UsageException $"discover: --seeds needs at least two different seeds, got '{text}'")
        seeds

    /// The method `--method`, `--ig-steps`, `--acdc-tau` and `--prune-floor` describe (shared with `compare`); a
    /// setting for a method not asked for is an error rather than silently ignored.
    let methods verb (names: MethodName list) (igSteps: int option) (acdcTau: float option) (pruneFloor: float option) =
        if igSteps.IsSome && not (List.contains MethodName.Eap_Ig names) then
            raise (UsageException $"{verb}: --ig-steps applies to eap-ig only")
        if acdcTau.IsSome && not (List.contains MethodName.Acdc names) then
            raise (UsageException $"{verb}: --acdc-tau applies to acdc only")
        let steps = defaultArg igSteps Method.defaultIgSteps |> Choices.atLeast verb "--ig-steps" 1
        let tau = defaultArg acdcTau Method.defaultAcdcTau
        if not (tau >= 0.0) then raise (UsageException $"{verb}: --acdc-tau must be 0 or more, got {tau}")
        if pruneFloor.IsSome && not (List.contains MethodName.Prune names || List.contains MethodName.Descent names) then
            raise (UsageException $"{verb}: --prune-floor applies to prune and to descent's refinement only")
        let floor = defaultArg pruneFloor Method.defaultPruneFloor
        if not (floor > 0.0 && floor <= 1.0) then
            raise (UsageException $"{verb}: --prune-floor must lie in (0, 1] (an edge goes when faithfulness stays within 1 - floor of 1), got {floor}")
        [ for n in names -> Choices.method n steps tau floor ]

    /// The request the parsed options describe, built from `Experiment.defaults` as a script builds it.
    let request (r: ParseResults<DiscoverArguments>) =
        if r.Contains Seed && r.Contains Seeds then
            raise (UsageException "discover: give --seed for one run or --seeds for several, not both")
        let steps = r.GetResult(Steps, defaultValue = 300) |> Choices.atLeast "discover" "--steps" 1
        let seed = r.GetResult(Seed, defaultValue = 1)
        let data =
            match r.TryGetResult Data, r.TryGetResult Task with
            | Some file, None ->
                if r.Contains Pairs then raise (UsageException "discover: --pairs counts the pairs of --task; --data reads them all")
                JsonlFile file
            | None, Some task ->
                let size = r.GetResult(Pairs, defaultValue = 128) |> Choices.atLeast "discover" "--pairs" 1
                DataSource.Task(TaskChoice.request task { TaskChoice.defaults with Size = size; Seed = seed })
            | _ -> raise (UsageException "discover: give --data FILE or --task NAME, one of them")
        let e = Experiment.defaults (r.GetResult Model) data (r.GetResult Out) |> Experiment.withSteps steps
        let experiment =
            { e with
                Granularity = Choices.granularity (r.GetResult(Granularity, defaultValue = Full))
                Ablation = Choices.ablation "discover" (r.GetResult(Ablation, defaultValue = Patching)) (r.TryGetResult Mean_Data)
                Train =
                    { e.Train with
                        Seed = r.GetResult(Seed, defaultValue = e.Train.Seed)
                        Loss = r.TryGetResult Loss |> Option.map Choices.loss |> Option.defaultValue e.Train.Loss }
                BatchSize = r.GetResult(Batch_Size, defaultValue = e.BatchSize) |> Choices.atLeast "discover" "--batch-size" 1
                Metric = r.TryGetResult Metric |> Option.map Choices.metric
                CurveMode = if r.Contains Per_Point_Runs then PerPointRuns else e.CurveMode
                TargetEdges = r.TryGetResult Target_Edges |> Option.map (Choices.atLeast "discover" "--target-edges" 1)
                Checkpoint =
                    match r.TryGetResult Checkpoint_Every, r.Contains Resume with
                    | None, false -> None
                    | every, resume ->
                        // A resumed run keeps checkpointing, every 10% of the steps unless told otherwise.
                        let every = every |> Option.defaultValue (max 1 (steps / 10)) |> Choices.atLeast "discover" "--checkpoint-every" 1
                        Some { Every = every; Resume = resume }
                Method = List.exactlyOne (methods "discover" [ r.GetResult(Method, defaultValue = MethodName.Descent) ] (r.TryGetResult Ig_Steps) (r.TryGetResult Acdc_Tau) (r.TryGetResult Prune_Floor))
                Compute = Choices.compute (r.TryGetResult DiscoverArguments.Device) (r.TryGetResult Dtype) (r.Contains Strict_Fp32)
                Force = r.Contains Force }
        let refined =
            let given = r.TryGetResult Refine
            if experiment.Method <> Descent && (given.IsSome || r.Contains Refine_Trials) then
                raise (UsageException $"discover: --refine and --refine-trials apply to descent only: {Method.name experiment.Method} trains no gates for them to refine")
            let floor = r.GetResult(Prune_Floor, defaultValue = Method.defaultPruneFloor)
            let refine = given |> Option.map (fun t -> Choices.refinement "discover" t floor) |> Option.defaultValue (PruneRefinement floor)
            if refine = NoRefinement && (r.Contains Prune_Floor || r.Contains Refine_Trials) then
                raise (UsageException "discover: --prune-floor and --refine-trials set the refinement, which --refine none turns off")
            { experiment with
                Refine = refine
                RefineTrials = r.TryGetResult Refine_Trials |> Option.map (Choices.atLeast "discover" "--refine-trials" 1) }
        let experiment = refined
        if r.Contains Seeds && experiment.Method <> Descent then
            raise (UsageException $"discover: --seeds applies to descent only; {Method.name experiment.Method} is deterministic")
        { Experiment = experiment; Seeds = r.TryPostProcessResult(Seeds, seedList) }
