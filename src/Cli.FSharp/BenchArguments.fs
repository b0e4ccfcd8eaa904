/// `patchdescent bench`: the figures docs/BENCHMARKS.md records.
namespace PatchDescent.Cli

open Argu

/// `--step`: one engine step to time in this process (the parent bench runs each in a child process).
type StepKind =
    | Plain
    | Fast
    | Reference

/// The options of `bench`.
type BenchArguments =
    | Quick
    | [<Unique>] Step of StepKind
    | [<Unique>] Layers of count: int
    | [<Unique>] Batch of pairs: int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Quick -> "3 repeats instead of 10"
            | Step _ -> "time only this step (used by the bench itself, one child process a step)"
            | Layers _ -> "layers of the GPT-2-small-shaped model for --step (default 12)"
            | Batch _ -> "batch for --step (default 8)"

/// What `bench` was asked.
type BenchRequest = { Quick: bool; Step: StepKind option; Layers: int; Batch: int }

/// Reading `bench`'s options.
module BenchArguments =
    /// The request the parsed options describe.
    let request (r: ParseResults<BenchArguments>) =
        { Quick = r.Contains Quick
          Step = r.TryGetResult Step
          Layers = r.GetResult(Layers, defaultValue = 12) |> Choices.atLeast "bench" "--layers" 1
          Batch = r.GetResult(Batch, defaultValue = 8) |> Choices.atLeast "bench" "--batch" 1 }
