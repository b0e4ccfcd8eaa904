module PatchDescent.Tests.InductionCheckTests

open System
open Expecto
open TorchSharp
open PatchDescent.Model
open PatchDescent.Search.Tasks
open PatchDescent.Toys
open PatchDescent.Tests.Fixtures

let private task = TriggerTask.Create(10, 2, 12, 1, 1.5, 0.3)

/// A random model whose queries and keys are all zero, so every head attends uniformly to the positions up to its own.
let private uniformAttention () =
    let model = Gpt2.Random(Gpt2Config(2, 2, 8, 12, 10, 1e-5), 4, std = 0.3)
    use _ = torch.no_grad ()
    for b in model.Blocks do
        use scope = torch.NewDisposeScope()
        b.WQkv.narrow(1, 0, 2).zero_() |> ignore
        b.BQkv.narrow(0, 0, 2).zero_() |> ignore
    model

let private mean (xs: float seq) = if Seq.isEmpty xs then nan else Seq.average xs

[<Tests>]
let tests =
    testList "InductionCheck" [
        test "under uniform attention every score is the mean of 1 / (query + 1) over the positions it reads" {
            use model = uniformAttention ()
            let n, seed = 40, 3
            let report = InductionCheck.Run(model, task, n, seed)
            let rng = Random seed
            let samples = List.init n (fun _ -> (task.Sample rng).Tokens)
            let isTrigger t = Seq.contains t task.Triggers
            // Independent bookkeeping: every (sequence, query) pair with its target positions.
            let prevAll = [ for s in samples do for t in 1 .. 11 -> 1.0 / float (t + 1) ]
            let prevRead =
                [ for s in samples do
                    for t in 1 .. 11 do
                        let x = s[t - 1]
                        if isTrigger x && Array.contains x s[t .. 10] then yield 1.0 / float (t + 1) ]
            let induction =
                [ for s in samples do
                    for q in 0 .. 10 do
                        let earlier = [ for j in 0 .. q - 1 do if s[j] = s[q] then yield j ]
                        if isTrigger s[q] && not earlier.IsEmpty then yield float earlier.Length / float (q + 1) ]
            for h in report.Heads do
                Expect.floatClose Accuracy.medium h.PreviousToken (mean prevAll) $"{h.Name} previous-token"
                Expect.floatClose Accuracy.medium h.PreviousTokenWhereRead (mean prevRead) $"{h.Name} where read"
                Expect.floatClose Accuracy.medium h.Induction (mean induction) $"{h.Name} induction"
            Expect.equal report.PredictablePositions induction.Length "one predictable position per repeat"
            Expect.isEmpty report.PreviousTokenHeads "no head passes the bar"
            Expect.isEmpty report.InductionHeads "no head passes the bar"
            Expect.isFalse report.Passes "the check fails"
        }

        test "the losses are the cross-entropies at the predictable, first-output and other positions" {
            use model = uniformAttention ()
            let n, seed = 30, 8
            let report = InductionCheck.Run(model, task, n, seed)
            let rng = Random seed
            let samples = Array.init n (fun _ -> (task.Sample rng).Tokens)
            use input = tokenTensor samples
            use logits = model.Forward input
            let l = values logits
            let loss s t =
                let row = Array.init 10 (fun v -> float l[(s * 12 + t - 1) * 10 + v])
                let m = Array.max row
                m + log (row |> Array.sumBy (fun x -> exp (x - m))) - row[samples[s][t]]
            let isTrigger t = Seq.contains t task.Triggers
            let at kind =
                mean [ for s in 0 .. n - 1 do
                        for t in 1 .. 11 do
                            let x = samples[s][t - 1]
                            let before = samples[s][.. t - 2]
                            let seen = Array.contains x before
                            let k = if not (isTrigger x) then "other" elif seen then "predictable" else "first"
                            if k = kind then yield loss s t ]
            Expect.floatClose Accuracy.medium report.PredictableLoss (at "predictable") "predictable"
            Expect.floatClose Accuracy.medium report.FirstOutputLoss (at "first") "first output"
            Expect.floatClose Accuracy.medium report.OtherLoss (at "other") "other"
            Expect.floatClose Accuracy.high report.LnVocab (log 10.0) "ln V"
        }
    ]
