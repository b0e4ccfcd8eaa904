namespace PatchDescent.Search

open TorchSharp

[<RequireQualifiedAccess>]
type Metric =
    | LogitDiff
    | ProbDiff of ThresholdSet
    | AnswerLogit
    | MinusCrossEntropy

module Metric =
    let name metric =
        match metric with
        | Metric.LogitDiff -> "logit_diff"
        | Metric.ProbDiff _ -> "prob_diff"
        | Metric.AnswerLogit -> "answer_logit"
        | Metric.MinusCrossEntropy -> "minus_cross_entropy"

    let defaultFor (data: PairDataset) =
        if data.Pairs |> Array.forall (fun p -> p.Wrong.IsSome) then Metric.LogitDiff else Metric.MinusCrossEntropy

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
            | Metric.AnswerLogit -> answerLogit inputs
            | Metric.MinusCrossEntropy -> (Loss.evaluate Loss.crossEntropy inputs).Total.neg()
        value.MoveToOuterDisposeScope()
