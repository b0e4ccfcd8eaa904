module PatchDescent.Tests.Tasks.GreaterThanTests

open System.IO
open System.Text.RegularExpressions
open Expecto
open PatchDescent.Model
open PatchDescent.Search
open PatchDescent.Search.Tasks
open PatchDescent.Tests.Fixtures

let private generate f = GreaterThan.generate Tokenizer.Gpt2 (f { GreaterThan.defaults with Size = 80; Seed = 5 })
let private token (text: string) = Tokenizer.Gpt2.Encode text |> Array.exactlyOne

[<Tests>]
let tests =
    testList "GreaterThan" [
        test "every noun is one GPT-2 token with a leading space; every century \" XX\" and year \"YY\" is one token" {
            for noun in GreaterThan.nouns do
                Expect.isTrue (noun.StartsWith " ") $"'{noun}' has its leading space"
                Expect.equal (Tokenizer.Gpt2.Encode noun).Length 1 $"'{noun}' is one token"
            for c in GreaterThan.centuries do Expect.equal (Tokenizer.Gpt2.Encode $" {c}").Length 1 $"' {c}'"
            Expect.equal (GreaterThan.yearTokens Tokenizer.Gpt2) [| for y in 0 .. 99 -> token $"{y:D2}" |] "the 100 year tokens, in order"
            Expect.equal (Array.distinct (GreaterThan.yearTokens Tokenizer.Gpt2)).Length 100 "distinct"
        }
        test "start years lie in 02-98, and 1732 splits as ' 17' '32' while 1201 and 1280 are kept or dropped by the tokenizer" {
            for c in GreaterThan.centuries do
                for y in GreaterThan.years Tokenizer.Gpt2 c do
                    Expect.isTrue (y >= 2 && y <= 98) $"{c}{y:D2}"
                    Expect.equal (Tokenizer.Gpt2.Encode $" {c}{y:D2}") [| token $" {c}"; token $"{y:D2}" |] $"{c}{y:D2} splits"
            Expect.contains (GreaterThan.years Tokenizer.Gpt2 17) 32 "1732"
            Expect.equal (List.contains 80 (GreaterThan.years Tokenizer.Gpt2 12)) ((Tokenizer.Gpt2.Encode " 1280").Length = 2) "1280 as the tokenizer says"
        }
        test "a pair reads 'The N lasted from the year XXYY to the year XX', its corruption starts at XX01, and its threshold splits the 100 years at YY" {
            let pattern = Regex "^The (\\w+) lasted from the year (\\d\\d)(\\d\\d) to the year (\\d\\d)$"
            for p in (generate id).Pairs do
                let text = Tokenizer.Gpt2.Decode p.Clean
                let m = pattern.Match text
                Expect.isTrue m.Success $"'{text}'"
                let century, yy = m.Groups[2].Value, int m.Groups[3].Value
                Expect.equal m.Groups[4].Value century "same century"
                Expect.equal (Tokenizer.Gpt2.Decode p.Corrupted) (text.Replace($"{century}{m.Groups[3].Value} to", $"{century}01 to")) "corrupted"
                Expect.equal p.Clean.Length p.Corrupted.Length "aligned"
                let t = Option.get p.Threshold
                Expect.equal t.Above [ for y in yy + 1 .. 99 -> token $"{y:D2}" ] "above"
                Expect.equal t.AtOrBelow [ for y in 0 .. yy -> token $"{y:D2}" ] "at or below"
                Expect.equal p.Answer (token $"{yy + 1:D2}") "answer YY + 1"
                Expect.isNone p.Wrong "no wrong answer"
        }
        test "one seed gives one dataset; the splits share no prompt; BOS prepends <|endoftext|>" {
            Expect.equal (generate id) (generate id) "same seed"
            Expect.equal (generate id).Pairs.Length 80 "size"
            let text (p: Pair) = Tokenizer.Gpt2.Decode p.Clean
            let test' = generate (fun o -> { o with Split = Test })
            Expect.isEmpty (Set.intersect (set (Array.map text (generate id).Pairs)) (set (Array.map text test'.Pairs))) "disjoint"
            Expect.isTrue (test'.Pairs |> Array.forall (fun p -> Split.ofPrompt (text p) = Test)) "test split"
            let bos = generate (fun o -> { o with Bos = true })
            Expect.isTrue (Array.forall2 (fun (b: Pair) (p: Pair) -> b.Clean = Array.append [| Tokenizer.EndOfText |] p.Clean) bos.Pairs (generate id).Pairs) "bos"
        }
        test "a generated dataset written as JSONL loads back with its threshold sets, and gets the per-pair prob_diff by default" {
            use dir = new TempDir()
            let d = generate id
            Dataset.write (dir.File "gt.jsonl") d
            match Dataset.load (dir.File "gt.jsonl") Tokenizer.VocabSize 1024 (lazy Tokenizer.Gpt2) with
            | Error e -> failtest e
            | Ok loaded ->
                Expect.equal loaded.Pairs d.Pairs "round trip"
                Expect.equal (Metric.defaultFor loaded) GreaterThan.metric "metric"
        }
        test "a tokenizer whose two-digit years are not one token each is refused naming a year" {
            use dir = new TempDir()
            writeTokenizer dir.Path "llama3" [ "The war lasted from the year 1732 to the year 17" ] 30 |> ignore
            use tokenizer = Tokenizer.Load(dir.File "tokenizer.json")
            let e = Expect.throwsC (fun () -> GreaterThan.generate tokenizer GreaterThan.defaults |> ignore) id
            Expect.stringContains e.Message "two-digit year" "what it needs"
            Expect.stringContains e.Message "\"00\"" "the first year it could not use"
        }
    ]
