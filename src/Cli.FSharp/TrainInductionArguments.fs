/// `patchdescent toy train-induction`: a GPT-2 trained on the trigger task, saved with its task.json.
namespace PatchDescent.Cli

open Argu
open PatchDescent.Model
open PatchDescent.Search.Tasks
open PatchDescent.Toys

/// The options of `toy train-induction`; every one defaults to `InductionRecipe.Default`.
type TrainInductionArguments =
    | [<Mandatory; Unique>] Out of dir: string
    | [<Unique>] Seed of int
    | [<Unique>] Steps of count: int
    | [<Unique>] Batch_Size of sequences: int
    | [<Unique>] Learning_Rate of rate: float
    | [<Unique>] Layers of count: int
    | [<Unique>] Heads of count: int
    | [<Unique>] D_Model of width: int
    | [<Unique>] Attn_Only
    | [<Unique>] Mlp
    | [<Unique>] Vocab of tokens: int
    | [<Unique>] Triggers of count: int
    | [<Unique>] Seq_Len of tokens: int
    | [<Unique>] Trigger_Rate of probability: float
    | [<Unique>] Head_Sparsity of strength: float
    | [<Unique>] Head_Sparsity_From of step: int
    | Force

    interface IArgParserTemplate with
        member a.Usage =
            let d = InductionRecipe.Default
            match a with
            | Out _ -> "the model folder to write (config.json, model.safetensors, task.json, loss.csv); it appears only once training has succeeded"
            | Seed _ -> $"seed of the initial weights and of the data stream (default {d.Options.Seed})"
            | Steps _ -> $"training steps (default {d.Options.Steps})"
            | Batch_Size _ -> $"sequences per step (default {d.Options.BatchSize})"
            | Learning_Rate _ -> $"AdamW's learning rate (default {d.Options.LearningRate})"
            | Layers _ -> $"transformer blocks (default {d.Config.Layers})"
            | Heads _ -> $"heads per block (default {d.Config.Heads})"
            | D_Model _ -> $"residual width (default {d.Config.DModel})"
            | Attn_Only -> "blocks without MLPs" + (if d.Config.AttnOnly then " (the default)" else "")
            | Mlp -> "blocks with MLPs, d_mlp = 4 d_model" + (if d.Config.AttnOnly then "" else " (the default)")
            | Vocab _ -> $"vocabulary of the task and the model (default {d.Task.Vocab})"
            | Triggers _ -> $"trigger tokens (default {d.Task.Triggers.Count})"
            | Seq_Len _ -> $"tokens a sequence, and the model's positions (default {d.Task.SeqLen})"
            | Trigger_Rate _ -> $"probability that a trigger follows a non-trigger token (default {d.Task.TriggerRate})"
            | Head_Sparsity _ -> $"group-lasso pressure on whole heads, in sqrt(head size) x learning rate a step (default {d.Options.HeadSparsity}: none)"
            | Head_Sparsity_From _ -> $"the step the head pressure starts at (default {d.Options.HeadSparsityFrom})"
            | Force -> SharedUsage.force

/// What `toy train-induction` was asked: the recipe to train and where to write the model.
type TrainInductionRequest = { OutDir: string; Recipe: InductionRecipe; Force: bool }

/// Reading `toy train-induction`'s options.
module TrainInductionArguments =
    let private verb = "toy train-induction"

    /// The recipe the options describe: `InductionRecipe.Default` with the given changes.
    let request (r: ParseResults<TrainInductionArguments>) =
        let d = InductionRecipe.Default
        let positive option value = Choices.atLeast verb option 1 value
        let c = d.Config
        let layers = r.GetResult(Layers, defaultValue = c.Layers) |> positive "--layers"
        let heads = r.GetResult(Heads, defaultValue = c.Heads) |> positive "--heads"
        let dModel = r.GetResult(D_Model, defaultValue = c.DModel) |> positive "--d-model"
        if dModel % heads <> 0 then raise (UsageException $"{verb}: --d-model {dModel} is not a multiple of --heads {heads}")
        let rate = r.GetResult(Learning_Rate, defaultValue = d.Options.LearningRate)
        if not (rate > 0.0) then raise (UsageException $"{verb}: --learning-rate must be positive, got {rate}")
        let o = d.Options
        let sparsity = r.GetResult(Head_Sparsity, defaultValue = o.HeadSparsity)
        if not (sparsity >= 0.0) then raise (UsageException $"{verb}: --head-sparsity must not be negative, got {sparsity}")
        let sparsityFrom = r.GetResult(Head_Sparsity_From, defaultValue = o.HeadSparsityFrom) |> Choices.atLeast verb "--head-sparsity-from" 0
        let options =
            TrainerOptions(
                Steps = (r.GetResult(Steps, defaultValue = o.Steps) |> positive "--steps"),
                BatchSize = (r.GetResult(Batch_Size, defaultValue = o.BatchSize) |> positive "--batch-size"),
                LearningRate = rate, WeightDecay = o.WeightDecay, ClipNorm = o.ClipNorm, WarmupSteps = o.WarmupSteps,
                Seed = r.GetResult(Seed, defaultValue = o.Seed), LogEvery = o.LogEvery,
                HeadSparsity = sparsity, HeadSparsityFrom = sparsityFrom)
        let t = d.Task
        let vocab = r.GetResult(Vocab, defaultValue = t.Vocab) |> positive "--vocab"
        let seqLen = r.GetResult(Seq_Len, defaultValue = t.SeqLen) |> positive "--seq-len"
        let triggerRate = r.GetResult(Trigger_Rate, defaultValue = t.TriggerRate)
        if not (triggerRate >= 0.0 && triggerRate <= 1.0) then raise (UsageException $"{verb}: --trigger-rate must lie in [0, 1], got {triggerRate}")
        let task =
            if not (r.Contains Vocab || r.Contains Triggers || r.Contains Seq_Len || r.Contains Trigger_Rate) then t
            else
                try
                    TriggerTask.Create(vocab, r.GetResult(Triggers, defaultValue = t.Triggers.Count) |> positive "--triggers", seqLen, t.BigramSeed, t.BigramSharpness, triggerRate)
                with :? System.ArgumentException as e -> raise (UsageException $"{verb}: {e.Message}")
        if r.Contains Attn_Only && r.Contains Mlp then raise (UsageException $"{verb}: --attn-only and --mlp contradict each other")
        let attnOnly = r.Contains Attn_Only || (c.AttnOnly && not (r.Contains Mlp))
        let config = Gpt2Config(layers, heads, dModel, max c.Positions seqLen, vocab, c.LayerNormEpsilon, attnOnly)
        { OutDir = r.GetResult Out; Recipe = InductionRecipe(config, task, options); Force = r.Contains Force }
