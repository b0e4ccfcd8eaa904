module PatchDescent.Tests.InductionTaskTests

open Expecto
open PatchDescent.Search
open PatchDescent.Search.Tasks
open PatchDescent.Tests.Fixtures

let private json = """{"task": "induction", "kind": "repeated-span", "vocab": 32, "bos": 0, "min_span": 8, "max_span": 16}"""
let private spec = Induction.parse "task.json" json |> Result.defaultWith failwith

let private errorOf text =
    match Induction.parse "m/task.json" text with
    | Ok s -> failtest $"parsed %A{s}, expected an error"
    | Error e -> e

[<Tests>]
let tests =
    testList "Tasks.Induction" [
        test "task.json gives the spec it describes" {
            Expect.equal spec { Vocab = 32; Bos = Some 0; Kind = Induction.RepeatedSpan(8, 16) } "spec"
        }

        test "an unknown kind, a missing field or an impossible span is an error naming the file" {
            let unknown = errorOf """{"task": "induction", "kind": "shuffled", "vocab": 32, "min_span": 8, "max_span": 16}"""
            Expect.stringStarts unknown "m/task.json: " "names the file"
            Expect.stringContains unknown "\"shuffled\"" "names the kind"
            Expect.stringContains unknown "repeated-span" "names the known kinds"
            Expect.stringContains (errorOf """{"task": "induction", "kind": "repeated-span", "vocab": 32, "max_span": 16}""") "min_span" "missing field"
            Expect.stringContains (errorOf """{"task": "induction", "kind": "repeated-span", "vocab": 10, "bos": 0, "min_span": 8, "max_span": 16}""") "max_span" "too long"
            Expect.stringContains (errorOf "[1, 2]") "not a JSON object" "not an object"
        }

        test "the same seed gives the same pairs, another seed others" {
            Expect.equal (Induction.generate spec 20 4) (Induction.generate spec 20 4) "same seed"
            Expect.notEqual (Induction.generate spec 20 4).Pairs (Induction.generate spec 20 5).Pairs "other seed"
        }

        test "every clean prompt is BOS, a span of distinct tokens, then a prefix of it; the answer continues the prefix; the corrupted prompt has the same shape with another query and answer" {
            for p in (Induction.generate spec 200 9).Pairs do
                let check (tokens: int[]) =
                    Expect.equal tokens[0] 0 "BOS first"
                    let body = tokens[1..]
                    // The span is as long as the prompt's distinct tokens; the rest repeats its start.
                    let n = (Array.distinct body).Length
                    Expect.isTrue (n >= 8 && n <= 16) $"span length {n}"
                    Expect.equal body[n..] body[.. body.Length - n - 1] "a prefix of the span again"
                    Expect.isTrue (body.Length > n && body.Length < 2 * n) "ends inside the second copy"
                    Expect.isFalse (Array.contains 0 body) "BOS only first"
                    body[body.Length - n]
                let next = check p.Clean
                Expect.equal p.Answer next "the answer is the span's next token"
                Expect.equal p.Corrupted.Length p.Clean.Length "same length"
                let corruptedNext = check p.Corrupted
                Expect.equal p.Wrong (Some corruptedNext) "the wrong answer is the corrupted prompt's"
                Expect.notEqual corruptedNext p.Answer "another answer"
                Expect.notEqual (Array.last p.Corrupted) (Array.last p.Clean) "another query token"
        }
    ]
