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
    | Profile
    | [<Unique>] Step of StepKind
    | [<Unique>] Layers of count: int
    | [<Unique>] Batch of pairs: int
    | [<Unique>] Positions of count: int
    | [<Unique>] Device of DeviceName
    | [<Unique>] Dtype of DTypeName
    | [<Unique>] Graph of GranularityName
    | Strict_Fp32
    | [<Unique>] Discovery_Steps of count: int
    | [<Unique>] Soak of steps: int
    | Scale

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Quick -> "3 repeats instead of 10"
            | Profile -> "where one fast step's time goes (--layers, --batch, --positions, --dtype), beside plain forward+backward, in one process on the CPU"
            | Step _ -> "time only this step (used by the bench itself, one child process a step)"
            | Layers _ -> "layers of the GPT-2-small-shaped model for --step (default 12)"
            | Batch _ -> "batch for --step (default 8)"
            | Positions _ -> "tokens per prompt for --step with --device (default 32)"
            | Device _ -> "the device matrix (Full and Heads graphs; plain, fast and reference steps; batches 8 x 32, 32 x 24, 32 x 64; float32 and bfloat16) on this device; cpu runs it on a 2-layer model at batch 2 x 8"
            | Dtype _ -> "dtype for --step with --device (default float32)"
            | Graph _ -> "graph for --step with --device (default full)"
            | Strict_Fp32 -> "on CUDA, no TF32 tensor-core matrix products for float32"
            | Soak _ -> "the soak: the main job's discovery (models/induction-trigger-attn-2l4h under the working folder) for this many steps (10000 in docs/BENCHMARKS.md), RSS sampled every 500; on --device when given"
            | Scale -> "memory at scale: edge counts and delta-stack sizes of Qwen2.5-0.5B and Llama-3.1-8B, one fast step of Qwen2.5-0.5B's shape measured on the CPU (--batch, --positions, --dtype), Llama-3.1-8B's computed from it"
            | Discovery_Steps _ -> "with --device: one whole discovery run of this many steps on a random GPT-2-small-shaped model at batch 32 x --positions (default 24)"

/// What `bench` was asked.
type BenchRequest =
    { Quick: bool
      /// The fast step's profile instead of the benchmark.
      Profile: bool
      Step: StepKind option; Layers: int; Batch: int; Positions: int
      /// None: the CPU benchmark of docs/BENCHMARKS.md; Some: the device matrix or one of its steps.
      Device: string option
      DType: string
      Graph: PatchDescent.Search.Granularity
      StrictFp32: bool
      DiscoverySteps: int option
      /// The soak's step count, when asked for.
      SoakSteps: int option
      /// Memory at scale instead of the benchmark.
      Scale: bool }

/// Reading `bench`'s options.
module BenchArguments =
    /// The request the parsed options describe.
    let request (r: ParseResults<BenchArguments>) =
        { Quick = r.Contains Quick
          Profile = r.Contains Profile
          Step = r.TryGetResult Step
          Layers = r.GetResult(Layers, defaultValue = 12) |> Choices.atLeast "bench" "--layers" 1
          Batch = r.GetResult(Batch, defaultValue = 8) |> Choices.atLeast "bench" "--batch" 1
          Positions = r.GetResult(Positions, defaultValue = 32) |> Choices.atLeast "bench" "--positions" 1
          Device = r.TryGetResult Device |> Option.map Choices.device
          DType = Choices.dtype (r.GetResult(Dtype, defaultValue = Float32))
          Graph = Choices.granularity (r.GetResult(Graph, defaultValue = Full))
          StrictFp32 = r.Contains Strict_Fp32
          DiscoverySteps = r.TryPostProcessResult(Discovery_Steps, Choices.atLeast "bench" "--discovery-steps" 1)
          SoakSteps = r.TryPostProcessResult(Soak, Choices.atLeast "bench" "--soak" 500)
          Scale = r.Contains Scale }

    /// The experiment of `--discovery-steps` on the device `deviceName`: `Experiment.defaults` on the pairs, with the
    /// request's graph, batches of 32, the request's dtype and TF32 choice.
    let discoveryExperiment (request: BenchRequest) deviceName (data: PatchDescent.Search.PairDataset) outDir steps =
        let e =
            PatchDescent.Search.Experiment.defaults "random GPT-2-small shape" (PatchDescent.Search.Pairs data) outDir
            |> PatchDescent.Search.Experiment.withSteps steps
        { e with
            Granularity = request.Graph
            BatchSize = 32
            Compute =
                ({ Device = deviceName
                   Precision = (if request.DType = "bfloat16" then PatchDescent.Search.Precision.BFloat16 else PatchDescent.Search.Precision.Float32)
                   StrictFp32 = request.StrictFp32 } : PatchDescent.Search.Compute) }
