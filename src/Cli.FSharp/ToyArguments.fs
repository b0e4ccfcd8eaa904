/// `patchdescent toy`: the small models PatchDescent builds itself, whose circuits are known.
namespace PatchDescent.Cli

open Argu

/// The options of `toy compile-induction`.
type CompileInductionArguments =
    | [<Mandatory; Unique>] Out of dir: string
    | [<Unique>] Seed of int
    | Force

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Out _ -> "the folder to write config.json, model.safetensors, task.json and MODEL.md into"
            | Seed _ -> "the seed of the distractor heads' weights (default 1, the shipped model)"
            | Force -> SharedUsage.force

/// The `toy` subcommands.
[<RequireQualifiedAccess>]
type ToyArguments =
    | [<CliPrefix(CliPrefix.None); SubCommand>] Compile_Induction of ParseResults<CompileInductionArguments>
    | [<CliPrefix(CliPrefix.None); SubCommand>] Train_Induction of ParseResults<TrainInductionArguments>
    | [<CliPrefix(CliPrefix.None); SubCommand>] Check of ParseResults<ToyCheckArguments>
    | [<CliPrefix(CliPrefix.None); SubCommand>] Validate of ParseResults<ToyValidateArguments>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Compile_Induction _ -> "write the hand-compiled 2-layer induction model (models/induction-compiled)"
            | Train_Induction _ -> "train a GPT-2 on the trigger task (Bietti et al. 2023), deterministically on the CPU"
            | Check _ -> "the mechanism check of a trigger-task model: head scores, losses, ablations"
            | Validate _ -> "train the recipe with several seeds and run the whole check on each"

/// What `toy` was asked.
type ToyRequest =
    /// Write the compiled induction model into a folder.
    | CompileInduction of outDir: string * seed: int * force: bool
    /// Train a trigger-task model.
    | TrainInduction of TrainInductionRequest
    /// Check a trigger-task model.
    | Check of ToyCheckRequest
    /// Train and check several seeds.
    | Validate of ToyValidateRequest

/// Reading `toy`'s options.
module ToyArguments =
    /// The request of the subcommand given.
    let request (r: ParseResults<ToyArguments>) =
        match r.GetSubCommand() with
        | ToyArguments.Compile_Induction c -> CompileInduction(c.GetResult CompileInductionArguments.Out, c.GetResult(CompileInductionArguments.Seed, defaultValue = 1), c.Contains CompileInductionArguments.Force)
        | ToyArguments.Train_Induction t -> TrainInduction(TrainInductionArguments.request t)
        | ToyArguments.Check c -> Check(ToyCheckArguments.request c)
        | ToyArguments.Validate v -> Validate(ToyValidateArguments.request v)
