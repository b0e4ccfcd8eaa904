module PatchDescent.Tests.Tasks.IoiTests

open System.IO
open Expecto
open PatchDescent.Model
open PatchDescent.Search
open PatchDescent.Search.Tasks
open PatchDescent.Tests.Fixtures
open PatchDescent.Tests.Reference

let private tokenOf (word: string) = Tokenizer.Gpt2.Encode word |> Array.exactlyOne
let private nameIds = Ioi.names |> List.map tokenOf |> Set.ofList

/// Positions of a token in a prompt.
let private positions (prompt: int[]) id = [ for i in 0 .. prompt.Length - 1 do if prompt[i] = id then i ]

let private generate f = Ioi.generate Tokenizer.Gpt2 (f { Ioi.defaults with Size = 60; Seed = 3 })

[<Tests>]
let tests =
    testList "Ioi" [
        test "every name, place and object is one GPT-2 token with a leading space, and the lists hold no duplicates" {
            for list, what in [ Ioi.names, "name"; Ioi.places, "place"; Ioi.objects, "object" ] do
                for word in list do
                    Expect.isTrue (word.StartsWith " " && not (word.StartsWith "  ")) $"{what} '{word}' has one leading space"
                    Expect.equal (Tokenizer.Gpt2.Encode word).Length 1 $"{what} '{word}' is one token"
                Expect.equal (List.distinct list) list $"{what}s are distinct"
            for o in Ioi.objects do Expect.isFalse ("aeiou".Contains(o.Trim()[0])) $"'{o}' follows \"a\""
        }
        test "a pair's answer is the IO, named once in the clean prompt, and its wrong answer the S, named twice, last at S2" {
            for pair in (generate id).Pairs do
                let io, s = pair.Answer, Option.get pair.Wrong
                Expect.isTrue (nameIds.Contains io && nameIds.Contains s && io <> s) "two different names"
                Expect.equal (positions pair.Clean io).Length 1 "IO once"
                Expect.equal (positions pair.Clean s).Length 2 "S twice"
                Expect.equal (pair.Clean |> Array.filter nameIds.Contains).Length 3 "three name tokens"
        }
        test "ABBA names the IO first, BABA the S first, and mixed gives both" {
            let ioFirst (p: Pair) = (positions p.Clean p.Answer).Head < (positions p.Clean (Option.get p.Wrong)).Head
            Expect.isTrue ((generate (fun o -> { o with PromptType = Ioi.Abba })).Pairs |> Array.forall ioFirst) "ABBA"
            Expect.isTrue ((generate (fun o -> { o with PromptType = Ioi.Baba })).Pairs |> Array.forall (ioFirst >> not)) "BABA"
            let mixed = (generate id).Pairs |> Array.map ioFirst |> Array.distinct
            Expect.equal (Array.sort mixed) [| false; true |] "mixed"
        }
        test "ABC corruption replaces IO, S1 and S2 by three names different from each other and from IO and S, and changes nothing else" {
            for p in (generate (fun o -> { o with Corruption = Ioi.Abc })).Pairs do
                let changed = [ for i in 0 .. p.Clean.Length - 1 do if p.Clean[i] <> p.Corrupted[i] then i ]
                let namePositions = positions p.Clean p.Answer @ positions p.Clean (Option.get p.Wrong) |> List.sort
                Expect.equal changed namePositions "only the three names change"
                let fresh = [ for i in namePositions -> p.Corrupted[i] ]
                Expect.equal (List.distinct fresh).Length 3 "three different names"
                Expect.isTrue (fresh |> List.forall (fun t -> nameIds.Contains t && t <> p.Answer && t <> Option.get p.Wrong)) "new names"
        }
        test "S2 corruptions change only S2: to a third name, or to the IO" {
            for corruption, isExpected in [ Ioi.S2Random, (fun (p: Pair) t -> nameIds.Contains t && t <> p.Answer && t <> Option.get p.Wrong)
                                            Ioi.S2Io, (fun p t -> t = p.Answer) ] do
                for p in (generate (fun o -> { o with Corruption = corruption })).Pairs do
                    let changed = [ for i in 0 .. p.Clean.Length - 1 do if p.Clean[i] <> p.Corrupted[i] then i ]
                    Expect.equal changed [ List.last (positions p.Clean (Option.get p.Wrong)) ] $"{corruption}: only S2"
                    Expect.isTrue (isExpected p p.Corrupted[changed.Head]) $"{corruption}: the new S2"
        }
        test "one seed gives one dataset, another seed another; the size is as asked; templates differ in length" {
            Expect.equal (generate id) (generate id) "same seed"
            Expect.notEqual (generate id).Pairs (generate (fun o -> { o with Seed = 4 })).Pairs "other seed"
            Expect.equal (generate id).Pairs.Length 60 "size"
            Expect.isGreaterThan ((generate id).Pairs |> Array.map (fun p -> p.Clean.Length) |> Array.distinct).Length 1 "lengths"
        }
        test "train and test splits share no prompt, and each prompt is in the split its text hashes to" {
            let text (p: Pair) = Tokenizer.Gpt2.Decode p.Clean
            let train = generate (fun o -> { o with Size = 200 })
            let test' = generate (fun o -> { o with Size = 200; Split = Test })
            Expect.isEmpty (Set.intersect (train.Pairs |> Array.map text |> Set.ofArray) (test'.Pairs |> Array.map text |> Set.ofArray)) "disjoint"
            Expect.isTrue (train.Pairs |> Array.forall (fun p -> Split.ofPrompt (text p) = Train)) "train"
            Expect.isTrue (test'.Pairs |> Array.forall (fun p -> Split.ofPrompt (text p) = Test)) "test"
        }
        test "BOS prepends <|endoftext|> to both prompts and changes nothing else" {
            let plain, bos = generate id, generate (fun o -> { o with Bos = true })
            for p, b in Array.zip plain.Pairs bos.Pairs do
                Expect.equal b.Clean (Array.append [| Tokenizer.EndOfText |] p.Clean) "clean"
                Expect.equal b.Corrupted (Array.append [| Tokenizer.EndOfText |] p.Corrupted) "corrupted"
        }
        test "a generated dataset written as JSONL loads back unchanged, BOS recorded" {
            use dir = new TempDir()
            for bos in [ false; true ] do
                let d = generate (fun o -> { o with Bos = bos })
                Dataset.write (dir.File "ioi.jsonl") d
                Expect.equal (Dataset.load (dir.File "ioi.jsonl") Tokenizer.VocabSize 1024 (lazy Tokenizer.Gpt2)) (Ok { d with Source = dir.File "ioi.jsonl" }) "round trip"
                Expect.stringContains (File.ReadAllLines(dir.File "ioi.jsonl")[0]) $"\"bos\": {(string bos).ToLowerInvariant()}" "bos"
        }
        test "a size below 1 is refused" {
            Expect.throws (fun () -> Ioi.generate Tokenizer.Gpt2 { Ioi.defaults with Size = 0 } |> ignore) "size 0"
        }
        test "with a model's own tokenizer, words that are not one of its tokens are dropped and named in the source, and the prompts are its ids" {
            use dir = new TempDir()
            // A vocabulary that learnt every IOI word but two names, which stay several tokens.
            let left = [ " Mary"; " Ryan" ]
            let words = (Ioi.names |> List.except left) @ Ioi.places @ Ioi.objects
            let vocab, merges = writeTokenizer dir.Path "llama3" (List.replicate 2 (System.String.Concat words)) 4000
            use tokenizer = Tokenizer.Load(dir.File "tokenizer.json")
            for w in left do Expect.isGreaterThan (tokenizer.Encode w).Length 1 $"{w} is several tokens"
            let d = Ioi.generate tokenizer { Ioi.defaults with Size = 40; Seed = 3 }
            Expect.stringContains d.Source "dropped as more than one token: \" Mary\", \" Ryan\"" "the dropped names"
            let kept = Ioi.names |> List.except left |> List.map (fun n -> Array.exactlyOne (tokenizer.Encode n)) |> Set.ofList
            for p in d.Pairs do
                Expect.isTrue (kept.Contains p.Answer && kept.Contains (Option.get p.Wrong)) "answers are kept names, as this tokenizer's ids"
                let text = tokenizer.Decode p.Clean
                Expect.sequenceEqual p.Clean (ByteLevelBpe.encode vocab merges ByteLevelBpe.llama3Pattern true text) "the reference BPE's ids of the prompt"
                Expect.equal p.Clean.Length p.Corrupted.Length "aligned"
        }
        test "too few single-token words, and a BOS the tokenizer lacks, are refused saying so" {
            use dir = new TempDir()
            writeTokenizer dir.Path "qwen2" [ "a few words" ] 10 |> ignore
            use tokenizer = Tokenizer.Load(dir.File "tokenizer.json")
            let e = Expect.throwsC (fun () -> Ioi.generate tokenizer Ioi.defaults |> ignore) id
            Expect.stringContains e.Message "at least 5 names" "what it needs"
            Expect.stringContains e.Message "\" Mary\"" "what it dropped"
            let words = Ioi.names @ Ioi.places @ Ioi.objects
            writeTokenizer dir.Path "qwen2" [ System.String.Concat words ] 4000 |> ignore
            use full = Tokenizer.Load(dir.File "tokenizer.json")
            let e = Expect.throwsC (fun () -> Ioi.generate full { Ioi.defaults with Bos = true } |> ignore) id
            Expect.stringContains e.Message "no BOS token" "Qwen2's adds none"
        }
        test "a Llama-family folder without tokenizer.json gets an error naming it, from the task request" {
            use dir = new TempDir()
            File.WriteAllText(dir.File "config.json", """{"model_type": "llama"}""")
            match TaskRequest.resolve dir.Path (IoiPairs Ioi.defaults) with
            | Error message ->
                Expect.stringContains message dir.Path "the folder"
                Expect.stringContains message "no tokenizer.json" "what is missing"
            | Ok _ -> failtest "resolved without a tokenizer"
        }
    ]
