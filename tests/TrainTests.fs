module PatchDescent.Tests.TrainTests

open System.IO
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open PatchDescent.Model
open PatchDescent.Search
open PatchDescent.Tests.Fixtures

let private resolve (s: Schedule) =
    match Schedule.resolve s with
    | Ok r -> r
    | Error e -> failwith e

/// A tiny random attention-only model, a Full-graph patching engine and two batches of random clean/corrupted
/// tokens, under `schedule` (default `Schedule.learnAll`). `keep` names the one head whose W_O stays; every other head's is zeroed, so only that head can carry
/// anything to the logits.
type private Setup(seed: int, ?keep: int * int, ?schedule: GraphShape -> Schedule) =
    let c = Gpt2Config(2, 2, 8, 6, 13, 1e-5, true)
    let model = Gpt2.Random(c, seed, std = 1.0)
    do
        keep |> Option.iter (fun (keepLayer, keepHead) ->
            use _ = torch.no_grad ()
            use scope = torch.NewDisposeScope()
            for l in 0 .. c.Layers - 1 do
                for h in 0 .. c.Heads - 1 do
                    if (l, h) <> (keepLayer, keepHead) then model.Blocks[l].WO[int64 h].zero_() |> ignore)
    let generator = new torch.Generator(uint64 seed)
    let shape = Engine.shapeOf model
    let engine = Engine.compile model (resolve ((defaultArg schedule Schedule.learnAll) shape)) Ablation.Patching
    let tokens () = torch.randint(int64 c.VocabSize, [| 4L; 5L |], generator = generator)
    let owned = ResizeArray<System.IDisposable>()
    let batches =
        [ for _ in 1 .. 2 ->
            let clean, corrupted = tokens (), tokens ()
            let answers = torch.randint(int64 c.VocabSize, [| 4L |], generator = generator)
            let batch = engine.Prepare(clean, Some corrupted, None)
            let b = Train.withTargets engine batch answers None None
            owned.AddRange [ clean; corrupted; answers; batch; b.FullLogits ]
            b ]
    member _.Shape = shape
    member _.Engine = engine
    member _.Batches = batches
    interface System.IDisposable with
        member _.Dispose() =
            for d in owned do d.Dispose()
            for d in [ engine :> System.IDisposable; model; generator ] do d.Dispose()

let private settings =
    { Steps = 10; LearningRate = 0.1; Gate = Gate.hardConcrete; Loss = Loss.kl; Sparsity = L1Penalty 1.0
      ClipNorm = Some 1.0; Seed = 1; LogEvery = 5 }

let private train (s: Setup) settings = Train.run settings s.Engine s.Batches ignore

[<Tests>]
let tests =
    testList "Train" [
        test "two runs with one seed learn bit-identical logits, and another seed learns others under HardConcrete" {
            use s = new Setup(3)
            let a, b = train s settings, train s settings
            Expect.equal a.LogAlpha b.LogAlpha "same seed, same logits"
            Expect.equal a.Scores b.Scores "same seed, same scores"
            let c = train s { settings with Seed = 2 }
            Expect.notEqual a.LogAlpha c.LogAlpha "another seed, other logits"
        }
        test "the Lagrangian run is deterministic too and logs its target" {
            use s = new Setup(4)
            let lagrangian = { settings with Sparsity = TargetLagrangian({ Start = 0.0; End = 0.5; WarmupSteps = 2; AnnealSteps = 4 }, 0.1) }
            let logs = ResizeArray()
            let a = Train.run lagrangian s.Engine s.Batches logs.Add
            let b = train s lagrangian
            Expect.equal a.LogAlpha b.LogAlpha "same seed, same logits"
            Expect.equal [ for l in logs -> l.Step, l.Target ] [ 4, Some 0.25; 9, Some 0.5 ] "logged steps and targets"
        }
        test "live tensors stay constant across steps, and a 30-step run leaves as many as a 3-step run" {
            use s = new Setup(5)
            // The first recording pass of a batch allocates the engine's per-batch buffers; they outlive the run.
            train s { settings with Steps = 3 } |> ignore
            let afterThree = DisposeScopeManager.Statistics.ThreadTotalLiveCount
            let counts = ResizeArray()
            let onLog (_: StepLog) = counts.Add DisposeScopeManager.Statistics.ThreadTotalLiveCount
            Train.run { settings with Steps = 30; LogEvery = 1 } s.Engine s.Batches onLog |> ignore
            Expect.equal counts[29] counts[2] "live tensors during step 30 and during step 3"
            Expect.equal DisposeScopeManager.Statistics.ThreadTotalLiveCount afterThree "live tensors after 30 steps and after 3"
        }
        test "a clip norm of 1e-20 leaves the logits where they started, since Adam's epsilon then dominates the step" {
            use s = new Setup(9)
            let r = train s { settings with ClipNorm = Some 1e-20 }
            let start = Gate.initialLogAlpha settings.Gate s.Engine.Schedule.Init |> Array.map (float32 >> float)
            Expect.equal r.LogAlpha start "unmoved"
        }
        test "scores are one per edge: the gate of the edge's parameter, or the fixed value" {
            use s = new Setup(6)
            let n = s.Engine.ParamCount
            let scores = Train.edgeScores s.Engine Sigmoid (Array.init n (fun i -> if i = 0 then 0.0 else -1.0))
            Expect.equal scores.Length (Graph.edgeCount s.Shape) "one per edge"
            Expect.floatClose Accuracy.veryHigh scores[0] 0.5 "sigmoid(0)"
            Expect.floatClose Accuracy.veryHigh scores[1] (1.0 / (1.0 + exp 1.0)) "sigmoid(-1)"
        }
        testProperty "ranking orders edges by hard concrete score, breaking the clamp's ties by logit, then by edge id" <|
            fun (logits: NormalFloat list) ->
                use s = new Setup(6)
                let n = s.Engine.ParamCount
                // Logits up to +-24 put many gates on the clamps at 0 and 1, where only the logit still orders them.
                let given = Array.ofList logits
                let logAlpha = Array.init n (fun i -> if given.Length = 0 then 0.0 else 24.0 * tanh (given[i % given.Length].Get))
                let scores = Train.edgeScores s.Engine Gate.hardConcrete logAlpha
                let keys = Train.ranking s.Engine Gate.hardConcrete logAlpha
                let ids = [| 0 .. scores.Length - 1 |]
                // learnAll: edge id i is parameter i, so the logit of edge i is logAlpha[i].
                let expected = ids |> Array.sortWith (fun a b -> compare (-scores[a], -logAlpha[a], a) (-scores[b], -logAlpha[b], b))
                let actual = ids |> Array.sortBy (fun id -> -keys[id])
                Expect.sequenceEqual actual expected "order"
                Expect.sequenceEqual (Array.sort keys) [| for i in 0 .. scores.Length - 1 -> float i |] "keys are 0 .. edges-1"
        test "rankingBy orders by score, then by the larger tie-break, then by edge id, and refuses lengths that differ" {
            let keys = Train.rankingBy [| 1.0; 0.5; 1.0; 1.0; 0.0 |] [| 0.2; 9.0; 0.7; 0.2; 3.0 |]
            Expect.sequenceEqual ([| 0 .. 4 |] |> Array.sortBy (fun id -> -keys[id])) [| 2; 0; 3; 1; 4 |] "order"
            Expect.throwsT<System.ArgumentException> (fun () -> Train.rankingBy [| 1.0 |] [| 1.0; 2.0 |] |> ignore) "lengths"
        }

        test "tied edges share their parameter's score, and fixed edges score their fixed value" {
            let schedule shape = Schedule.learnAll shape |> Schedule.tieQkv |> Schedule.fix (Edges.into Nodes.logits) 0.0
            use s = new Setup(10, schedule = schedule)
            let r = train s settings
            let score name = r.Scores[Graph.edgeId s.Shape (List.head (Result.defaultWith failwith (Edge.parse name)))]
            for name in [ "input->logits"; "a1.h1->logits" ] do Expect.equal (score name) 0.0 name
            Expect.equal (score "a0.h1->a1.h0<k>") (score "a0.h1->a1.h0<q>") "k as q"
            Expect.equal (score "a0.h1->a1.h0<v>") (score "a0.h1->a1.h0<q>") "v as q"
        }
        test "the Lagrangian drives the hard concrete expected kept fraction to 1 - the target sparsity and holds it there" {
            use s = new Setup(11, keep = (1, 1))
            let target = { Start = 0.5; End = 0.5; WarmupSteps = 0; AnnealSteps = 0 }
            let lagrangian = { settings with Steps = 400; LearningRate = 0.1; Sparsity = TargetLagrangian(target, 0.5); LogEvery = 20 }
            let logs = ResizeArray()
            Train.run lagrangian s.Engine s.Batches logs.Add |> ignore
            let kept = [ for l in logs -> l.ExpectedKeptFraction ]
            Expect.isGreaterThan kept.Head 0.9 $"starts near everything kept: %A{kept}"
            for k in List.skip 15 kept do
                Expect.floatClose { absolute = 0.02; relative = 0.0 } k 0.5 $"the last 5 logs near the target: %A{kept}"
        }
        test "a NaN learning rate stops the run with an error naming step 1, the first NaN loss" {
            use s = new Setup(7)
            let logged = ResizeArray()
            let run () = Train.run { settings with LearningRate = nan; LogEvery = 5 } s.Engine s.Batches logged.Add |> ignore
            Expect.throwsC run (fun e ->
                match e with
                | TrainingDiverged (step, checkpoint, _) ->
                    Expect.equal step 1 "first bad step"
                    Expect.isNone checkpoint "no checkpoint was asked for"
                | other -> failtest $"unexpected %A{other}")
            Expect.isEmpty logged "no log of a diverged step"
        }
        test "discovery keeps the one planted path and drops every edge that carries nothing" {
            // Only a1.h1 writes to the residual stream, so the logits depend on input -> logits, a1.h1 -> logits
            // and input -> a1.h1<q, k, v>; every other edge has gradient exactly 0 from the KL term.
            use s = new Setup(8, keep = (1, 1))
            let r = Train.run { settings with Steps = 300; Gate = Sigmoid; ClipNorm = None } s.Engine s.Batches ignore
            let edge name = Graph.edgeId s.Shape (List.exactlyOne (Result.defaultWith failwith (Edge.parse name)))
            let path = set [ for name in [ "input->logits"; "a1.h1->logits"; "input->a1.h1<q>"; "input->a1.h1<k>"; "input->a1.h1<v>" ] -> edge name ]
            let kept = set [ for id in 0 .. r.Scores.Length - 1 do if r.Scores[id] > 0.5 then id ]
            let named ids = [ for id in ids -> Edge.name (Graph.edge s.Shape id), r.Scores[id] ]
            Expect.equal kept path $"kept %A{named kept}"
            let dropped = [ for id in 0 .. r.Scores.Length - 1 do if not (path.Contains id) then r.Scores[id] ]
            Expect.isLessThan (List.max dropped) 0.01 "every edge off the path ends near 0"
        }
        test "a NaN loss after a checkpoint names that checkpoint, and no checkpoint holds the diverged state" {
            use s = new Setup(7)
            use dir = new TempDir()
            let path = dir.File "run.ckpt"
            let options = { Checkpoint = Some { Path = path; Every = 1; Resume = false; Context = [] }; RecordLevels = [] }
            let run () = Train.runWith options { settings with LearningRate = nan; LogEvery = 5 } s.Engine s.Batches ignore |> ignore
            Expect.throwsC run (fun e ->
                match e with
                | TrainingDiverged (step, checkpoint, _) ->
                    Expect.equal step 1 "first bad step"
                    Expect.equal checkpoint (Some (1, path)) "the checkpoint after step 0"
                    Expect.stringContains e.Message path "the message names it"
                | other -> failtest $"unexpected %A{other}")
            // Resuming with a finite learning rate is refused: the rate is part of the fingerprint.
            let resumed () = Train.runWith { options with Checkpoint = Some { Path = path; Every = 1; Resume = true; Context = [] } } settings s.Engine s.Batches ignore |> ignore
            Expect.throwsC resumed (fun e -> Expect.stringContains e.Message "learning_rate is NaN there and 0.1 here" "names the difference")
        }
        testPropertyWithConfig { FsCheckConfig.defaultConfig with maxTest = 8 } "a run stopped at a random step and resumed from its checkpoint ends bit for bit where an uninterrupted run ends" <|
            fun (PositiveInt every) (PositiveInt stopAt) ->
                let steps = 12
                let every = 1 + every % 5
                let stopAt = every + stopAt % (steps - every)         // in [every, steps - 1]: a checkpoint exists
                use s = new Setup(12)
                use dir = new TempDir()
                let lagrangian =
                    { settings with Steps = steps; LogEvery = 1; Sparsity = TargetLagrangian({ Start = 0.0; End = 0.9; WarmupSteps = 2; AnnealSteps = 6 }, 0.5) }
                let levels = [ 0.5; 0.8; 1.0 ]
                let whole = Train.runWith { Checkpoint = None; RecordLevels = levels } lagrangian s.Engine s.Batches ignore
                let checkpoint resume = Some { Path = dir.File "ckpt"; Every = every; Resume = resume; Context = [ "data", "the test's batches" ] }
                let stop (l: StepLog) = if l.Step = stopAt then failwith "stopped"
                Expect.throwsC (fun () -> Train.runWith { Checkpoint = checkpoint false; RecordLevels = levels } lagrangian s.Engine s.Batches stop |> ignore)
                    (fun e -> Expect.equal e.Message "stopped" "the stop, not another failure")
                let logged = ResizeArray<StepLog>()
                let resumed = Train.runWith { Checkpoint = checkpoint true; RecordLevels = levels } lagrangian s.Engine s.Batches logged.Add
                // The stop comes in the log of step stopAt, before its checkpoint: the last one written is after step
                // `next - 1`, the last multiple of `every` up to stopAt.
                let next = stopAt / every * every
                Expect.equal resumed.ResumedAt (Some next) "resumed at the checkpoint's next step"
                Expect.equal logged[0].Step next "the first step taken is the checkpoint's next"
                Expect.equal resumed.LogAlpha whole.LogAlpha "logits"
                Expect.equal resumed.Scores whole.Scores "scores"
                Expect.equal resumed.Recorded whole.Recorded "recorded levels"
        test "each record level holds the logits of the first step whose expected kept edges reach it, as a run stopped before that step's update ends with" {
            use s = new Setup(13)
            let edges = float (Graph.edgeCount s.Shape)
            let lagrangian =
                { settings with Steps = 40; LogEvery = 1; Sparsity = TargetLagrangian({ Start = 0.0; End = 0.9; WarmupSteps = 0; AnnealSteps = 30 }, 0.5) }
            let logs = ResizeArray<StepLog>()
            let levels = [ 0.9; 0.6; 0.3; 0.001 ]
            let r = Train.runWith { Checkpoint = None; RecordLevels = levels } lagrangian s.Engine s.Batches logs.Add
            for l in logs do
                // learnAll: every edge is its own parameter, so the expected kept edges are the kept fraction times the edges.
                Expect.floatClose Accuracy.medium l.ExpectedKeptEdges (l.ExpectedKeptFraction * edges) $"step {l.Step}"
            let expected =
                [ for level in levels do
                    match logs |> Seq.tryFind (fun l -> l.ExpectedKeptEdges <= level * edges) with
                    | Some l -> yield level, l.Step
                    | None -> () ]
            Expect.equal [ for x in r.Recorded -> x.Level, x.Step ] expected "levels and steps"
            Expect.isLessThan expected.Length levels.Length "the smallest level is never reached, and is left out"
            for x in r.Recorded do
                let stopped = train s { lagrangian with Steps = x.Step }
                Expect.equal x.Scores stopped.Scores $"level {x.Level}"
                let above = stopped.Scores |> Array.filter (fun v -> v >= 0.5) |> Array.length
                Expect.equal logs[x.Step].EdgesAtThreshold above $"edges at the threshold at step {x.Step}"
        }
    ]
