namespace PatchDescent.Search

open TorchSharp

[<NoEquality; NoComparison>]
type Evaluation =
    { Engine: Engine.CompiledEngine
      Batch: Engine.PreparedBatch
      Answers: torch.Tensor
      Wrongs: torch.Tensor option
      Thresholds: torch.Tensor option
      Metric: LossInputs -> torch.Tensor }

type CircuitScores = { Circuit: float; Full: float; Empty: float; Faithfulness: float; Kl: float }

type CurvePoint = { Level: float; K: int; Edges: int; Fraction: float; Faithfulness: float; Kl: float }

type Curve = { Points: CurvePoint list; Cpr: float; Cmd: float }

module Evaluate =
    /// The full model's logits and m(full), m(empty): what every circuit of one evaluation is compared with.
    [<NoEquality; NoComparison>]
    type private Baseline = { FullLogits: torch.Tensor; Full: float; Empty: float }

    let private scalar (t: torch.Tensor) =
        use scope = torch.NewDisposeScope()
        t.``to``(torch.ScalarType.Float64).item<float>()

    let private inputs (e: Evaluation) (patched: torch.Tensor) (full: torch.Tensor) (coefficients: torch.Tensor) =
        { Patched = patched; Full = full; Answers = e.Answers; Wrongs = e.Wrongs; Thresholds = e.Thresholds
          Coefficients = Some coefficients }

    let private coefficientTensor (e: Evaluation) (values: float[]) =
        use scope = torch.NewDisposeScope()
        let model = e.Engine.Model
        torch.tensor(values, device = model.Device).``to``(model.DType).MoveToOuterDisposeScope()

    /// Runs `f` under no_grad in a dispose scope, which frees the baseline's logits with everything else.
    let private withBaseline (e: Evaluation) (f: Baseline -> 'a) =
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        let n = e.Engine.ParamCount
        let ones, zeros = coefficientTensor e (Array.create n 1.0), coefficientTensor e (Array.create n 0.0)
        let last coefficients = e.Engine.Forward(coefficients, e.Batch)
        let full = last ones
        let metricAt coefficients patched = scalar (e.Metric(inputs e patched full coefficients))
        f { FullLogits = full; Full = metricAt ones full; Empty = metricAt zeros (last zeros) }

    let private score (e: Evaluation) (b: Baseline) (circuit: Circuit) =
        if circuit.Shape <> e.Engine.Schedule.Shape then
            invalidArg "circuit" $"the circuit is for %A{circuit.Shape}, the engine's schedule for %A{e.Engine.Schedule.Shape}"
        use scope = torch.NewDisposeScope()
        let coefficients = coefficientTensor e (Circuit.coefficients e.Engine.Schedule circuit)
        let lossInputs = inputs e (e.Engine.Forward(coefficients, e.Batch)) b.FullLogits coefficients
        let m = scalar (e.Metric lossInputs)
        let kl = scalar (Loss.evaluate Loss.kl lossInputs).Total
        // Equal metrics leave nothing to normalise by: NaN says so instead of an infinity or a made-up 0.
        let faithfulness = if b.Full = b.Empty then nan else (m - b.Empty) / (b.Full - b.Empty)
        { Circuit = m; Full = b.Full; Empty = b.Empty; Faithfulness = faithfulness; Kl = kl }

    let run e circuit = withBaseline e (fun b -> score e b circuit)

    /// m(C), m(full), m(empty) and KL over batches, weighted by pairs; faithfulness from those means.
    let private combine (scored: (CircuitScores * float) list) =
        let total = List.sumBy snd scored
        let mean f = (List.sumBy (fun (s, n) -> f s * n) scored) / total
        let c, full, empty = mean (fun s -> s.Circuit), mean (fun s -> s.Full), mean (fun s -> s.Empty)
        { Circuit = c; Full = full; Empty = empty
          Faithfulness = if full = empty then nan else (c - empty) / (full - empty)
          Kl = mean (fun s -> s.Kl) }

    /// Each evaluation's baseline, its full-model logits moved out of every scope so that a `Scorer` owns them.
    let private baselines (evaluations: (Evaluation * int) list) =
        [ for e, n in evaluations ->
            let b = withBaseline e (fun b -> { b with FullLogits = b.FullLogits.detach().DetachFromDisposeScope() })
            e, n, b ]

    [<Sealed>]
    type Scorer(evaluations: (Evaluation * int) list) =
        let prepared = baselines evaluations
        member _.Score(circuit: Circuit) =
            use _ = torch.no_grad ()
            combine [ for e, n, b in prepared -> score e b circuit, float n ]
        interface System.IDisposable with
            member _.Dispose() = for _, _, b in prepared do b.FullLogits.Dispose()

    let pooled evaluations circuit =
        use scorer = new Scorer(evaluations)
        scorer.Score circuit

    /// Trapezoid area of y over x, points sorted by x.
    let private area (points: (float * float) list) =
        points
        |> List.sortBy fst
        |> List.pairwise
        |> List.sumBy (fun ((x0, y0), (x1, y1)) -> (x1 - x0) * (y0 + y1) / 2.0)

    let degenerate (s: CircuitScores) =
        let scale = max (abs s.Full) (abs s.Empty)
        scale < 1e-6 || abs (s.Full - s.Empty) <= 1e-3 * scale

    let cpr (points: CurvePoint list) = area [ for p in points -> p.Level, p.Faithfulness ]

    let cmd (points: CurvePoint list) = area [ for p in points -> p.Level, abs (1.0 - p.Faithfulness) ]

    let curve e (scores: float[]) (ks: int list) =
        let shape = e.Engine.Schedule.Shape
        let total = float (Graph.edgeCount shape)
        let points =
            withBaseline e (fun b ->
                [ for k in ks ->
                    let circuit = Extract.prune (Extract.topK shape scores k)
                    let s = score e b circuit
                    { Level = float k / total; K = k; Edges = Circuit.edgeCount circuit; Fraction = float (Circuit.edgeCount circuit) / total
                      Faithfulness = s.Faithfulness; Kl = s.Kl } ])
        { Points = points; Cpr = cpr points; Cmd = cmd points }
