/// The named choices several verbs share, as Argu enumerations (Argu prints and checks their values), and what
/// each turns into.
namespace PatchDescent.Cli

open PatchDescent.Search

/// `--device`: where a model runs; `auto` is CUDA when TorchSharp sees a GPU.
type DeviceName =
    | Auto
    | Cpu
    | Cuda

/// `--dtype`: the compute dtype.
type DTypeName =
    | Float32
    | Bfloat16

/// `--granularity`: the graph the coefficients live on.
type GranularityName =
    | Full
    | Heads

/// `--ablation`: what a removed edge carries.
type AblationName =
    | Patching
    | Zero

/// Reading choices and values every verb checks the same way.
module Choices =
    /// The device name DeviceChoice.Resolve takes.
    let device name =
        match name with
        | Auto -> "auto"
        | Cpu -> "cpu"
        | Cuda -> "cuda"

    /// The dtype name DeviceChoice.ResolveDType takes.
    let dtype name =
        match name with
        | Float32 -> "float32"
        | Bfloat16 -> "bfloat16"

    /// The graph granularity.
    let granularity name =
        match name with
        | Full -> Granularity.Full
        | Heads -> Granularity.Heads

    /// The ablation.
    let ablation name =
        match name with
        | Patching -> Ablation.Patching
        | Zero -> Ablation.Zero

    /// Fails with a usage error when a count is below its minimum.
    let atLeast verb option minimum value =
        if value < minimum then raise (UsageException $"{verb}: {option} must be at least {minimum}, got {value}")
        value

    /// A comma-separated list of integers, each checked.
    let integers verb option (text: string) =
        [ for part in text.Split(',', System.StringSplitOptions.TrimEntries) ->
            match System.Int32.TryParse part with
            | true, v -> v
            | _ -> raise (UsageException $"{verb}: {option} expects integers separated by commas, got '{text}'") ]
