module PatchDescent.Tests.TriggerPairsTests

open Expecto
open FsCheck
open FsCheck.FSharp
open PatchDescent.Search
open PatchDescent.Search.Tasks

let private quick n = { FsCheckConfig.defaultConfig with maxTest = n }
let private task = TriggerTask.Create(16, 3, 24, 2, 1.5, 0.25)

[<Tests>]
let tests =
    testList "TriggerPairs" [
        testPropertyWithConfig (quick 20) "the clean prompt ends at a trigger's second occurrence; the answer is what followed the first" <|
            Prop.forAll (Arb.fromGen (Gen.choose (0, 10000))) (fun seed ->
                let data = TriggerPairs.generate task 20 seed
                data.Pairs |> Array.forall (fun p ->
                    let c = p.Clean
                    let last = c[c.Length - 1]
                    let earlier = [ for j in 0 .. c.Length - 2 do if c[j] = last then yield j ]
                    // No trigger repeats before the last position: the prompt is cut at the first repeat.
                    let firstRepeatIsLast =
                        [ 0 .. c.Length - 2 ] |> List.forall (fun q -> not (task.IsTrigger c[q]) || not (Array.contains c[q] c[.. q - 1]))
                    task.IsTrigger last && earlier.Length = 1 && firstRepeatIsLast && p.Answer = c[earlier.Head + 1]))

        testPropertyWithConfig (quick 20) "the corrupted prompt differs in the earlier occurrence: the trigger replaced by a non-trigger, the output by the wrong answer" <|
            Prop.forAll (Arb.fromGen (Gen.choose (0, 10000))) (fun seed ->
                let data = TriggerPairs.generate task 20 seed
                data.Pairs |> Array.forall (fun p ->
                    let c = p.Clean
                    let j = Array.findIndex ((=) c[c.Length - 1]) c
                    let outside i = i <> j && i <> j + 1
                    p.Clean.Length = p.Corrupted.Length
                    && [ 0 .. c.Length - 1 ] |> List.forall (fun i -> outside i |> not || c[i] = p.Corrupted[i])
                    && not (task.IsTrigger p.Corrupted[j])
                    && c[j + 1] = p.Answer
                    && p.Wrong = Some p.Corrupted[j + 1]
                    && p.Wrong <> Some p.Answer
                    && not (task.IsTrigger p.Corrupted[j + 1])
                    // The final trigger has no earlier occurrence left to copy from.
                    && not (Array.contains c[c.Length - 1] p.Corrupted[.. c.Length - 2])))

        test "the same seed gives the same pairs, another seed others" {
            let a = TriggerPairs.generate task 30 1
            Expect.equal a.Pairs (TriggerPairs.generate task 30 1).Pairs "same seed"
            Expect.notEqual a.Pairs (TriggerPairs.generate task 30 2).Pairs "other seed"
            Expect.equal a.Pairs.Length 30 "size"
        }

        test "a task.json of kind trigger makes Tasks.Induction generate trigger pairs" {
            use dir = new PatchDescent.Tests.Fixtures.TempDir()
            task.Save dir.Path
            match Induction.ofModelDir dir.Path with
            | Ok spec ->
                Expect.equal spec.Vocab task.Vocab "vocabulary"
                Expect.equal (Induction.generate spec 12 3).Pairs (TriggerPairs.generate task 12 3).Pairs "the same pairs"
            | Error e -> failtest e
            System.IO.File.WriteAllText(dir.File "task.json", """{"task": "induction", "kind": "trigger", "vocab": 8}""")
            match Induction.ofModelDir dir.Path with
            | Ok _ -> failtest "a task.json without triggers was accepted"
            | Error e -> Expect.stringContains e "triggers" "names the missing field"
        }

        test "the metric is the answer logit" {
            Expect.equal (Metric.name TriggerPairs.metric) "answer_logit" "metric"
        }

        test "a task whose sequences never repeat a trigger is refused with a hint" {
            let never = TriggerTask.Create(16, 3, 3, 2, 1.5, 0.0)
            let e = Expect.throwsC (fun () -> TriggerPairs.generate never 1 1 |> ignore) id
            Expect.stringContains e.Message "trigger_rate" "says what to change"
        }
    ]
