module PatchDescent.Tests.DatasetTests

open System.IO
open Expecto
open FsCheck
open FsCheck.FSharp
open PatchDescent.Model
open PatchDescent.Search
open PatchDescent.Tests.Fixtures
open PatchDescent.Tests.Reference

let private vocab = Tokenizer.VocabSize

/// Loads a file of the given lines from a fresh folder.
let private loadLines (lines: string list) =
    use dir = new TempDir()
    let path = dir.File "pairs.jsonl"
    File.WriteAllLines(path, lines)
    Dataset.load path vocab 1024 (lazy Tokenizer.Gpt2), path

let private errorOf lines =
    match loadLines lines with
    | Ok d, _ -> failtest $"loaded {d.Pairs.Length} pairs, expected an error"
    | Error message, path -> message, path

/// Asserts the message names the file and line and contains every fragment.
let private expectError lines (line: int) (fragments: string list) =
    let message, path = errorOf lines
    Expect.stringStarts message $"{path}:{line}: " "names the file and the line"
    for f in fragments do Expect.stringContains message f "says what is wrong"

let private ids = """{"clean_ids": [1, 2, 3], "corrupted_ids": [4, 5, 6], "answer_id": 7, "wrong_id": 8}"""

/// Pairs of token ids with random lengths; every pair has a wrong answer or none does, and a threshold set or none.
let private pairs =
    gen {
        let token = Gen.choose (0, vocab - 1)
        let! withWrong = Gen.elements [ true; false ]
        let! withThreshold = Gen.elements [ true; false ]
        let pair =
            gen {
                let! length = Gen.choose (1, 4)
                let! clean = Gen.arrayOfLength length token
                let! corrupted = Gen.arrayOfLength length token
                let! answer = token
                let! wrong = token
                let! above = Gen.listOf token
                let! atOrBelow = Gen.listOf token
                return
                    { Clean = clean; Corrupted = corrupted; Answer = answer
                      Wrong = (if withWrong then Some wrong else None)
                      Threshold = if withThreshold then Some { Above = above; AtOrBelow = atOrBelow } else None }
            }
        let! count = Gen.choose (1, 12)
        return! Gen.arrayOfLength count pair
    }
    |> Arb.fromGen

[<Tests>]
let tests =
    testList "Dataset" [
        test "text lines tokenize with GPT-2: \" Mary\" is 5335 and \" John\" is 1757" {
            let clean, corrupted = "When Mary and John went to the store, John gave a drink to", "When Mary and John went to the store, Mary gave a drink to"
            match loadLines [ $$"""{"clean": "{{clean}}", "corrupted": "{{corrupted}}", "answer": " Mary", "wrong": " John"}""" ] with
            | Error e, _ -> failtest e
            | Ok d, _ ->
                let p = Expect.wantSome (Array.tryExactlyOne d.Pairs) "one pair"
                Expect.sequenceEqual p.Clean (Tokenizer.Gpt2.Encode clean) "clean ids"
                Expect.sequenceEqual p.Corrupted (Tokenizer.Gpt2.Encode corrupted) "corrupted ids"
                Expect.equal (p.Answer, p.Wrong) (5335, Some 1757) "answer and wrong ids"
        }
        test "id lines load as given, blank lines are skipped, and wrong is optional" {
            match loadLines [ ""; """{"clean_ids": [1, 2], "corrupted_ids": [3, 4], "answer_id": 5}"""; "   " ] with
            | Error e, _ -> failtest e
            | Ok d, _ -> Expect.equal d.Pairs [| { Clean = [| 1; 2 |]; Corrupted = [| 3; 4 |]; Answer = 5; Wrong = None; Threshold = None } |] "pairs"
        }
        test "a missing file is named" {
            use dir = new TempDir()
            let path = dir.File "absent.jsonl"
            match Dataset.load path vocab 1024 (lazy Tokenizer.Gpt2) with
            | Ok _ -> failtest "loaded a missing file"
            | Error e -> Expect.equal e $"{path}: no such file" "message"
        }
        test "an empty file says it has no pairs" {
            let message, path = errorOf [ ""; "  " ]
            Expect.stringStarts message $"{path}: no pairs" "message"
        }
        test "a line that is not JSON is named by its 1-based line, counting blank lines" {
            expectError [ ids; ""; "{clean: nope" ] 3 [ "is not JSON" ]
        }
        test "a prompt longer than the model's positions names the file, the line, the field and the limit" {
            use dir = new TempDir()
            let path = dir.File "pairs.jsonl"
            File.WriteAllLines(path, [ ids; """{"clean_ids": [1, 2, 3, 4, 5], "corrupted_ids": [1, 2, 3, 4, 6], "answer_id": 7}""" ])
            match Dataset.load path vocab 4 (lazy Tokenizer.Gpt2) with
            | Ok _ -> failtest "loaded a prompt past the positions"
            | Error e ->
                Expect.stringStarts e $"{path}:2: " "names the file and the line"
                Expect.stringContains e "\"clean_ids\" is 5 tokens, more than the model's 4 positions" "the field and the limit"
        }
        test "an id too large for an integer is outside the vocabulary, not a non-integer" {
            expectError [ """{"clean_ids": [1, 99999999999], "corrupted_ids": [3, 4], "answer_id": 5}""" ] 1
                [ "\"clean_ids\"[1] is id 99999999999, outside the vocabulary [0, 50257)" ]
        }
        test "a key given twice in a line is refused, naming it" {
            expectError [ ids; """{"clean_ids": [1], "corrupted_ids": [3], "answer_id": 5, "answer_id": 6}""" ] 2
                [ "the key \"answer_id\" appears twice" ]
        }
        test "a null prompt says it must be an array" {
            expectError [ """{"clean_ids": null, "corrupted_ids": [3], "answer_id": 5}""" ] 1 [ "\"clean_ids\" must be an array"; "found null" ]
        }
        test "a line with text beside its ids is its ids, once each text field tokenizes to its id field" {
            // " Mary" is GPT-2 token 5335 and " John" 1757.
            let line = """{"clean": " Mary", "corrupted": " John", "answer": " John", "wrong": " Mary", "clean_ids": [5335], "corrupted_ids": [1757], "answer_id": 1757, "wrong_id": 5335}"""
            match loadLines [ line ] with
            | Ok d, _ -> Expect.equal d.Pairs [| { Clean = [| 5335 |]; Corrupted = [| 1757 |]; Answer = 1757; Wrong = Some 5335; Threshold = None } |] "the ids"
            | Error e, _ -> failtest e
            match loadLines [ """{"clean": " Mary", "clean_ids": [50256, 5335], "corrupted_ids": [50256, 1757], "answer_id": 3, "bos": true}""" ] with
            | Ok d, _ -> Expect.equal d.Pairs[0].Clean [| 50256; 5335 |] "the text gets its BOS before it is compared"
            | Error e, _ -> failtest e
            expectError [ line.Replace("\"clean\": \" Mary\"", "\"clean\": \" John\"") ] 1
                [ "\"clean\" \" John\" is the tokens [1757], but \"clean_ids\" is [5335]"; "disagree" ]
            expectError [ line.Replace("\"answer\": \" John\"", "\"answer\": \" Mary\"") ] 1 [ "\"answer\""; "\"answer_id\" is [1757]"; "disagree" ]
            expectError [ line.Replace(", \"wrong_id\": 5335", "") ] 1 [ "has \"wrong\" but no \"wrong_id\"" ]
            expectError [ """{"clean": " Mary", "clean_ids": [5335], "answer_id": 3}""" ] 1 [ "lacks the field \"corrupted_ids\"" ]
        }
        test "a misspelt field is refused, naming it and the fields a line has, rather than changing the metric" {
            expectError [ """{"clean_ids": [1], "corrupted_ids": [3], "answer_id": 5, "wrong_ids": 6}""" ] 1
                [ "\"wrong_ids\""; "clean_ids, corrupted_ids, answer_id, wrong_id" ]
        }
        test "truncated JSON names the file's 1-based line and the column, not System.Text.Json's 0-based line" {
            let message, _ = errorOf [ ids; ids; """{"clean_ids": [1, 2""" ]
            Expect.stringContains message ":3: is not JSON at line 3, column" "1-based line"
            Expect.isFalse (message.Contains "LineNumber") "no 0-based LineNumber"
        }
        test "a folder given for the data file says so" {
            use dir = new TempDir()
            match Dataset.load dir.Path vocab 1024 (lazy Tokenizer.Gpt2) with
            | Ok _ -> failtest "loaded a folder"
            | Error e -> Expect.equal e $"{dir.Path}: is a folder; give a JSONL file of pairs" "message"
        }
        test "a line that is JSON but not an object says so" {
            expectError [ "[1, 2]" ] 1 [ "not a JSON object" ]
        }
        test "a line lacking the prompt names both forms" {
            expectError [ ids; """{"answer": " Mary"}""" ] 2 [ "\"clean\" or \"clean_ids\"" ]
        }
        test "a text line lacking its answer names the field" {
            expectError [ """{"clean": "a b", "corrupted": "c d"}""" ] 1 [ "lacks the field \"answer\"" ]
        }
        test "an id line lacking corrupted ids names the field" {
            expectError [ """{"clean_ids": [1], "answer_id": 2}""" ] 1 [ "lacks the field \"corrupted_ids\"" ]
        }
        test "a token id that is not an integer is named with its index" {
            expectError [ """{"clean_ids": [1, "x"], "corrupted_ids": [3, 4], "answer_id": 5}""" ] 1 [ "\"clean_ids\"[1] is \"x\""; "not an integer" ]
        }
        test "clean and corrupted token counts that differ are both said" {
            expectError [ ids; """{"clean_ids": [1, 2, 3, 4], "corrupted_ids": [4, 5, 6], "answer_id": 7}""" ] 2
                [ "\"clean_ids\" has 4 tokens and \"corrupted_ids\" has 3" ]
        }
        test "text prompts of different token counts are both said" {
            expectError [ """{"clean": " Mary went", "corrupted": " Mary went home", "answer": " Mary"}""" ] 1
                [ "\"clean\" has 2 tokens and \"corrupted\" has 3" ]
        }
        test "an answer of two tokens says how many and which" {
            let ann = Tokenizer.Gpt2.Encode " Mary Ann"
            Expect.equal ann.Length 2 "the tokenizer splits \" Mary Ann\" in two"
            expectError [ """{"clean": "a b", "corrupted": "c d", "answer": " Mary Ann"}""" ] 1
                [ $"\"answer\" \" Mary Ann\" is 2 tokens [{ann[0]}, {ann[1]}], not one" ]
        }
        test "an answer's text is quoted as written, apostrophes and accents unescaped" {
            expectError [ """{"clean": "a b", "corrupted": "c d", "answer": " Zoë's"}""" ] 1 [ "\"answer\" \" Zoë's\" is" ]
        }
        test "a wrong answer of no tokens says so" {
            expectError [ """{"clean": "a b", "corrupted": "c d", "answer": " Mary", "wrong": ""}""" ] 1
                [ "\"wrong\" \"\" is 0 tokens [], not one" ]
        }
        test "a prompt token outside the vocabulary is named with the vocabulary's bounds" {
            expectError [ """{"clean_ids": [1, 60000], "corrupted_ids": [3, 4], "answer_id": 5}""" ] 1
                [ "\"clean_ids\" token 1 is id 60000, outside the vocabulary [0, 50257)" ]
        }
        test "a negative answer id is outside the vocabulary" {
            expectError [ """{"clean_ids": [1], "corrupted_ids": [3], "answer_id": -1}""" ] 1
                [ "\"answer_id\" is id -1, outside the vocabulary [0, 50257)" ]
        }
        test "a wrong id outside the vocabulary is named" {
            expectError [ """{"clean_ids": [1], "corrupted_ids": [3], "answer_id": 1, "wrong_id": 50257}""" ] 1
                [ "\"wrong_id\" is id 50257, outside the vocabulary" ]
        }
        test "text tokens are checked against a small model's vocabulary" {
            use dir = new TempDir()
            let path = dir.File "pairs.jsonl"
            File.WriteAllLines(path, [ """{"clean": " Mary", "corrupted": " John", "answer": " Mary"}""" ])
            match Dataset.load path 13 1024 (lazy Tokenizer.Gpt2) with
            | Ok _ -> failtest "loaded ids outside a 13-token vocabulary"
            | Error e -> Expect.stringContains e $"{path}:1: \"clean\" token 0 is id 5335, outside the vocabulary [0, 13)" "message"
        }
        test "an empty prompt says it needs a token" {
            expectError [ """{"clean": "", "corrupted": "", "answer": " Mary"}""" ] 1 [ "\"clean\" is empty" ]
        }
        test "a dataset mixing pairs with and without a wrong answer names both lines" {
            expectError [ ids; """{"clean_ids": [1], "corrupted_ids": [3], "answer_id": 1}""" ] 2 [ "no wrong answer, but line 1 has one" ]
        }

        test "a text line's threshold sets tokenize each year alone, and the id form loads as given" {
            let year (y: string) = Tokenizer.Gpt2.Encode y |> Array.exactlyOne
            match loadLines [ """{"clean": "a b", "corrupted": "c d", "answer": "33", "above": ["33", "34"], "at_or_below": ["32"]}"""
                              """{"clean_ids": [1], "corrupted_ids": [2], "answer_id": 3, "above_ids": [5, 6], "at_or_below_ids": []}""" ] with
            | Error e, _ -> failtest e
            | Ok d, _ ->
                Expect.equal (d.Pairs |> Array.map (fun p -> p.Threshold))
                    [| Some { Above = [ year "33"; year "34" ]; AtOrBelow = [ year "32" ] }; Some { Above = [ 5; 6 ]; AtOrBelow = [] } |] "sets"
        }
        test "a line with only one side of a threshold names both fields" {
            expectError [ """{"clean_ids": [1], "corrupted_ids": [2], "answer_id": 3, "above_ids": [5]}""" ] 1
                [ "only one of \"above_ids\" and \"at_or_below_ids\"" ]
        }
        test "a threshold token outside the vocabulary is named with its index" {
            expectError [ """{"clean_ids": [1], "corrupted_ids": [2], "answer_id": 3, "above_ids": [5], "at_or_below_ids": [4, 60000]}""" ] 1
                [ "\"at_or_below_ids[1]\" is id 60000, outside the vocabulary" ]
        }
        test "a dataset mixing pairs with and without threshold sets names both lines" {
            expectError [ """{"clean_ids": [1], "corrupted_ids": [2], "answer_id": 3, "above_ids": [5], "at_or_below_ids": [4]}"""
                          """{"clean_ids": [1], "corrupted_ids": [2], "answer_id": 3}""" ] 2 [ "no threshold set"; "line 1 has one" ]
        }
        test "\"bos\": true prepends <|endoftext|> to a text line's prompts and is checked on an id line" {
            match loadLines [ """{"clean": " Mary", "corrupted": " John", "answer": " Mary", "bos": true}""" ] with
            | Error e, _ -> failtest e
            | Ok d, _ -> Expect.equal (d.Pairs[0].Clean, d.Pairs[0].Corrupted) ([| 50256; 5335 |], [| 50256; 1757 |]) "prompts"
            expectError [ """{"clean_ids": [1, 2], "corrupted_ids": [50256, 2], "answer_id": 3, "bos": true}""" ] 1
                [ "says \"bos\": true, but its prompts start with ids 1 and 50256" ]
            expectError [ """{"clean_ids": [1], "corrupted_ids": [2], "answer_id": 3, "bos": 1}""" ] 1 [ "\"bos\" must be true or false" ]
        }
        test "write records \"bos\" as the prompts begin" {
            use dir = new TempDir()
            let path = dir.File "out.jsonl"
            let pair first = { Clean = [| first; 7 |]; Corrupted = [| first; 8 |]; Answer = 1; Wrong = None; Threshold = None }
            Dataset.write path { Source = "x"; Pairs = [| pair 50256; pair 3 |] }
            let lines = File.ReadAllLines path
            Expect.stringContains lines[0] "\"bos\": true" "with BOS"
            Expect.stringContains lines[1] "\"bos\": false" "without"
        }
        test "writeWithText writes each generated pair's text beside its ids, and load reads the same pairs back" {
            use dir = new TempDir()
            for name, dataset in [ "ioi", Tasks.Ioi.generate Tokenizer.Gpt2 { Tasks.Ioi.defaults with Size = 12; Seed = 5 }
                                   "ioi-bos", Tasks.Ioi.generate Tokenizer.Gpt2 { Tasks.Ioi.defaults with Size = 12; Seed = 5; Bos = true }
                                   "greater-than", Tasks.GreaterThan.generate Tokenizer.Gpt2 { Tasks.GreaterThan.defaults with Size = 12; Seed = 5 } ] do
                let path = dir.File $"{name}.jsonl"
                Dataset.writeWithText Tokenizer.Gpt2 path dataset
                Expect.equal (Dataset.load path vocab 1024 (lazy Tokenizer.Gpt2) |> Result.map (fun d -> d.Pairs)) (Ok dataset.Pairs) $"{name}: the same pairs"
                for line, pair in Seq.zip (File.ReadAllLines path) dataset.Pairs do
                    use doc = System.Text.Json.JsonDocument.Parse line
                    let text (field: string) = doc.RootElement.GetProperty(field).GetString()
                    Expect.equal (text "answer") (Tokenizer.Gpt2.Decode [| pair.Answer |]) $"{name}: the answer's text"
                    Expect.isFalse (line.Contains "\\u") $"{name}: no escaped characters in {line}"
                    let bos = if name = "ioi-bos" then [| Tokenizer.EndOfText |] else [||]
                    Expect.equal (Array.append bos (Tokenizer.Gpt2.Encode(text "clean"))) pair.Clean $"{name}: the clean text is the clean ids, after the BOS"
            let ioi = File.ReadAllLines(dir.File "ioi.jsonl")[0]
            Expect.stringContains ioi "\"wrong\": \" " "IOI's wrong name as text"
        }
        test "writeWithText refuses ids whose text reads back as other ids, and writes nothing" {
            use dir = new TempDir()
            let split = Array.append (Tokenizer.Gpt2.Encode " M") (Tokenizer.Gpt2.Encode "ary")
            Expect.equal (Tokenizer.Gpt2.Encode " Mary") [| 5335 |] "one token read together"
            let pair = { Clean = split; Corrupted = split; Answer = 5335; Wrong = None; Threshold = None }
            let path = dir.File "x.jsonl"
            Expect.throwsC (fun () -> Dataset.writeWithText Tokenizer.Gpt2 path { Source = "x"; Pairs = [| pair; pair |] }) (fun e ->
                Expect.stringContains e.Message "pair 1: the clean ids" "names the pair and the field"
                Expect.stringContains e.Message "[5335]" "and what the text reads as")
            Expect.isFalse (File.Exists path) "no file"
        }
        testProperty "write then load gives the same pairs back, and leaves no temporary file" <|
            Prop.forAll pairs (fun ps ->
                use dir = new TempDir()
                let path = dir.File "out.jsonl"
                Dataset.write path { Source = "generated"; Pairs = ps }
                let files = Directory.GetFiles dir.Path |> Array.map Path.GetFileName
                Dataset.load path vocab 1024 (lazy Tokenizer.Gpt2) = Ok { Source = path; Pairs = ps } && files = [| "out.jsonl" |])

        testProperty "batches hold each pair once, sorted by length (dataset order within one), right-padded with 0 to the batch's longest" <|
            Prop.forAll (Arb.fromGen (Gen.zip pairs.Generator (Gen.choose (1, 5)))) (fun (ps, size) ->
                let batches = Dataset.batches size { Source = "generated"; Pairs = ps }
                let expected =
                    ps |> List.ofArray |> List.sortBy (fun p -> p.Clean.Length) // stable, unlike Array.sortBy: dataset order within a length
                    |> Array.ofList |> Array.map (fun p -> p.Clean, p.Corrupted, p.Answer, p.Wrong, p.Threshold)
                let unpad (b: PairBatch) i (row: int64[]) =
                    let real, padding = Array.splitAt b.Lengths[i] row
                    if padding |> Array.exists ((<>) 0L) then failwith "padding is not 0"
                    Array.map int real
                let actual =
                    [| for b in batches do
                           for i in 0 .. b.Answers.Length - 1 ->
                               unpad b i b.Clean[i], unpad b i b.Corrupted[i], int b.Answers[i],
                               b.Wrongs |> Option.map (fun w -> int w[i]), b.Thresholds |> Option.map (fun t -> t[i]) |]
                let shaped =
                    batches |> List.forall (fun b ->
                        b.Answers.Length >= 1 && b.Answers.Length <= size
                        && b.Length = Array.max b.Lengths
                        && Array.forall (fun (c: int64[]) -> c.Length = b.Length) (Array.append b.Clean b.Corrupted)
                        && b.Clean.Length = b.Answers.Length && b.Corrupted.Length = b.Answers.Length && b.Lengths.Length = b.Answers.Length)
                (actual = expected && shaped)
                |> Prop.label $"{batches.Length} batches of at most {size}")

        testProperty "only the last batch is smaller than the batch size" <|
            Prop.forAll (Arb.fromGen (Gen.zip pairs.Generator (Gen.choose (1, 5)))) (fun (ps, size) ->
                let batches = Dataset.batches size { Source = "generated"; Pairs = ps }
                batches |> List.take (batches.Length - 1) |> List.forall (fun b -> b.Answers.Length = size))

        test "the mask is 1 on each pair's real tokens and 0 on its padding" {
            let pair n = { Clean = Array.create n 7; Corrupted = Array.create n 8; Answer = 1; Wrong = None; Threshold = None }
            match Dataset.batches 4 { Source = "x"; Pairs = [| pair 3; pair 1; pair 2 |] } with
            | [ b ] -> Expect.equal (Dataset.mask b) [| [| 1L; 0L; 0L |]; [| 1L; 1L; 0L |]; [| 1L; 1L; 1L |] |] "mask"
            | bs -> failtest $"{bs.Length} batches"
        }
        test "a batch size below 1 is refused" {
            Expect.throws (fun () -> Dataset.batches 0 { Source = "x"; Pairs = [||] } |> ignore) "batch size 0"
        }
        test "token-id lines need no tokenizer: loading them never asks for one" {
            use dir = new TempDir()
            let path = dir.File "ids.jsonl"
            File.WriteAllText(path, "{\"clean_ids\": [1, 2], \"corrupted_ids\": [1, 3], \"answer_id\": 4}\n")
            let none = lazy (failwith "asked for a tokenizer")
            Expect.equal (Dataset.load path 13 1024 none |> Result.map (fun d -> d.Pairs.Length)) (Ok 1) "loaded"
        }
        test "text lines are tokenized with the model's tokenizer, not GPT-2's" {
            use dir = new TempDir()
            let vocab, merges = writeTokenizer dir.Path "llama3" [ "When Mary and John went to the store" ] 40
            use tokenizer = Tokenizer.Load(dir.File "tokenizer.json")
            let path = dir.File "text.jsonl"
            File.WriteAllText(path, "{\"clean\": \"When Mary went\", \"corrupted\": \"When John went\", \"answer\": \" and\"}\n")
            match Dataset.load path 1000 1024 (lazy tokenizer) with
            | Ok d ->
                let expected = ByteLevelBpe.encode vocab merges ByteLevelBpe.llama3Pattern true "When Mary went"
                Expect.sequenceEqual d.Pairs[0].Clean expected "the reference BPE's ids"
                Expect.notEqual d.Pairs[0].Clean (Tokenizer.Gpt2.Encode "When Mary went") "not GPT-2's"
            | Error e -> failtest e
        }
    ]
