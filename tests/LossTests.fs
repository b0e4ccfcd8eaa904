module PatchDescent.Tests.LossTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open PatchDescent.Search

/// Small random logits and the ids every term reads, as plain arrays (MetricTests reads them too).
type Case =
    { Batch: int
      Pos: int
      Vocab: int
      /// Patched logits [batch, pos, vocab], flattened.
      Patched: float[]
      /// Full logits, same shape.
      Full: float[]
      Answers: int[]
      Wrongs: int[]
      Coefficients: float[]
      Above: int list
      AtOrBelow: int list }

let cases =
    gen {
        let! batch = Gen.choose (1, 3)
        let! pos = Gen.choose (1, 3)
        let! vocab = Gen.choose (2, 8)
        let logit = Gen.choose (-4000, 4000) |> Gen.map (fun x -> float x / 1000.0)
        let logits = Gen.arrayOfLength (batch * pos * vocab) logit
        let! patched = logits
        let! full = logits
        let token = Gen.choose (0, vocab - 1)
        let! answers = Gen.arrayOfLength batch token
        let! wrongs = Gen.arrayOfLength batch token
        let! count = Gen.choose (1, 6)
        let! coefficients = Gen.arrayOfLength count (Gen.choose (0, 1000) |> Gen.map (fun x -> float x / 1000.0))
        let! side = Gen.arrayOfLength vocab (Gen.choose (0, 2))
        let tokensOn s = [ for t in 0 .. vocab - 1 do if side[t] = s then t ]
        return
            { Batch = batch; Pos = pos; Vocab = vocab; Patched = patched; Full = full; Answers = answers; Wrongs = wrongs
              Coefficients = coefficients; Above = tokensOn 1; AtOrBelow = tokensOn 2 }
    }
    |> Arb.fromGen

// The independent computation: plain arrays, written from the definitions.

/// The logits of prompt b at the last position.
let lastRow (c: Case) (flat: float[]) b = Array.sub flat ((b * c.Pos + c.Pos - 1) * c.Vocab) c.Vocab

let logSoftmax (x: float[]) =
    let m = Array.max x
    let logSum = m + log (Array.sumBy (fun v -> exp (v - m)) x)
    x |> Array.map (fun v -> v - logSum)

let meanOverBatch (c: Case) (f: int -> float) = Array.init c.Batch f |> Array.average

let private handKl c =
    meanOverBatch c (fun b ->
        let logP, logQ = logSoftmax (lastRow c c.Full b), logSoftmax (lastRow c c.Patched b)
        Array.map2 (fun lp lq -> exp lp * (lp - lq)) logP logQ |> Array.sum)

let handLogitDiff c =
    -(meanOverBatch c (fun b -> let row = lastRow c c.Patched b in row[c.Answers[b]] - row[c.Wrongs[b]]))

let handProbDiff c =
    -(meanOverBatch c (fun b ->
        let probs = logSoftmax (lastRow c c.Patched b) |> Array.map exp
        List.sumBy (fun t -> probs[t]) c.Above - List.sumBy (fun t -> probs[t]) c.AtOrBelow))

let handCrossEntropy c = -(meanOverBatch c (fun b -> (logSoftmax (lastRow c c.Patched b))[c.Answers[b]]))

let private handL1 c = Array.average c.Coefficients

// The code under test.

let logitsOf (c: Case) (flat: float[]) = torch.tensor(flat).reshape(int64 c.Batch, int64 c.Pos, int64 c.Vocab)
let idsOf (ids: int[]) = torch.tensor(Array.map int64 ids)

let inputsOf (c: Case) patched coefficients =
    { Patched = patched; Full = logitsOf c c.Full; Answers = idsOf c.Answers; Wrongs = Some(idsOf c.Wrongs); Coefficients = Some coefficients }

let private valueOf (loss: Loss) (c: Case) =
    use scope = torch.NewDisposeScope()
    (Loss.evaluate loss (inputsOf c (logitsOf c c.Patched) (torch.tensor c.Coefficients))).Total.item<float>()

/// Gradients of the loss in the patched logits and the coefficients, zeros where the loss does not depend on them.
let private gradientsOf (loss: Loss) (c: Case) =
    use scope = torch.NewDisposeScope()
    let patched = (logitsOf c c.Patched).requires_grad_(true)
    let coefficients = torch.tensor(c.Coefficients).requires_grad_(true)
    (Loss.evaluate loss (inputsOf c patched coefficients)).Total.backward()
    let read (t: torch.Tensor) =
        match t.grad with
        | null -> Array.zeroCreate (int (t.numel()))
        | g -> g.data<float>().ToArray()
    Array.append (read patched) (read coefficients)

let close (expected: float) (actual: float) = abs (expected - actual) <= 1e-9 * (1.0 + abs expected)

let private matches (loss: Loss) (hand: Case -> float) =
    Prop.forAll cases (fun c ->
        let expected, actual = hand c, valueOf loss c
        close expected actual |> Prop.label $"hand-written {expected}, evaluated {actual}")

let private messageOf (f: unit -> unit) =
    try
        f ()
        failtest "expected an error"
    with :? ArgumentException as e -> e.Message

[<Tests>]
let tests =
    testList "Loss" [
        testProperty "kl equals KL(full || patched) of the last position's softmax, averaged by hand" <| matches Loss.kl handKl
        testProperty "logit_diff equals minus the mean of logit[answer] - logit[wrong] at the last position" <|
            matches Loss.logitDiff handLogitDiff
        testProperty "the logit-difference metric is the logit_diff term without its minus" <|
            Prop.forAll cases (fun c ->
                use scope = torch.NewDisposeScope()
                let metric = (Loss.logitDiffMetric (inputsOf c (logitsOf c c.Patched) (torch.tensor c.Coefficients))).item<float>()
                close -(handLogitDiff c) metric)
        testProperty "prob_diff equals minus (probability above - probability at or below), summed by hand" <|
            Prop.forAll cases (fun c ->
                let expected, actual = handProbDiff c, valueOf (Loss.probDiff c.Above c.AtOrBelow) c
                close expected actual |> Prop.label $"hand-written {expected}, evaluated {actual}")
        testProperty "cross_entropy equals minus the mean log-probability of the answer" <| matches Loss.crossEntropy handCrossEntropy
        testProperty "l1 equals the mean coefficient" <| matches Loss.l1 handL1

        testProperty "a weighted sum's value is the weighted sum of the hand-written terms" <|
            Prop.forAll (Arb.fromGen (Gen.zip cases.Generator (Gen.arrayOfLength 5 (Gen.choose (-2000, 2000))))) (fun (c, w) ->
                let w = w |> Array.map (fun x -> float x / 1000.0)
                let loss =
                    w[0] * Loss.kl + w[1] * Loss.logitDiff + w[2] * Loss.probDiff c.Above c.AtOrBelow
                    + w[3] * Loss.crossEntropy + w[4] * Loss.l1
                let expected =
                    w[0] * handKl c + w[1] * handLogitDiff c + w[2] * handProbDiff c + w[3] * handCrossEntropy c + w[4] * handL1 c
                close expected (valueOf loss c))

        testProperty "a weighted sum's gradients are the weighted sum of its terms' gradients" <|
            Prop.forAll (Arb.fromGen (Gen.zip cases.Generator (Gen.arrayOfLength 5 (Gen.choose (-2000, 2000))))) (fun (c, w) ->
                let w = w |> Array.map (fun x -> float x / 1000.0)
                let terms = [ Loss.kl; Loss.logitDiff; Loss.probDiff c.Above c.AtOrBelow; Loss.crossEntropy; Loss.l1 ]
                let combined = List.zip (List.ofArray w) terms |> List.map (fun (wi, t) -> wi * t) |> List.reduce (+)
                let expected =
                    List.zip (List.ofArray w) terms
                    |> List.map (fun (wi, t) -> gradientsOf t c |> Array.map ((*) wi))
                    |> List.reduce (Array.map2 (+))
                let actual = gradientsOf combined c
                Array.forall2 (fun e a -> abs (e - a) <= 1e-9) expected actual)

        testProperty "kl's gradient in the patched logits is (softmax patched - softmax full) / batch at the last position, zero elsewhere" <|
            Prop.forAll cases (fun c ->
                let expected =
                    Array.init (c.Batch * c.Pos * c.Vocab) (fun i ->
                        let b, p, v = i / (c.Pos * c.Vocab), i / c.Vocab % c.Pos, i % c.Vocab
                        if p <> c.Pos - 1 then 0.0
                        else
                            let probs flat = logSoftmax (lastRow c flat b) |> Array.map exp
                            ((probs c.Patched)[v] - (probs c.Full)[v]) / float c.Batch)
                let actual = Array.sub (gradientsOf Loss.kl c) 0 expected.Length
                Array.forall2 (fun e a -> abs (e - a) <= 1e-9) expected actual)

        testProperty "no gradient reaches the full logits" <|
            Prop.forAll cases (fun c ->
                use scope = torch.NewDisposeScope()
                let full = (logitsOf c c.Full).requires_grad_(true)
                let inputs = { inputsOf c ((logitsOf c c.Patched).requires_grad_(true)) (torch.tensor c.Coefficients) with Full = full }
                (Loss.evaluate Loss.kl inputs).Total.backward()
                isNull full.grad)

        test "terms are listed once each, by name, unweighted, and the total weighs every occurrence" {
            use scope = torch.NewDisposeScope()
            let c = { Batch = 1; Pos = 1; Vocab = 2; Patched = [| 0.0; 1.0 |]; Full = [| 1.0; 0.0 |]; Answers = [| 1 |]; Wrongs = [| 0 |]
                      Coefficients = [| 0.25; 0.75 |]; Above = []; AtOrBelow = [] }
            let value = Loss.evaluate (Loss.l1 + 2.0 * Loss.logitDiff + 4.0 * Loss.l1) (inputsOf c (logitsOf c c.Patched) (torch.tensor c.Coefficients))
            Expect.equal (value.Terms |> List.map fst) [ "l1"; "logit_diff" ] "names"
            Expect.equal (value.Terms |> List.map (fun (_, t) -> t.item<float>())) [ 0.5; -1.0 ] "unweighted values"
            Expect.equal (value.Total.item<float>()) (0.5 + 2.0 * -1.0 + 4.0 * 0.5) "total"
            Expect.equal value.Total.shape [||] "a 0-dim total"
        }
        test "+ flattens sums and * weighs: kl + 0.01 * l1 + cross_entropy is one sum of three" {
            Expect.equal (Loss.kl + 0.01 * Loss.l1 + Loss.crossEntropy)
                (Sum [ Term Term.Kl; Weighted(0.01, Term Term.L1); Term Term.CrossEntropy ]) "structure"
        }
        test "logit_diff without wrong ids is an error naming the term and the missing input" {
            use scope = torch.NewDisposeScope()
            let c = { Batch = 1; Pos = 1; Vocab = 2; Patched = [| 0.0; 1.0 |]; Full = [| 1.0; 0.0 |]; Answers = [| 1 |]; Wrongs = [| 0 |]
                      Coefficients = [| 0.5 |]; Above = []; AtOrBelow = [] }
            let inputs = { inputsOf c (logitsOf c c.Patched) (torch.tensor c.Coefficients) with Wrongs = None }
            let message = messageOf (fun () -> Loss.evaluate (Loss.kl + Loss.logitDiff) inputs |> ignore)
            Expect.stringContains message "the logit_diff term needs wrong-answer ids (Wrongs)" "message"
            let metric = messageOf (fun () -> Loss.logitDiffMetric inputs |> ignore)
            Expect.stringContains metric "wrong-answer ids" "the metric's message"
        }
        test "l1 without coefficients is an error naming the term" {
            use scope = torch.NewDisposeScope()
            let c = { Batch = 1; Pos = 1; Vocab = 2; Patched = [| 0.0; 1.0 |]; Full = [| 1.0; 0.0 |]; Answers = [| 1 |]; Wrongs = [| 0 |]
                      Coefficients = [| 0.5 |]; Above = []; AtOrBelow = [] }
            let inputs = { inputsOf c (logitsOf c c.Patched) (torch.tensor c.Coefficients) with Coefficients = None }
            Expect.stringContains (messageOf (fun () -> Loss.evaluate Loss.l1 inputs |> ignore)) "the l1 term needs the coefficients" "message"
        }
        test "answer ids of the wrong count are an error naming the term and the count it needs" {
            use scope = torch.NewDisposeScope()
            let c = { Batch = 2; Pos = 1; Vocab = 2; Patched = [| 0.0; 1.0; 2.0; 3.0 |]; Full = [| 1.0; 0.0; 0.0; 1.0 |]; Answers = [| 1 |]
                      Wrongs = [| 0; 1 |]; Coefficients = [| 0.5 |]; Above = []; AtOrBelow = [] }
            let message = messageOf (fun () -> Loss.evaluate Loss.crossEntropy (inputsOf c (logitsOf c c.Patched) (torch.tensor c.Coefficients)) |> ignore)
            Expect.stringContains message "the cross_entropy term needs answer ids [2]" "message"
        }
        test "an empty sum is an error" {
            use scope = torch.NewDisposeScope()
            let c = { Batch = 1; Pos = 1; Vocab = 2; Patched = [| 0.0; 1.0 |]; Full = [| 1.0; 0.0 |]; Answers = [| 1 |]; Wrongs = [| 0 |]
                      Coefficients = [| 0.5 |]; Above = []; AtOrBelow = [] }
            Expect.stringContains (messageOf (fun () -> Loss.evaluate (Sum []) (inputsOf c (logitsOf c c.Patched) (torch.tensor c.Coefficients)) |> ignore))
                "empty sum" "message"
        }
    ]
