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

    let private stretchAndClamp (h: HardConcreteSettings) (s: torch.Tensor) =
        (s * (h.Zeta - h.Gamma) + h.Gamma).clamp(0.0.ToScalar(), 1.0.ToScalar())

    let sample gate (logAlpha: torch.Tensor) (generator: torch.Generator) =
        use scope = torch.NewDisposeScope()
        let coefficients =
            match gate with
            | Sigmoid -> logAlpha.sigmoid()
            | HardConcrete h ->
                let u = torch.rand(logAlpha.shape, dtype = torch.ScalarType.Float64, device = logAlpha.device, generator = generator) * (1.0 - 2.0 * noiseMargin) + noiseMargin
                let logistic = (u.log() - (1.0 - u).log()).``to``(logAlpha.dtype, logAlpha.device)
                stretchAndClamp h (((logistic + logAlpha) / h.Beta).sigmoid())
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
            | HardConcrete h -> (logAlpha - h.Beta * log (-h.Gamma / h.Zeta)).sigmoid()
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
        let gap = sparsity - target
        (lambda1 * gap + lambda2 * gap.square()).MoveToOuterDisposeScope()

type TargetSchedule = { Start: float; End: float; WarmupSteps: int; AnnealSteps: int }

module TargetSchedule =
    let at (schedule: TargetSchedule) step =
        let progressed = step - schedule.WarmupSteps
        if progressed <= 0 then schedule.Start
        elif progressed >= schedule.AnnealSteps then schedule.End
        else schedule.Start + (schedule.End - schedule.Start) * float progressed / float schedule.AnnealSteps
