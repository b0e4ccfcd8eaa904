module PatchDescent.Tests.TriggerTaskTests

open System
open System.IO
open Expecto
open FsCheck
open FsCheck.FSharp
open PatchDescent.Model
open PatchDescent.Search.Tasks
open PatchDescent.Tests.Fixtures

let private quick n = { FsCheckConfig.defaultConfig with maxTest = n }

/// Small trigger tasks: vocabulary 4-24, 1-3 triggers, 2-20 tokens, any trigger rate below 1.
let private tasks =
    gen {
        let! vocab = Gen.choose (4, 24)
        let! triggers = Gen.choose (1, 3)
        let! seqLen = Gen.choose (2, 20)
        let! bigramSeed = Gen.choose (0, 1000)
        let! rate = Gen.choose (0, 9)
        return TriggerTask.Create(vocab, triggers, seqLen, bigramSeed, 1.5, float rate / 10.0)
    }

[<Tests>]
let tests =
    testList "TriggerTask" [
        testPropertyWithConfig (quick 40) "every trigger is followed by its sequence's output, a non-trigger drawn for that sequence" <|
            Prop.forAll (Arb.fromGen (Gen.zip tasks (Gen.choose (0, 10000)))) (fun (task, seed) ->
                let s = task.Sample(Random seed)
                s.Tokens.Length = task.SeqLen
                && s.Tokens |> Array.forall (fun t -> t >= 0 && t < task.Vocab)
                && s.Outputs.Keys |> Seq.sort |> List.ofSeq = List.ofSeq task.Triggers
                && s.Outputs.Values |> Seq.forall (fun o -> not (task.IsTrigger o))
                && s.Tokens |> Array.pairwise |> Array.forall (fun (a, b) -> not (task.IsTrigger a) || b = s.Outputs[a]))

        testPropertyWithConfig (quick 40) "predictable positions are those after a trigger's repeated occurrence" <|
            Prop.forAll (Arb.fromGen (Gen.zip tasks (Gen.choose (0, 10000)))) (fun (task, seed) ->
                let s = task.Sample(Random seed)
                let expected =
                    [ for t in 1 .. s.Tokens.Length - 1 do
                        let x = s.Tokens[t - 1]
                        if List.contains x (List.ofSeq task.Triggers) && Array.contains x s.Tokens[.. t - 2] then yield t ]
                List.ofSeq (s.PredictablePositions task) = expected)

        testProperty "the same seed gives the same sequence" <| fun (seed: int) ->
            let task = TriggerTask.Default
            (task.Sample(Random seed)).Tokens = (task.Sample(Random seed)).Tokens

        test "tokens after non-triggers follow the bigram table mixed with the trigger draw (frequencies within 4 standard errors)" {
            let task = TriggerTask.Create(8, 2, 200, 3, 1.5, 0.25)
            let rng = Random 7
            let counts = Array2D.zeroCreate 8 8
            for _ in 1 .. 400 do
                let s = task.Sample rng
                for a, b in Array.pairwise s.Tokens do
                    if not (task.IsTrigger a) then counts[a, b] <- counts[a, b] + 1
            for a in task.OutputTokens do
                let n = float (Seq.sum [ for b in 0 .. 7 -> counts[a, b] ])
                for b in 0 .. 7 do
                    // Independent of the sampler: the mixture the task describes, p = r / |T| for a trigger, (1 - r) * row.
                    let p = if task.IsTrigger b then 0.25 / 2.0 else 0.75 * task.Bigram[a][b]
                    let se = sqrt (p * (1.0 - p) / n) + 1e-9
                    Expect.isLessThanOrEqual (abs (float counts[a, b] / n - p)) (4.0 * se + 1e-3) $"row {a}, token {b}"
        }

        test "bigram rows are distributions that never draw a trigger" {
            let task = TriggerTask.Default
            for row in task.Bigram do
                Expect.floatClose Accuracy.high (Seq.sum (row :> float seq)) 1.0 "sums to 1"
                for t in task.Triggers do Expect.equal row[t] 0.0 "no trigger from the table"
        }

        test "the mean bigram entropy matches the entropy computed from the mixture" {
            let task = TriggerTask.Create(6, 2, 10, 1, 1.0, 0.3)
            let entropy (p: float list) = -(p |> List.filter (fun x -> x > 0.0) |> List.sumBy (fun x -> x * log x))
            let expected =
                task.OutputTokens |> Seq.averageBy (fun a ->
                    entropy [ for b in 0 .. 5 -> if task.IsTrigger b then 0.3 / 2.0 else 0.7 * task.Bigram[a][b] ])
            Expect.floatClose Accuracy.high task.MeanBigramEntropy expected "entropy"
        }

        testPropertyWithConfig (quick 10) "task.json round-trips" <| Prop.forAll (Arb.fromGen tasks) (fun task ->
            use dir = new TempDir()
            task.Save dir.Path
            let back = TriggerTask.Load(dir.File "task.json")
            Expect.isEmpty (Directory.GetFiles(dir.Path, "*.tmp-*")) "no temporary file left"
            back.ToJson() = task.ToJson() && (back.Sample(Random 1)).Tokens = (task.Sample(Random 1)).Tokens)

        test "a task.json with a trigger outside the vocabulary is refused, naming the file and the field" {
            use dir = new TempDir()
            File.WriteAllText(dir.File "task.json",
                """{"task": "induction", "kind": "trigger", "vocab": 8, "triggers": [1, 9], "seq_len": 16, "bigram_seed": 0, "bigram_sharpness": 1.5, "trigger_rate": 0.2}""")
            let e = Expect.throwsC (fun () -> TriggerTask.Load(dir.File "task.json") |> ignore) id
            Expect.stringContains e.Message (dir.File "task.json") "names the file"
            Expect.stringContains e.Message "triggers" "names the field"
            Expect.stringContains e.Message "9" "names the token"
        }

        test "a task.json missing a field is refused, naming it" {
            use dir = new TempDir()
            File.WriteAllText(dir.File "task.json", """{"task": "induction", "kind": "trigger", "vocab": 8}""")
            let e = Expect.throwsC (fun () -> TriggerTask.Load(dir.File "task.json") |> ignore) id
            Expect.stringContains e.Message "triggers" "names the missing field"
        }

        test "a task.json whose triggers hold null or a string is refused as a ModelFormatException naming the file" {
            for triggers in [ "[1, null]"; "[1, \"two\"]" ] do
                let text = $"""{{"task": "induction", "kind": "trigger", "vocab": 8, "triggers": {triggers}, "seq_len": 16, "bigram_seed": 0, "bigram_sharpness": 1.5, "trigger_rate": 0.2}}"""
                let e = Expect.throwsC (fun () -> TriggerTask.Parse("m/task.json", text) |> ignore) id
                Expect.isTrue (e :? ModelFormatException) $"{triggers}: a format error, not {e.GetType().Name}"
                Expect.stringStarts e.Message "m/task.json: " $"{triggers}: names the file"
        }
    ]
