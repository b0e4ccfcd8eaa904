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

let private pair wrong = { Clean = [| 1; 2 |]; Corrupted = [| 1; 3 |]; Answer = 4; Wrong = wrong }

[<Tests>]
let tests =
    testList "Metric" [
        testProperty "logit_diff is the mean of logit[answer] - logit[wrong] at the last position" <|
            agrees Metric.LogitDiff (fun c -> -(handLogitDiff c))
        testProperty "prob_diff is the probability above minus at or below, summed by hand" <|
            Prop.forAll cases (fun c ->
                close -(handProbDiff c) (metricOf (Metric.ProbDiff { Above = c.Above; AtOrBelow = c.AtOrBelow }) c))
        testProperty "answer_logit is the mean logit of the answer at the last position" <|
            agrees Metric.AnswerLogit (fun c -> meanOverBatch c (fun b -> (lastRow c c.Patched b)[c.Answers[b]]))
        testProperty "minus_cross_entropy is the mean log-probability of the answer" <|
            agrees Metric.MinusCrossEntropy (fun c -> -(handCrossEntropy c))
        test "the default is the logit difference only when every pair has a wrong answer" {
            let data pairs = { Source = "test"; Pairs = pairs }
            Expect.equal (Metric.defaultFor (data [| pair (Some 5); pair (Some 6) |])) Metric.LogitDiff "all wrong answers"
            Expect.equal (Metric.defaultFor (data [| pair (Some 5); pair None |])) Metric.MinusCrossEntropy "one missing"
        }
        test "answer_logit names itself when the answers do not match the batch" {
            use scope = torch.NewDisposeScope()
            let logits = torch.zeros(2L, 3L, 5L)
            let inputs = { Patched = logits; Full = logits; Answers = torch.tensor [| 1L |]; Wrongs = None; Coefficients = None }
            Expect.throwsC (fun () -> Metric.evaluate Metric.AnswerLogit inputs |> ignore) (fun e ->
                Expect.stringContains e.Message "answer_logit" "message names the metric")
        }
    ]
