/// `patchdescent toy validate`: trains the recipe with several seeds and runs the whole check on each.
namespace PatchDescent.Cli

open Argu
open PatchDescent.Toys

/// The options of `toy validate`.
type ToyValidateArguments =
    | [<Unique>] Seeds of list: string
    | [<Unique>] Out of dir: string
    | [<Unique>] Steps of count: int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Seeds _ -> "the seeds to train, comma-separated (default 1,2,3)"
            | Out _ -> "where the models go, one folder OUT/seed-N each (default out/validate)"
            | Steps _ -> $"training steps per seed (default {InductionRecipe.Default.Options.Steps})"

/// What `toy validate` was asked: one recipe per seed.
type ToyValidateRequest = { OutDir: string; Recipes: (int * InductionRecipe) list }

/// Reading `toy validate`'s options.
module ToyValidateArguments =
    let private verb = "toy validate"

    /// The request the parsed options describe: `InductionRecipe.Default` with each seed.
    let request (r: ParseResults<ToyValidateArguments>) =
        let seeds = r.GetResult(Seeds, defaultValue = "1,2,3") |> Choices.integers verb "--seeds"
        if List.distinct seeds <> seeds then raise (UsageException $"{verb}: --seeds lists a seed twice")
        let d = InductionRecipe.Default
        let o = d.Options
        let steps = r.GetResult(Steps, defaultValue = o.Steps) |> Choices.atLeast verb "--steps" 1
        let recipe seed =
            InductionRecipe(d.Config, d.Task,
                TrainerOptions(Steps = steps, BatchSize = o.BatchSize, LearningRate = o.LearningRate, WeightDecay = o.WeightDecay,
                               ClipNorm = o.ClipNorm, WarmupSteps = o.WarmupSteps, Seed = seed, LogEvery = o.LogEvery,
                               HeadSparsity = o.HeadSparsity, HeadSparsityFrom = o.HeadSparsityFrom))
        { OutDir = r.GetResult(Out, defaultValue = "out/validate"); Recipes = [ for s in seeds -> s, recipe s ] }
