module PatchDescent.Tests.MetricTests

open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open PatchDescent.Search
open PatchDescent.Tests.LossTests

let private metricOf metric (c: Case) =
    use scope = torch.NewDisposeScope()
    (Metric.evaluate metric (inputsOf c (logitsOf c c.Patched) (torch.tensor c.Coefficients))).item<float>()

let private agrees metric (hand: Case -> float) =
    Prop.forAll cases (fun c ->
        let expected, actual = hand c, metricOf metric c
        close expected actual |> Prop.label $"hand-written {expected}, evaluated {actual}")

let private pair wrong = { Clean = [| 1; 2 |]; Corrupted = [| 1; 3 |]; Answer = 4; Wrong = wrong; Threshold = None }

[<Tests>]
let tests =
    testList "Metric" [
        test "check refuses a metric whose field a pair lacks, naming the dataset, the field and the first such pair" {
            let pair wrong threshold = { Clean = [| 1 |]; Corrupted = [| 2 |]; Answer = 3; Wrong = wrong; Threshold = threshold }
            let data = { Source = "s.jsonl"; Pairs = [| pair (Some 4) None; pair None None |] }
            match Metric.check Metric.LogitDiff data with
            | Ok () -> failtest "pair 2 has no wrong answer"
            | Error e -> for f in [ "s.jsonl: "; "logit_diff"; "\"wrong_id\""; "pair 2" ] do Expect.stringContains e f "says what is missing"
            match Metric.check Metric.PairProbDiff { data with Pairs = [| pair None None |] } with
            | Ok () -> failtest "no thresholds"
            | Error e -> Expect.stringContains e "pair 1" "the first pair"
            Expect.equal (Metric.check Metric.PairProbDiff { data with Pairs = [| pair None (Some { Above = [ 1 ]; AtOrBelow = [ 2 ] }) |] }) (Ok ()) "thresholds given"
            for m in [ Metric.AnswerLogit; Metric.MinusCrossEntropy ] do Expect.equal (Metric.check m data) (Ok ()) "reads only the answer"
        }
        testProperty "logit_diff is the mean of logit[answer] - logit[wrong] at the last position" <|
            agrees Metric.LogitDiff (fun c -> -(handLogitDiff c))
        testProperty "prob_diff is the probability above minus at or below, summed by hand" <|
            Prop.forAll cases (fun c ->
                close -(handProbDiff c) (metricOf (Metric.ProbDiff { Above = c.Above; AtOrBelow = c.AtOrBelow }) c))
        testProperty "the per-pair prob_diff is each pair's probability above minus at or below, summed by hand" <|
            agrees Metric.PairProbDiff (fun c -> -(handPairProbDiff c))
        testProperty "answer_logit is the mean logit of the answer at the last position" <|
            agrees Metric.AnswerLogit (fun c -> meanOverBatch c (fun b -> (lastRow c c.Patched b)[c.Answers[b]]))
        testProperty "minus_cross_entropy is the mean log-probability of the answer" <|
            agrees Metric.MinusCrossEntropy (fun c -> -(handCrossEntropy c))
        test "the default is the logit difference only when every pair has a wrong answer" {
            let data pairs = { Source = "test"; Pairs = pairs }
            Expect.equal (Metric.defaultFor (data [| pair (Some 5); pair (Some 6) |])) Metric.LogitDiff "all wrong answers"
            Expect.equal (Metric.defaultFor (data [| pair (Some 5); pair None |])) Metric.MinusCrossEntropy "one missing"
            let withSet p = { p with Threshold = Some { Above = [ 7 ]; AtOrBelow = [ 8 ] } }
            Expect.equal (Metric.defaultFor (data [| withSet (pair (Some 5)); withSet (pair None) |])) Metric.PairProbDiff "threshold sets"
        }
        test "answer_logit names itself when the answers do not match the batch" {
            use scope = torch.NewDisposeScope()
            let logits = torch.zeros(2L, 3L, 5L)
            let inputs = { Patched = logits; Full = logits; Answers = torch.tensor [| 1L |]; Wrongs = None; Thresholds = None; Coefficients = None }
            Expect.throwsC (fun () -> Metric.evaluate Metric.AnswerLogit inputs |> ignore) (fun e ->
                Expect.stringContains e.Message "answer_logit" "message names the metric")
        }
    ]
