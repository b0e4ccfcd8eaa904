namespace PatchDescent.Search

open TorchSharp

[<RequireQualifiedAccess>]
type Metric =
    | LogitDiff
    | ProbDiff of ThresholdSet
    | PairProbDiff
    | AnswerLogit
    | MinusCrossEntropy

module Metric =
    let name metric =
        match metric with
        | Metric.LogitDiff -> "logit_diff"
        | Metric.ProbDiff _ | Metric.PairProbDiff -> "prob_diff"
        | Metric.AnswerLogit -> "answer_logit"
        | Metric.MinusCrossEntropy -> "minus_cross_entropy"

    let defaultFor (data: PairDataset) =
        if data.Pairs |> Array.forall (fun p -> p.Threshold.IsSome) then Metric.PairProbDiff
        elif data.Pairs |> Array.forall (fun p -> p.Wrong.IsSome) then Metric.LogitDiff
        else Metric.MinusCrossEntropy

    let check metric (data: PairDataset) =
        let lacking (has: Pair -> bool) (field: string) =
            match Array.tryFindIndex (has >> not) data.Pairs with
            | None -> Ok()
            | Some i ->
                Error $"{data.Source}: the metric {name metric} reads {field} of every pair, and pair {i + 1} (in file order) has none; choose another --metric, or give every pair {field}"
        match metric with
        | Metric.LogitDiff -> lacking (fun p -> p.Wrong.IsSome) "a wrong answer (\"wrong\" or \"wrong_id\")"
        | Metric.PairProbDiff -> lacking (fun p -> p.Threshold.IsSome) "a threshold set (\"above\" and \"at_or_below\", or \"above_ids\" and \"at_or_below_ids\")"
        | Metric.ProbDiff _ | Metric.AnswerLogit | Metric.MinusCrossEntropy -> Ok()

    let private answerLogit (inputs: LossInputs) =
        let logits = inputs.Patched
        if logits.dim() <> 3L then invalidArg "inputs" $"the answer_logit metric needs logits [batch, pos, vocab], got %A{logits.shape}"
        if inputs.Answers.shape <> [| logits.shape[0] |] then
            invalidArg "inputs" $"the answer_logit metric needs answer ids [{logits.shape[0]}], one per prompt, got %A{inputs.Answers.shape}"
        logits.select(1L, -1L).gather(1L, inputs.Answers.unsqueeze(1L)).mean()

    let evaluate metric (inputs: LossInputs) =
        use scope = torch.NewDisposeScope()
        // Losses are minimised and metrics maximised, so the loss terms come back negated.
        let value =
            match metric with
            | Metric.LogitDiff -> Loss.logitDiffMetric inputs
            | Metric.ProbDiff t -> (Loss.evaluate (Term(Term.ProbDiff t)) inputs).Total.neg()
            | Metric.PairProbDiff -> Loss.pairProbDiffMetric inputs
            | Metric.AnswerLogit -> answerLogit inputs
            | Metric.MinusCrossEntropy -> (Loss.evaluate Loss.crossEntropy inputs).Total.neg()
        value.MoveToOuterDisposeScope()
