/// `patchdescent toy`: the small models PatchDescent builds itself, whose circuits are known.
namespace PatchDescent.Cli

open Argu

/// The options of `toy compile-induction`.
type CompileInductionArguments =
    | [<Mandatory; Unique>] Out of dir: string
    | [<Unique>] Seed of int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Out _ -> "the folder to write config.json, model.safetensors, task.json and MODEL.md into"
            | Seed _ -> "the seed of the distractor heads' weights (default 1, the shipped model)"

/// The `toy` subcommands.
type ToyArguments =
    | [<CliPrefix(CliPrefix.None); SubCommand>] Compile_Induction of ParseResults<CompileInductionArguments>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Compile_Induction _ -> "write the hand-compiled 2-layer induction model (models/induction-compiled)"

/// What `toy` was asked.
type ToyRequest =
    /// Write the compiled induction model into a folder.
    | CompileInduction of outDir: string * seed: int

/// Reading `toy`'s options.
module ToyArguments =
    /// The request the parsed options describe.
    let request (r: ParseResults<ToyArguments>) =
        match r.GetSubCommand() with
        | Compile_Induction c -> CompileInduction(c.GetResult Out, c.GetResult(Seed, defaultValue = 1))
