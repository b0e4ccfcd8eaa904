module PatchDescent.Search.Methods.Attribution

open TorchSharp
open PatchDescent.Search

let private check (engine: Engine.CompiledEngine) (batches: PreparedBatchWithTargets list) (coefficients: float[]) =
    if List.isEmpty batches then invalidArg "batches" "attribution needs at least one batch"
    if coefficients.Length <> engine.ParamCount then
        invalidArg "coefficients" $"{coefficients.Length} coefficients for an engine with {engine.ParamCount} learnable parameters"

/// Each batch with its share of the pairs, so that a sum over batches is the mean over pairs.
let private weighted (batches: PreparedBatchWithTargets list) =
    let counts = [ for b in batches -> float b.Answers.shape[0] ]
    let total = List.sum counts
    List.zip batches [ for n in counts -> n / total ]

let private tensorOf (engine: Engine.CompiledEngine) (values: float[]) =
    use scope = torch.NewDisposeScope()
    torch.tensor(values, device = engine.Model.Device).``to``(engine.Model.DType).MoveToOuterDisposeScope()

let private inputs (b: PreparedBatchWithTargets) patched coefficients =
    { Patched = patched; Full = b.FullLogits; Answers = b.Answers; Wrongs = b.Wrongs; Thresholds = b.Thresholds
      Coefficients = Some coefficients }

let metricAt (engine: Engine.CompiledEngine) batches (metric: LossInputs -> torch.Tensor) coefficients =
    check engine batches coefficients
    use _ = torch.no_grad ()
    use scope = torch.NewDisposeScope()
    let a = tensorOf engine coefficients
    weighted batches
    |> List.sumBy (fun (b, w) ->
        use step = torch.NewDisposeScope()
        let m = metric (inputs b (engine.Forward(a, b.Batch)) a)
        w * m.``to``(torch.ScalarType.Float64).item<float>())

let gradientAt (engine: Engine.CompiledEngine) batches (metric: LossInputs -> torch.Tensor) coefficients =
    check engine batches coefficients
    use scope = torch.NewDisposeScope()
    let a = (tensorOf engine coefficients).requires_grad_(true)
    // Each batch is back-propagated before the next forward pass, as the engine's contract asks; the gradients add up in a.grad.
    for b, w in weighted batches do
        use step = torch.NewDisposeScope()
        // The weight as a held Scalar (see `Gate`'s note on TorchSharp's own conversions).
        use weight = w.ToScalar()
        (metric (inputs b (engine.Forward(a, b.Batch)) a)).mul(weight).backward()
    (nonNull a.grad).cpu().``to``(torch.ScalarType.Float64).contiguous().data<float>().ToArray()

let edgeScores (engine: Engine.CompiledEngine) (perParam: float[]) =
    if perParam.Length <> engine.ParamCount then
        invalidArg "perParam" $"{perParam.Length} scores for an engine with {engine.ParamCount} learnable parameters"
    let top = if perParam.Length = 0 then 0.0 else Array.max perParam
    engine.Schedule.Source |> Array.map (function
        | Param i -> perParam[i]
        | Fixed v -> v * top)
