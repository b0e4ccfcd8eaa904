/// `patchdescent random-model`: a seeded random checkpoint in Hugging Face's layout.
namespace PatchDescent.Cli

open Argu

/// `--shape`: the named shapes of random models.
type ShapeName =
    | Tiny
    | Gpt2_Small

/// The options of `random-model`.
type RandomModelArguments =
    | [<Mandatory; Unique>] Out of dir: string
    | [<Unique>] Shape of ShapeName
    | [<Unique>] Seed of int
    | Force

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Out _ -> "the folder to write config.json and model.safetensors into"
            | Shape _ -> "tiny (2 layers, 4 heads, d_model 64, real vocabulary; the default) or gpt2-small"
            | Seed _ -> "the random seed (default 0)"
            | Force -> SharedUsage.force

/// What `random-model` was asked.
type RandomModelRequest = { OutDir: string; Shape: ShapeName; Seed: int; Force: bool }

/// Reading `random-model`'s options.
module RandomModelArguments =
    /// The request the parsed options describe.
    let request (r: ParseResults<RandomModelArguments>) =
        { OutDir = r.GetResult Out; Shape = r.GetResult(Shape, defaultValue = Tiny); Seed = r.GetResult(Seed, defaultValue = 0); Force = r.Contains Force }
