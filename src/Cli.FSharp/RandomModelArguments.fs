/// `patchdescent random-model`: a seeded random checkpoint in Hugging Face's layout.
namespace PatchDescent.Cli

open Argu

/// `--shape`: the named shapes of random models.
type ShapeName =
    | Tiny
    | Gpt2_Small
    | Tiny_Llama
    | [<CustomCommandLine("qwen2.5-0.5b")>] Qwen25_05B

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
            | Shape _ -> "tiny (GPT-2: 2 layers, 4 heads, d_model 64, GPT-2's vocabulary; the default), gpt2-small, tiny-llama (Llama: 2 layers, 4 query heads over 2 key-value heads, d_model 64, GPT-2's vocabulary size) or qwen2.5-0.5b (Qwen2.5-0.5B's shape, bfloat16)"
            | Seed _ -> "the random seed (default 0)"
            | Force -> SharedUsage.force

/// What `random-model` was asked.
type RandomModelRequest = { OutDir: string; Shape: ShapeName; Seed: int; Force: bool }

/// Reading `random-model`'s options.
module RandomModelArguments =
    /// The request the parsed options describe.
    let request (r: ParseResults<RandomModelArguments>) =
        { OutDir = r.GetResult Out; Shape = r.GetResult(Shape, defaultValue = Tiny); Seed = r.GetResult(Seed, defaultValue = 0); Force = r.Contains Force }
