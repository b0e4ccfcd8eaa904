module PatchDescent.Tests.CompiledInductionTests

open System.IO
open Expecto
open TorchSharp
open PatchDescent.Model
open PatchDescent.Toys
open PatchDescent.Search
open PatchDescent.Search.Tasks
open PatchDescent.Tests.Fixtures

/// The shipped folder, found from this test program's build output.
let private shipped =
    Path.GetFullPath(Path.Combine(System.AppContext.BaseDirectory, "../../../../models/induction-compiled"))

let private spec = Induction.ofModelDir shipped |> Result.defaultWith failwith

let private edge name = Edge.parse name |> Result.defaultWith failwith |> List.exactlyOne

let private circuitEdges = [ for n in CompiledInduction.CircuitEdges -> edge n ]

/// The two edges that read positions only, which clean and corrupted prompts share.
let private positional = [ edge "input->a0.h0<q>"; edge "input->a0.h0<k>" ]

let private isDistractor (e: Edge) =
    let distractor = function Head(_, h) -> h <> 0 | _ -> false
    distractor e.Sender || distractor (Receiver.node e.Receiver)

/// Tokens [1][pos] of one prompt.
let private row (tokens: int[]) = tokenTensor [| tokens |]

/// Scores circuits with hard coefficients over the pairs, one batch per prompt length, weighted by pairs.
let private faithfulness (model: Gpt2) ablation (data: PairDataset) (circuit: Circuit) =
    let shape = Engine.shapeOf model
    let schedule = Schedule.resolve (Schedule.learnAll shape) |> Result.defaultWith failwith
    use engine = Engine.compile model schedule ablation
    let scores =
        [ for b in Dataset.batches 64 data ->
            use clean = tokenTensor (b.Clean |> Array.map (Array.map int))
            use corrupted = tokenTensor (b.Corrupted |> Array.map (Array.map int))
            use mask = tokenTensor (Dataset.mask b |> Array.map (Array.map int))
            use answers = torch.tensor b.Answers
            use batch = engine.Prepare(clean, Some corrupted, Some mask)
            let s =
                Evaluate.run
                    { Engine = engine; Batch = batch; Answers = answers; Wrongs = None; Thresholds = None; Metric = Metric.evaluate Metric.AnswerLogit }
                    circuit
            s, float b.Answers.Length ]
    let mean f = List.sumBy (fun (s, n) -> f s * n) scores / List.sumBy snd scores
    let c, full, empty = mean (fun s -> s.Circuit), mean (fun s -> s.Full), mean (fun s -> s.Empty)
    (c - empty) / (full - empty)

[<Tests>]
let tests =
    testList "CompiledInduction" [
        test "the committed models/induction-compiled is byte for byte what the compiler writes now" {
            use dir = new TempDir()
            CompiledInduction.Write(dir.File "m")
            for name in [ "config.json"; "model.safetensors"; "task.json"; "MODEL.md" ] do
                Expect.sequenceEqual (File.ReadAllBytes(Path.Combine(dir.File "m", name))) (File.ReadAllBytes(Path.Combine(shipped, name))) name
        }

        test "a0.h0 attends to the previous token and a1.h0 to the token after the earlier occurrence, which it predicts" {
            use model = CompiledInduction.Build()
            for pair in (Induction.generate spec 40 7).Pairs do
                use tokens = row pair.Clean
                let struct (logits, cache) = model.RunWithCache(tokens, [ HookPoints.Pattern 0; HookPoints.Pattern 1 ])
                use logits = logits
                use cache = cache
                let last = pair.Clean.Length - 1
                let previous, induction = cache[HookPoints.Pattern 0], cache[HookPoints.Pattern 1]
                let at (pattern: torch.Tensor) q k = pattern[0L, 0L, int64 q, int64 k].item<float32>()
                for q in 1 .. last do
                    Expect.isGreaterThan (at previous q (q - 1)) 0.99f $"a0.h0 at {q} on {q - 1}"
                // The answer follows the query token's earlier occurrence: that is the key the induction head wants.
                let target = Array.findIndex ((=) pair.Clean[last]) pair.Clean + 1
                Expect.equal pair.Clean[target] pair.Answer "the earlier occurrence is followed by the answer"
                Expect.isGreaterThan (at induction last target) 0.99f "a1.h0 on the induction target"
                use probs = logits[0L, int64 last].softmax(0L)
                Expect.isGreaterThan (probs[int64 pair.Answer].item<float32>()) 0.99f "the answer's probability"
        }

        test "the residual stream has mean zero at every position and layer, so LayerNorm only rescales it" {
            use model = CompiledInduction.Build()
            let pair = (Induction.generate spec 1 3).Pairs[0]
            use tokens = row pair.Clean
            let names = [ HookPoints.ResidPre 0; HookPoints.ResidPre 1; HookPoints.ResidPost 1 ]
            let struct (logits, cache) = model.RunWithCache(tokens, names)
            use _ = logits
            use cache = cache
            for n in names do
                use m = cache[n].mean([| -1L |]).abs().max()
                Expect.isLessThan (m.item<float32>()) 1e-6f n
        }

        test "with zero ablation and hard coefficients the seven edges keep the answer, and each one is needed" {
            use model = CompiledInduction.Build()
            let shape = Engine.shapeOf model
            let data = Induction.generate spec 48 5
            let all = faithfulness model Ablation.Zero data (Circuit.ofEdges shape circuitEdges)
            Expect.isGreaterThanOrEqual all 0.95 "the seven edges alone"
            for e in circuitEdges do
                let without = faithfulness model Ablation.Zero data (Circuit.ofEdges shape (List.except [ e ] circuitEdges))
                Expect.isLessThan without 0.5 $"without {Edge.name e}"
        }

        test "discovery's training with patching ranks the five token-carrying circuit edges above every distractor edge a circuit can use; the seven give faithfulness >= 0.95" {
            use model = CompiledInduction.Build()
            let shape = Engine.shapeOf model
            let data = Induction.generate spec 128 1
            let schedule = Schedule.resolve (Schedule.learnAll shape) |> Result.defaultWith failwith
            use engine = Engine.compile model schedule Ablation.Patching
            let owned = ResizeArray<System.IDisposable>()
            try
                let batches =
                    [ for b in Dataset.batches 32 data ->
                        let clean = tokenTensor (b.Clean |> Array.map (Array.map int))
                        let corrupted = tokenTensor (b.Corrupted |> Array.map (Array.map int))
                        let mask = tokenTensor (Dataset.mask b |> Array.map (Array.map int))
                        let answers = torch.tensor b.Answers
                        let batch = engine.Prepare(clean, Some corrupted, Some mask)
                        let t = Train.withTargets engine batch answers None None
                        owned.AddRange [ clean; corrupted; mask; answers; batch; t.FullLogits ]
                        t ]
                let settings =
                    { (Experiment.defaults shipped (Pairs data) "unused" |> Experiment.withSteps 400).Train with
                        Sparsity = TargetLagrangian({ Start = 0.0; End = 0.9; WarmupSteps = 0; AnnealSteps = 200 }, 0.5) }
                let trained = Train.run settings engine batches ignore
                // Scores clamp at 1, so rank by the logits under them (learnAll: one logit per edge, in edge order).
                // An edge into a head whose outputs were all pruned can keep a high logit (nothing pulls it down but the
                // sparsity pressure), so the ranking is read on circuits: every edge at least as high as the lowest of
                // the five, pruned to input-to-logits paths, holds no distractor edge.
                let logit e = trained.LogAlpha[Graph.edgeId shape e]
                let lowest = List.except positional circuitEdges |> List.map logit |> List.min
                let k = Graph.edges shape |> Array.filter (fun e -> logit e >= lowest) |> Array.length
                let top = Extract.prune (Extract.topK shape trained.LogAlpha k)
                for e in List.except positional circuitEdges do
                    Expect.contains (Circuit.edges top) e $"{Edge.name e} in the pruned top {k}"
                Expect.isEmpty (Circuit.edges top |> List.filter isDistractor) $"no distractor edge in the pruned top {k}"
                let found = Extract.prune (Extract.threshold shape trained.Scores 0.5)
                Expect.isEmpty (Circuit.edges found |> List.filter isDistractor) "no distractor edge in the circuit at 0.5"
            finally
                for d in owned do d.Dispose()
            Expect.isGreaterThanOrEqual (faithfulness model Ablation.Patching data (Circuit.ofEdges shape circuitEdges)) 0.95 "the seven edges"
        }
    ]
