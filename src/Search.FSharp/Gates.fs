namespace PatchDescent.Search

open TorchSharp

type HardConcreteSettings = { Beta: float; Gamma: float; Zeta: float }

type Gate =
    | Sigmoid
    | HardConcrete of HardConcreteSettings

module Gate =
    let hardConcrete = HardConcrete { Beta = 2.0 / 3.0; Gamma = -0.1; Zeta = 1.1 }

    /// Keeps the uniform noise off 0 and 1, where its logistic transform is infinite.
    let private noiseMargin = 1e-6

    /// Keeps Sigmoid's initial values off 0 and 1, where the logit is infinite.
    let private sigmoidMargin = 1e-6

    /// How far past the clamp point HardConcrete's initial 0 and 1 go, in logit units.
    let private saturationMargin = 1.0

    // Every number goes to libtorch as a Scalar held by a `use` until the call has returned: TorchSharp's own
    // conversions (`t * 2.0`, `a + b`'s alpha) leave theirs to the finalizer, which can free one mid-call when
    // another thread's allocation starts a collection (the suite's "Unknown scalar type" and "toDouble" failures).
    let private stretchAndClamp (h: HardConcreteSettings) (s: torch.Tensor) =
        use stretch = (h.Zeta - h.Gamma).ToScalar()
        use gamma = h.Gamma.ToScalar()
        use one = 1.0.ToScalar()
        use zero = 0.0.ToScalar()
        s.mul(stretch).add(gamma, one).clamp(zero, one)

    let sample gate (logAlpha: torch.Tensor) (generator: torch.Generator) =
        use scope = torch.NewDisposeScope()
        let coefficients =
            match gate with
            | Sigmoid -> logAlpha.sigmoid()
            | HardConcrete h ->
                use width = (1.0 - 2.0 * noiseMargin).ToScalar()
                use margin = noiseMargin.ToScalar()
                use one = 1.0.ToScalar()
                use beta = h.Beta.ToScalar()
                let u = torch.rand(logAlpha.shape, dtype = torch.ScalarType.Float64, device = logAlpha.device, generator = generator).mul(width).add(margin, one)
                // 1 - u as -u + 1: the same float, with the 1 held.
                let logistic = (u.log() - u.neg().add(one, one).log()).``to``(logAlpha.dtype, logAlpha.device)
                stretchAndClamp h (logistic.add(logAlpha, one).div(beta).sigmoid())
        coefficients.MoveToOuterDisposeScope()

    let deterministic gate (logAlpha: torch.Tensor) =
        use scope = torch.NewDisposeScope()
        let coefficients =
            match gate with
            | Sigmoid -> logAlpha.sigmoid()
            | HardConcrete h -> stretchAndClamp h (logAlpha.sigmoid())
        coefficients.MoveToOuterDisposeScope()

    let keepProbabilities gate (logAlpha: torch.Tensor) =
        use scope = torch.NewDisposeScope()
        let kept =
            match gate with
            | Sigmoid -> logAlpha.sigmoid()
            | HardConcrete h ->
                use shift = (h.Beta * log (-h.Gamma / h.Zeta)).ToScalar()
                logAlpha.sub(shift).sigmoid()
        kept.MoveToOuterDisposeScope()

    let expectedL0 gate (logAlpha: torch.Tensor) =
        use scope = torch.NewDisposeScope()
        (keepProbabilities gate logAlpha).mean().MoveToOuterDisposeScope()

    let private logit p = log (p / (1.0 - p))

    let initialLogAlpha gate (init: float[]) =
        init |> Array.iteri (fun i a ->
            if not (a >= 0.0 && a <= 1.0) then
                invalidArg "init" $"initial coefficient {i} is {a}; a schedule's initial values must lie in [0, 1]")
        match gate with
        | Sigmoid -> init |> Array.map (fun a -> logit (min (max a sigmoidMargin) (1.0 - sigmoidMargin)))
        | HardConcrete h ->
            init |> Array.map (fun a ->
                let atClamp = logit ((a - h.Gamma) / (h.Zeta - h.Gamma))
                if a = 0.0 then atClamp - saturationMargin
                elif a = 1.0 then atClamp + saturationMargin
                else atClamp)

type Lagrangian = { Lambda1: float; Lambda2: float }

module Lagrangian =
    let penalty (sparsity: torch.Tensor) (target: float) (lambda1: torch.Tensor) (lambda2: torch.Tensor) =
        use scope = torch.NewDisposeScope()
        use t = target.ToScalar()
        use one = 1.0.ToScalar()
        let gap = sparsity.sub(t)
        (lambda1 * gap).add(lambda2 * gap.square(), one).MoveToOuterDisposeScope()

type TargetSchedule = { Start: float; End: float; WarmupSteps: int; AnnealSteps: int }

module TargetSchedule =
    let at (schedule: TargetSchedule) step =
        let progressed = step - schedule.WarmupSteps
        if progressed <= 0 then schedule.Start
        elif progressed >= schedule.AnnealSteps then schedule.End
        else schedule.Start + (schedule.End - schedule.Start) * float progressed / float schedule.AnnealSteps
