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
    | Mean
    | Zero

/// `--loss`: the faithfulness term discovery minimises.
type LossName =
    | Kl
    | Logit_Diff
    | Cross_Entropy

/// `--method` / `--methods`: how the edges are scored.
type MethodName =
    | Descent
    | Eap
    | Eap_Ig
    | Acdc
    | Prune

/// `--metric`: what a circuit is scored by, when not the one the data's fields imply.
[<RequireQualifiedAccess>]
type MetricName =
    | Logit_Diff
    | Prob_Diff
    | Answer_Logit
    | Minus_Cross_Entropy

/// The help text of the options several verbs share, written once.
module SharedUsage =
    /// `--device`.
    let device = "where the model runs (default auto: CUDA when present)"
    /// `--dtype`.
    let dtype = "compute dtype (default float32)"
    /// `--strict-fp32`.
    let strictFp32 = "on CUDA, no TF32 tensor-core matrix products for float32 (slower, float32-exact)"
    /// `--metric`.
    let metric =
        "the metric circuits are scored by (default: prob-diff where every pair has above/at_or_below, else logit-diff where every pair has a wrong answer, else minus-cross-entropy; a task's own); refused when the data lacks the field it reads"
    /// `--model`.
    let model = "a Hugging Face model folder: config.json + model.safetensors or its shards (GPT-2, Llama or Qwen2)"
    /// `--force`.
    let force = "replace an --out folder that holds another verb's run (never one that holds an input)"

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

    /// The metric `--metric` names; prob-diff reads each pair's own threshold set.
    let metric name =
        match name with
        | MetricName.Logit_Diff -> Metric.LogitDiff
        | MetricName.Prob_Diff -> Metric.PairProbDiff
        | MetricName.Answer_Logit -> Metric.AnswerLogit
        | MetricName.Minus_Cross_Entropy -> Metric.MinusCrossEntropy

    /// The precision an experiment computes in.
    let precision name =
        match name with
        | Float32 -> Precision.Float32
        | Bfloat16 -> Precision.BFloat16

    /// The compute an experiment runs on from `--device` (default auto), `--dtype` (default float32) and `--strict-fp32`.
    let compute (deviceName: DeviceName option) (dtypeName: DTypeName option) strictFp32 =
        { Device = device (defaultArg deviceName Auto)
          Precision = precision (defaultArg dtypeName DTypeName.Float32)
          StrictFp32 = strictFp32 }

    /// The graph granularity.
    let granularity name =
        match name with
        | Full -> Granularity.Full
        | Heads -> Granularity.Heads

    /// The ablation; a mean reads the clean prompts of `meanData` when given, else those of the run's own pairs.
    let ablation verb name (meanData: string option) =
        match name, meanData with
        | Patching, None -> AblationChoice.Patching
        | Zero, None -> AblationChoice.Zero
        | Mean, reference -> AblationChoice.Mean(reference |> Option.map JsonlFile)
        | other, Some _ ->
            let given = (sprintf "%A" other).ToLowerInvariant()
            raise (UsageException $"{verb}: --mean-data is the reference of --ablation mean, not of --ablation {given}")

    /// The loss value.
    let loss name =
        match name with
        | Kl -> Loss.kl
        | Logit_Diff -> Loss.logitDiff
        | Cross_Entropy -> Loss.crossEntropy

    /// The method, with EAP-IG's step count, ACDC's threshold and elimination's floor where it takes them.
    let method name igSteps acdcTau pruneFloor =
        match name with
        | MethodName.Descent -> Method.Descent
        | MethodName.Eap -> Method.Eap
        | MethodName.Eap_Ig -> Method.EapIg igSteps
        | MethodName.Acdc -> Method.Acdc acdcTau
        | MethodName.Prune -> Method.Prune pruneFloor

    /// A comma-separated list of method names: descent, eap, eap-ig, acdc, prune.
    let methodNames verb option (text: string) =
        [ for part in text.Split(',', System.StringSplitOptions.TrimEntries) ->
            match part with
            | "descent" -> MethodName.Descent
            | "eap" -> MethodName.Eap
            | "eap-ig" -> MethodName.Eap_Ig
            | "acdc" -> MethodName.Acdc
            | "prune" -> MethodName.Prune
            | _ -> raise (UsageException $"{verb}: {option} takes descent, eap, eap-ig, acdc and prune separated by commas, got '{part}' in '{text}'") ]

    /// `--refine`'s refinement: none, prune or swap, with elimination's floor.
    let refinement verb (text: string) floor =
        match text with
        | "none" -> NoRefinement
        | "prune" -> PruneRefinement floor
        | "swap" -> SwapRefinement floor
        | _ -> raise (UsageException $"{verb}: --refine takes none, prune or swap, got '{text}'")

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
