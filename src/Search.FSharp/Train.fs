namespace PatchDescent.Search

open TorchSharp

type SparsityPressure =
    | L1Penalty of weight: float
    | TargetLagrangian of TargetSchedule * lagrangianLearningRate: float

type TrainSettings =
    { Steps: int
      LearningRate: float
      Gate: Gate
      Loss: Loss
      Sparsity: SparsityPressure
      ClipNorm: float option
      Seed: int
      LogEvery: int }

[<NoEquality; NoComparison>]
type PreparedBatchWithTargets =
    { Batch: Engine.PreparedBatch
      Answers: torch.Tensor
      Wrongs: torch.Tensor option
      Thresholds: torch.Tensor option
      FullLogits: torch.Tensor }

type StepLog = { Step: int; Terms: (string * float) list; ExpectedKeptFraction: float; Target: float option }

type TrainResult = { LogAlpha: float[]; Scores: float[]; Steps: int }

exception TrainingDiverged of step: int * detail: string
    with override this.Message = $"training diverged at step {this.step} (0-based): {this.detail}"

module Train =
    let private beta1, beta2, epsilon = 0.9, 0.999, 1e-8

    let private scalar (t: torch.Tensor) =
        use scope = torch.NewDisposeScope()
        t.``to``(torch.ScalarType.Float64).item<float>()

    let private floats (t: torch.Tensor) =
        use scope = torch.NewDisposeScope()
        t.detach().cpu().``to``(torch.ScalarType.Float64).contiguous().data<float>().ToArray()

    let withTargets (engine: Engine.CompiledEngine) (batch: Engine.PreparedBatch) answers wrongs thresholds =
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        let model = engine.Model
        let ones = torch.ones([| int64 engine.ParamCount |], dtype = model.DType, device = model.Device)
        let full = batch.AtLastPositions(engine.Forward(ones, batch)).MoveToOuterDisposeScope()
        { Batch = batch; Answers = answers; Wrongs = wrongs; Thresholds = thresholds; FullLogits = full }

    let edgeScores (engine: Engine.CompiledEngine) gate (logAlpha: float[]) =
        let schedule = engine.Schedule
        if logAlpha.Length <> schedule.ParamCount then
            invalidArg "logAlpha" $"{logAlpha.Length} logits for an engine with {schedule.ParamCount} learnable parameters"
        let gates =
            use scope = torch.NewDisposeScope()
            floats (Gate.deterministic gate (torch.tensor(logAlpha)))
        schedule.Source |> Array.map (function
            | Fixed v -> v
            | Param i -> gates[i])

    let private check (settings: TrainSettings) (engine: Engine.CompiledEngine) (batches: PreparedBatchWithTargets list) =
        if List.isEmpty batches then invalidArg "batches" "training needs at least one batch"
        if engine.ParamCount = 0 then invalidArg "engine" "the engine's schedule learns no coefficient: there is nothing to train"
        if settings.Steps < 0 then invalidArg "settings" $"Steps is {settings.Steps}; it must be 0 or more"
        if settings.LogEvery < 1 then invalidArg "settings" $"LogEvery is {settings.LogEvery}; it must be 1 or more"

    /// Leaf tensors that live for the whole run, outside every step's scope: the logits, Adam's moments, the
    /// multipliers, and the first step whose loss was not finite (-1 while none was), kept on the device so that
    /// finding it costs no read-back.
    [<NoEquality; NoComparison>]
    type private State =
        { LogAlpha: torch.Tensor; M: torch.Tensor; V: torch.Tensor
          Lambda1: torch.Tensor; Lambda2: torch.Tensor; FirstBad: torch.Tensor }
        member s.All = [ s.LogAlpha; s.M; s.V; s.Lambda1; s.Lambda2; s.FirstBad ]

    let private initialState (settings: TrainSettings) (engine: Engine.CompiledEngine) =
        use scope = torch.NewDisposeScope()
        let model = engine.Model
        let logAlpha = torch.tensor(Gate.initialLogAlpha settings.Gate engine.Schedule.Init).``to``(model.DType, model.Device)
        let zeros () = torch.zeros_like logAlpha
        let multiplier () = torch.zeros(Array.empty<int64>, dtype = model.DType, device = model.Device).requires_grad_(true)
        let s =
            { LogAlpha = logAlpha.requires_grad_(true); M = zeros (); V = zeros ()
              Lambda1 = multiplier (); Lambda2 = multiplier ()
              FirstBad = torch.tensor(-1L, device = model.Device) }
        for t in s.All do t.DetachFromDisposeScope() |> ignore
        s

    let private failIfDiverged (s: State) (settings: TrainSettings) =
        let first = int (s.FirstBad.item<int64>())
        if first >= 0 then
            let detail =
                $"the loss was NaN or infinite (it is checked every {settings.LogEvery} steps, so a few more steps may have run); "
                + "look for NaN in the model weights or the full logits, or lower LearningRate or set ClipNorm"
            raise (TrainingDiverged(first, detail))

    /// One Adam step on the logits and, for the Lagrangian, one ascent step on the multipliers, under no_grad.
    let private update (settings: TrainSettings) (s: State) (step: int) =
        use _ = torch.no_grad ()
        let g = nonNull s.LogAlpha.grad
        settings.ClipNorm |> Option.iter (fun maxNorm ->
            // Scaling by min(1, maxNorm / norm) on the device keeps the step free of read-backs; the 1e-6 keeps a
            // zero gradient from dividing by zero.
            g.mul_((maxNorm / (g.norm() + 1e-6)).clamp_max(1.0.ToScalar())) |> ignore)
        s.M.mul_(beta1.ToScalar()).add_(g * (1.0 - beta1)) |> ignore
        s.V.mul_(beta2.ToScalar()).add_(g.square() * (1.0 - beta2)) |> ignore
        let t = float (step + 1)
        let mHat, vHat = s.M / (1.0 - beta1 ** t), s.V / (1.0 - beta2 ** t)
        s.LogAlpha.sub_(mHat / (vHat.sqrt() + epsilon) * settings.LearningRate) |> ignore
        g.zero_() |> ignore
        match settings.Sparsity with
        | L1Penalty _ -> ()
        | TargetLagrangian (_, rate) ->
            // Ascent: the multipliers move WITH their gradient, which is the descent step on the negated gradient.
            for lambda in [ s.Lambda1; s.Lambda2 ] do
                let lg = nonNull lambda.grad
                lambda.add_(lg * rate) |> ignore
                lg.zero_() |> ignore

    /// One step in its own dispose scope; returns the log when one is due.
    let private trainStep settings (engine: Engine.CompiledEngine) (batches: PreparedBatchWithTargets[]) generator (s: State) step =
        use scope = torch.NewDisposeScope()
        let b = batches[step % batches.Length]
        let coefficients = Gate.sample settings.Gate s.LogAlpha generator
        let logits = b.Batch.AtLastPositions(engine.Forward(coefficients, b.Batch))
        let faithfulness =
            Loss.evaluate settings.Loss
                { Patched = logits; Full = b.FullLogits; Answers = b.Answers; Wrongs = b.Wrongs; Thresholds = b.Thresholds
                  Coefficients = Some coefficients }
        let kept = Gate.expectedL0 settings.Gate s.LogAlpha
        let penalty, target =
            match settings.Sparsity with
            | L1Penalty weight -> kept * weight, None
            | TargetLagrangian (schedule, _) ->
                let t = TargetSchedule.at schedule step
                Lagrangian.penalty (1.0 - kept) t s.Lambda1 s.Lambda2, Some t
        let total = faithfulness.Total + penalty
        using (torch.no_grad ()) (fun _ ->
            let bad = total.isfinite().logical_not().logical_and(s.FirstBad.lt(0L.ToScalar()))
            s.FirstBad.masked_fill_(bad, (int64 step).ToScalar()) |> ignore)
        total.backward()
        let due = (step + 1) % settings.LogEvery = 0 || step = settings.Steps - 1
        let log =
            if due then
                let terms = [ for name, value in faithfulness.Terms -> name, scalar value ]
                Some { Step = step
                       Terms = terms @ [ "sparsity", scalar penalty; "total", scalar total ]
                       ExpectedKeptFraction = scalar kept
                       Target = target }
            else None
        update settings s step
        log

    let run settings (engine: Engine.CompiledEngine) batches onLog =
        check settings engine batches
        let batches = Array.ofList batches
        use generator = new torch.Generator(uint64 settings.Seed, engine.Model.Device)
        let s = initialState settings engine
        try
            for step in 0 .. settings.Steps - 1 do
                trainStep settings engine batches generator s step |> Option.iter (fun log ->
                    failIfDiverged s settings
                    onLog log)
            failIfDiverged s settings
            let logAlpha = floats s.LogAlpha
            { LogAlpha = logAlpha; Scores = edgeScores engine settings.Gate logAlpha; Steps = settings.Steps }
        finally
            for t in s.All do t.Dispose()
