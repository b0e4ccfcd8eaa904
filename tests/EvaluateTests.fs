module PatchDescent.Tests.EvaluateTests

open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open PatchDescent.Model
open PatchDescent.Search
open PatchDescent.Tests.Fixtures

let private quick n = { FsCheckConfig.defaultConfig with maxTest = n }

type private Case = { Config: Gpt2Config; Seed: int; Granularity: Granularity }

let private cases =
    gen {
        let! layers = Gen.choose (1, 2)
        let! heads = Gen.choose (1, 3)
        let! attnOnly = Gen.elements [ true; false ]
        let! seed = Gen.choose (0, 10_000)
        let! g = Gen.elements [ Granularity.Full; Granularity.Heads ]
        return { Config = Gpt2Config(layers, heads, heads * 3, 6, 13, 1e-5, attnOnly); Seed = seed; Granularity = g }
    }
    |> Arb.fromGen

let private resolve (s: Schedule) =
    match Schedule.resolve s with
    | Ok r -> r
    | Error e -> failwith e

/// A tiny random model, a patching engine, one batch of clean/corrupted tokens, and the logit-difference metric.
type private Setup(case: Case, ?sameAnswers: bool) =
    let c = case.Config
    let generator = new torch.Generator(uint64 case.Seed)
    let model = Gpt2.Random(c, case.Seed, std = 0.3)
    let tokens () = torch.randint(int64 c.VocabSize, [| 3L; 5L |], generator = generator)
    let clean, corrupted = tokens (), tokens ()
    let answers = torch.randint(int64 c.VocabSize, [| 3L |], generator = generator)
    // The wrong answer differs from the answer, so the metric is not identically 0, unless a test asks for that.
    let wrongs =
        use scope = torch.NewDisposeScope()
        let w = if defaultArg sameAnswers false then answers.clone() else (answers + 1L).remainder(Scalar.op_Implicit (int64 c.VocabSize))
        w.MoveToOuterDisposeScope()
    let shape = Engine.shapeOf model
    let engine = Engine.compile model (resolve (Schedule.ofGranularity shape case.Granularity)) Ablation.Patching
    let batch = engine.Prepare(clean, Some corrupted, None)
    member _.Model = model
    member _.Shape = shape
    member _.Clean = clean
    member _.Corrupted = corrupted
    member _.Evaluation =
        { Engine = engine; Batch = batch; Answers = answers; Wrongs = Some wrongs; Thresholds = None; Metric = Loss.logitDiffMetric }
    /// The mean logit difference at the last position, read from plain logits as arrays.
    member _.MetricOf(logits: torch.Tensor) =
        let v, vocab, pos = values logits, int logits.shape[2], int logits.shape[1]
        let a, w = values answers, values wrongs
        Array.init 3 (fun b ->
            let row = (b * pos + pos - 1) * vocab
            float v[row + int a[b]] - float v[row + int w[b]])
        |> Array.average
    interface System.IDisposable with
        member _.Dispose() =
            for d in [ batch :> System.IDisposable; engine; model; clean; corrupted; answers; wrongs; generator ] do d.Dispose()

let private point fraction faithfulness = { Level = fraction; K = 0; Edges = 0; Fraction = fraction; Faithfulness = faithfulness; Kl = 0.0 }

[<Tests>]
let tests =
    testList "Evaluate" [
        testPropertyWithConfig (quick 15) "the full circuit has faithfulness exactly 1 and KL below 1e-5" <|
            Prop.forAll cases (fun case ->
                use s = new Setup(case)
                let r = Evaluate.run s.Evaluation (Circuit.full s.Shape)
                (r.Faithfulness = 1.0 && abs r.Kl < 1e-5) |> Prop.label $"%A{r}")
        testPropertyWithConfig (quick 10) "a Scorer gives, for circuit after circuit, each batch's Evaluate.run pooled by pairs: the means of m(C), m(full), m(empty) and KL, and faithfulness from the means" <|
            Prop.forAll (Arb.fromGen (Gen.zip cases.Generator (Gen.choose (0, 1_000_000)))) (fun (case, pick) ->
                use a = new Setup(case)
                use b = new Setup({ case with Seed = case.Seed + 1 })
                let evaluations = [ a.Evaluation, 3; b.Evaluation, 1 ]
                use scorer = new Evaluate.Scorer(evaluations)
                let rng = System.Random pick
                let total = Graph.edgeCount a.Shape
                [ for _ in 1 .. 3 ->
                    let circuit = Circuit.ofEdges a.Shape [ for id in 0 .. total - 1 do if rng.Next 2 = 0 then Graph.edge a.Shape id ]
                    let ra, rb = Evaluate.run a.Evaluation circuit, Evaluate.run b.Evaluation circuit
                    let mean f = (3.0 * f ra + f rb) / 4.0
                    let c, full, empty = mean (fun r -> r.Circuit), mean (fun r -> r.Full), mean (fun r -> r.Empty)
                    let got = scorer.Score circuit
                    let close x y = abs (x - y) <= 1e-9 * (1.0 + abs y)
                    (close got.Circuit c && close got.Full full && close got.Empty empty && close got.Kl (mean (fun r -> r.Kl))
                     && (close got.Faithfulness ((c - empty) / (full - empty)) || (System.Double.IsNaN got.Faithfulness && full = empty)))
                    |> Prop.label $"{Circuit.edgeCount circuit} edges: %A{got} against m(C) {c}, m(full) {full}, m(empty) {empty}" ]
                |> List.reduce (.&.))
        testPropertyWithConfig (quick 15) "the empty circuit has faithfulness exactly 0" <|
            Prop.forAll cases (fun case ->
                use s = new Setup(case)
                let r = Evaluate.run s.Evaluation (Circuit.empty s.Shape)
                (r.Faithfulness = 0.0 && r.Circuit = r.Empty) |> Prop.label $"%A{r}")
        testPropertyWithConfig (quick 15) "m(full) is the metric of the unpatched model on the clean tokens" <|
            Prop.forAll cases (fun case ->
                use s = new Setup(case)
                let r = Evaluate.run s.Evaluation (Circuit.empty s.Shape)
                use logits = s.Model.Forward s.Clean
                let direct = s.MetricOf logits
                abs (r.Full - direct) < 1e-4 |> Prop.label $"engine {r.Full}, direct {direct}")
        testPropertyWithConfig (quick 15) "m(empty) on the Full graph under patching is the metric of the model on the corrupted tokens" <|
            Prop.forAll cases (fun case ->
                use s = new Setup({ case with Granularity = Granularity.Full })
                let r = Evaluate.run s.Evaluation (Circuit.full s.Shape)
                use logits = s.Model.Forward s.Corrupted
                let direct = s.MetricOf logits
                abs (r.Empty - direct) < 1e-4 |> Prop.label $"engine {r.Empty}, direct {direct}")
        test "faithfulness is NaN when the full model and the empty circuit score alike" {
            use s = new Setup({ Config = Gpt2Config(1, 2, 6, 6, 13, 1e-5); Seed = 4; Granularity = Granularity.Full }, sameAnswers = true)
            let r = Evaluate.run s.Evaluation (Circuit.full s.Shape)
            Expect.isTrue (System.Double.IsNaN r.Faithfulness) $"%A{r}"
        }
        test "the curve from no edge to every edge runs from faithfulness 0 to 1, pruned, with CPR and CMD 1/2" {
            use s = new Setup({ Config = Gpt2Config(2, 2, 6, 6, 13, 1e-5); Seed = 5; Granularity = Granularity.Full })
            let total = Graph.edgeCount s.Shape
            let curve = Evaluate.curve s.Evaluation (Array.init total float) [ total; 0 ]
            Expect.equal [ for p in curve.Points -> p.K, p.Edges, p.Fraction, p.Faithfulness ] [ total, total, 1.0, 1.0; 0, 0, 0.0, 0.0 ] "points"
            Expect.floatClose Accuracy.veryHigh curve.Cpr 0.5 "CPR"
            Expect.floatClose Accuracy.veryHigh curve.Cmd 0.5 "CMD"
        }
        test "the curve counts edges after pruning" {
            use s = new Setup({ Config = Gpt2Config(2, 2, 6, 6, 13, 1e-5); Seed = 6; Granularity = Granularity.Full })
            // The highest scores go to the edges into a0.h0<q>: none of them reaches the logits.
            let scores = Array.init (Graph.edgeCount s.Shape) (fun id -> if (Graph.edge s.Shape id).Receiver = HeadIn(0, 0, Q) then 1.0 else 0.0)
            let curve = Evaluate.curve s.Evaluation scores [ 1 ]
            Expect.equal [ for p in curve.Points -> p.K, p.Edges, p.Faithfulness ] [ 1, 0, 0.0 ] "pruned to nothing"
        }
        test "a constant-1 curve over [0, 1] has CPR 1 and CMD 0" {
            let points = [ point 1.0 1.0; point 0.0 1.0; point 0.3 1.0 ]
            Expect.floatClose Accuracy.veryHigh (Evaluate.cpr points) 1.0 "CPR"
            Expect.equal (Evaluate.cmd points) 0.0 "CMD"
        }
        test "trapezoid areas of a 3-point curve, given out of order, counted by hand" {
            // Sorted: (0, 0.2), (0.5, 0.6), (1, 1.4). CPR = 0.5 * (0.2 + 0.6) / 2 + 0.5 * (0.6 + 1.4) / 2 = 0.2 + 0.5.
            // |1 - f|: 0.8, 0.4, 0.4, so CMD = 0.5 * 1.2 / 2 + 0.5 * 0.8 / 2 = 0.3 + 0.2.
            let points = [ point 0.5 0.6; point 1.0 1.4; point 0.0 0.2 ]
            Expect.floatClose Accuracy.veryHigh (Evaluate.cpr points) 0.7 "CPR"
            Expect.floatClose Accuracy.veryHigh (Evaluate.cmd points) 0.5 "CMD"
        }
    ]
