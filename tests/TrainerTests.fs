module PatchDescent.Tests.TrainerTests

open System
open Expecto
open TorchSharp
open PatchDescent.Model
open PatchDescent.Search.Tasks
open PatchDescent.Toys
open PatchDescent.Tests.Fixtures

let private task = TriggerTask.Create(12, 2, 10, 0, 1.5, 0.25)
let private config = Gpt2Config(2, 2, 16, 10, 12, 1e-5)
let private options steps seed = TrainerOptions(Steps = steps, BatchSize = 8, LearningRate = 1e-2, WarmupSteps = 0, Seed = seed, LogEvery = 1)

let private trained steps seed =
    let model = Trainer.Initialize(config, seed)
    let logs = ResizeArray<TrainLog>()
    let settings = options steps seed
    Trainer.Train(model, task, settings, fun l -> logs.Add l)
    model, List.ofSeq logs

let private weights (m: Gpt2) = [ for p in m.Parameters() -> values p ]

[<Tests>]
let tests =
    testList "Trainer" [
        test "a few steps from one seed give bit-identical weights; another seed gives other weights" {
            let a, logsA = trained 3 5
            let b, logsB = trained 3 5
            let c, _ = trained 3 6
            use a = a
            use b = b
            use c = c
            Expect.equal (weights a) (weights b) "same seed, same weights"
            Expect.equal [ for l in logsA -> l.Loss ] [ for l in logsB -> l.Loss ] "same seed, same losses"
            Expect.notEqual (weights a) (weights c) "another seed"
            Expect.isTrue (a.Parameters() |> Seq.forall (fun p -> not p.requires_grad)) "weights leave without gradients"
        }

        test "training lowers the loss on held-out sequences (150 steps on a tiny task)" {
            use scope = torch.NewDisposeScope()
            let struct (heldOut, _) = Trainer.Batch(task, Random 99, 128)
            let meanLoss model = (values (Trainer.TokenLosses(model, heldOut))) |> Array.averageBy float
            use model = Trainer.Initialize(config, 1)
            let before = meanLoss model
            let logs = ResizeArray<TrainLog>()
            let settings = TrainerOptions(Steps = 150, BatchSize = 16, LearningRate = 1e-2, WarmupSteps = 0, Seed = 1, LogEvery = 50)
            Trainer.Train(model, task, settings, fun l -> logs.Add l)
            let after = meanLoss model
            Expect.isLessThan after (before - 0.15) $"held-out loss {before:F3} -> {after:F3}"
            Expect.equal [ for l in logs -> l.Step ] [ 50; 100; 150 ] "a log every 50 steps, numbered from 1"
        }

        test "token losses equal the cross-entropy computed from the logits" {
            use model = Gpt2.Random(config, 3, std = 0.3)
            let tokens = Array.init 2 (fun b -> Array.init 10 (fun t -> (b * 7 + t * 5) % 12))
            use input = tokenTensor tokens
            use losses = Trainer.TokenLosses(model, input)
            use logits = model.Forward input
            let l = values logits
            let got = values losses
            for b in 0 .. 1 do
                for t in 0 .. 8 do
                    let row = Array.init 12 (fun v -> float l[(b * 10 + t) * 12 + v])
                    let m = Array.max row
                    let logSum = m + log (row |> Array.sumBy (fun x -> exp (x - m)))
                    Expect.floatClose Accuracy.medium (float got[b * 9 + t]) (logSum - row[tokens[b][t + 1]]) $"batch {b}, position {t}"
        }

        test "the batch marks exactly the positions after repeated triggers" {
            use scope = torch.NewDisposeScope()
            let struct (tokens, predictable) = Trainer.Batch(task, Random 4, 6)
            let rng = Random 4
            let expected = [| for _ in 1 .. 6 do
                                let s = task.Sample rng
                                let marks = Array.zeroCreate 9
                                for t in s.PredictablePositions task do marks[t - 1] <- true
                                yield! marks |]
            Expect.sequenceEqual (predictable.data<bool>().ToArray()) expected "mask"
            Expect.equal tokens.shape [| 6L; 10L |] "tokens shape"
        }

        test "initialisation: LayerNorms 1 and 0, biases 0, weights of GPT-2's scale" {
            use model = Trainer.Initialize(Gpt2Config(2, 2, 32, 16, 40, 1e-5), 9)
            let b = model.Blocks[0]
            Expect.allEqual (values b.Ln1W) 1.0f "ln_1 weight"
            Expect.allEqual (values b.BQkv) 0.0f "qkv bias"
            Expect.allEqual (values (nonNull b.BOut)) 0.0f "mlp bias"
            let w = values b.WQkv
            let sd = sqrt (w |> Array.averageBy (fun x -> float x * float x))
            Expect.isLessThan (abs (sd - 0.02)) 0.003 $"W_qkv sd {sd}"
        }

        test "a task whose vocabulary differs from the model's is refused" {
            use model = Trainer.Initialize(Gpt2Config(1, 1, 8, 10, 20, 1e-5), 1)
            let settings = options 1 1
            let e = Expect.throwsC (fun () -> Trainer.Train(model, task, settings, ignore)) id
            Expect.stringContains e.Message "vocabulary" "says what differs"
        }

        test "ShrinkHeads soft-thresholds each head's norm by amount x sqrt(head size), zeroes heads below that, and touches nothing else" {
            let c = Gpt2Config(2, 2, 16, 10, 12, 1e-5)
            use model = Gpt2.Random(c, 7, std = 0.3)
            // Layer 0's head 1 is made too small to survive the step.
            do
                use _ = torch.no_grad ()
                use small = torch.tensor([| 1.0f; 0.01f |])
                let b = model.Blocks[0]
                b.WQkv.mul_(small.view(1, 1, 2, 1)) |> ignore
                b.BQkv.mul_(small.view(1, 2, 1)) |> ignore
                b.WO.mul_(small.view(2, 1, 1)) |> ignore
            let before = [ for b in model.Blocks -> values b.WQkv, values b.BQkv, values b.WO ]
            let others = [ values model.WE; values model.WPos; yield! [ for b in model.Blocks -> values b.BO ] ]
            let amount = 0.1
            Trainer.ShrinkHeads(model, amount)
            let (d, h, e) = (16, 2, 8)
            // Flat indices of head `head`'s weights in W_qkv [d, 3, h, e], b_qkv [3, h, e] and W_O [h, e, d].
            let qkvOf head = [ for i in 0 .. d - 1 do for p in 0 .. 2 do for k in 0 .. e - 1 -> ((i * 3 + p) * h + head) * e + k ]
            let biasOf head = [ for p in 0 .. 2 do for k in 0 .. e - 1 -> (p * h + head) * e + k ]
            let outOf head = [ for k in 0 .. e - 1 do for i in 0 .. d - 1 -> (head * e + k) * d + i ]
            let threshold = amount * sqrt (float (qkvOf 0 @ biasOf 0 @ outOf 0).Length)
            let keeps =
                [ for l, b in List.indexed (List.ofSeq model.Blocks) do
                    let (w0, b0, o0) = before[l]
                    let (w1, b1, o1) = values b.WQkv, values b.BQkv, values b.WO
                    for head in 0 .. h - 1 do
                        let pairs = [ for i in qkvOf head -> w0[i], w1[i] ] @ [ for i in biasOf head -> b0[i], b1[i] ] @ [ for i in outOf head -> o0[i], o1[i] ]
                        let norm = sqrt (pairs |> List.sumBy (fun (x, _) -> float x * float x))
                        let keep = max 0.0 (1.0 - threshold / norm)
                        for x, y in pairs do
                            Expect.floatClose Accuracy.medium (float y) (float x * keep) $"layer {l} head {head}"
                        yield keep ]
            Expect.equal (keeps |> List.filter ((=) 0.0) |> List.length) 1 "exactly the shrunk head falls below the threshold"
            Expect.isTrue (values model.Blocks[0].WO |> Array.skip (e * d) |> Array.forall ((=) 0.0f)) "the small head is exactly 0"
            Expect.equal [ values model.WE; values model.WPos; yield! [ for b in model.Blocks -> values b.BO ] ] others "embeddings and output biases untouched"
        }

        test "training applies the head pressure only from HeadSparsityFrom on" {
            let run sparsity from =
                let model = Trainer.Initialize(config, 3)
                let settings = TrainerOptions(Steps = 3, BatchSize = 8, LearningRate = 1e-2, WarmupSteps = 0, Seed = 3, LogEvery = 1,
                                              HeadSparsity = sparsity, HeadSparsityFrom = from)
                Trainer.Train(model, task, settings, ignore)
                model
            use plain = run 0.0 0
            use late = run 1000.0 3
            use crushed = run 1000.0 2
            use initial = Trainer.Initialize(config, 3)
            Expect.equal (weights late) (weights plain) "a pressure that starts after the last step changes nothing"
            for b in crushed.Blocks do
                Expect.allEqual (values b.WQkv) 0.0f "a pressure far above every head's norm zeroes W_qkv"
                Expect.allEqual (values b.WO) 0.0f "and W_O"
            Expect.notEqual (values crushed.WE) (values initial.WE) "while the embeddings still train"
        }
    ]
