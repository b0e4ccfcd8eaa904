module PatchDescent.Tests.TokenizerTests

open Expecto
open FsCheck
open FsCheck.FSharp
open PatchDescent.Model
open PatchDescent.Tests.Reference
open PatchDescent.Tests.Fixtures

let private gpt2 = Tokenizer.Gpt2

/// Strings of arbitrary Unicode scalar values (no lone surrogates, which no UTF-8 text can hold).
let private unicodeText =
    Gen.choose (0, 0x10FFFF)
    |> Gen.filter (fun c -> c < 0xD800 || c > 0xDFFF)
    |> Gen.map System.Char.ConvertFromUtf32
    |> Gen.listOf
    |> Gen.map (String.concat "")
    |> Arb.fromGen

[<Tests>]
let tests =
    testList "GPT-2 tokenizer" [
        test "\"Hello world\" is [15496, 995]" {
            Expect.sequenceEqual (gpt2.Encode "Hello world") [| 15496; 995 |] "ids"
        }
        test "\" Mary\" is one token, 5335" {
            Expect.sequenceEqual (gpt2.Encode " Mary") [| 5335 |] "ids"
        }
        test "<|endoftext|> decodes from id 50256" {
            Expect.equal (gpt2.Decode [ Tokenizer.EndOfText ]) "<|endoftext|>" "special token"
        }
        testProperty "decode (encode s) = s for arbitrary Unicode text" <|
            Prop.forAll unicodeText (fun s -> gpt2.Decode(gpt2.Encode s) = s)
    ]

let private hfTokenizerTests style =
    let pattern, trained, vocab, merges, unmerged = tokenizerVocabulary style
    let samples = tokenizerSamples
    let withTokenizer f =
        use dir = new PatchDescent.Tests.Fixtures.TempDir()
        System.IO.File.WriteAllText(dir.File "tokenizer.json", tokenizerJson style vocab merges)
        use t = Tokenizer.Load(dir.File "tokenizer.json")
        f t
    testList style [
        test $"ids equal the byte-level BPE reference on {samples.Length} strings" {
            withTokenizer (fun t ->
                for s in samples do
                    let text = if style = "qwen2" then s.Normalize System.Text.NormalizationForm.FormC else s
                    let expected = ByteLevelBpe.encode vocab merges pattern (style = "llama3") text
                    Expect.sequenceEqual (t.Encode s) expected $"ids of %A{s}")
        }
        test "the vocabulary learnt merges, so the comparison is not of bytes alone" {
            Expect.isGreaterThan merges.Length 100 "merges"
            if style = "llama3" then
                Expect.isFalse (trained.ContainsKey unmerged) "the whole piece is no merge's result"
                let merged = ByteLevelBpe.encode vocab merges pattern false " façade"
                Expect.isGreaterThan merged.Length 1 "merges alone do not build the whole piece"
            let ids = ByteLevelBpe.encode vocab merges pattern (style = "llama3") "When Mary and John went to the store"
            Expect.isLessThan ids.Length 20 "merged pieces"
        }
        test "decode (encode s) gives the text back (NFC for qwen2)" {
            withTokenizer (fun t ->
                for s in samples do
                    let text = if style = "qwen2" then s.Normalize System.Text.NormalizationForm.FormC else s
                    Expect.equal (t.Decode(t.Encode s)) text $"round trip of %A{s}")
        }
        test "BOS is what the post-processor would put first, and Encode leaves it out" {
            withTokenizer (fun t ->
                if style = "llama3" then Expect.equal t.Bos (Some vocab.Count |> Option.toNullable) "Llama 3's <|begin_of_text|>"
                else Expect.isFalse t.Bos.HasValue "Qwen2 adds none"
                Expect.isFalse (t.Encode "Hello" |> Array.contains vocab.Count) "no special token in the text's ids")
        }
    ]

[<Tests>]
let tokenizerJsonTests =
    testList "tokenizer.json" [
        hfTokenizerTests "llama3"
        hfTokenizerTests "qwen2"
        test "a folder without tokenizer.json has GPT-2's tokenizer when it is GPT-2, and is refused by name otherwise" {
            use dir = new PatchDescent.Tests.Fixtures.TempDir()
            System.IO.File.WriteAllText(dir.File "config.json", """{"model_type": "qwen2"}""")
            let e = Expect.throwsC (fun () -> Tokenizer.ForModel dir.Path |> ignore) id
            Expect.stringContains e.Message dir.Path "the folder"
            Expect.stringContains e.Message "no tokenizer.json" "what is missing"
            System.IO.File.WriteAllText(dir.File "config.json", """{"model_type": "gpt2"}""")
            Expect.isTrue (obj.ReferenceEquals(Tokenizer.ForModel dir.Path, Tokenizer.Gpt2)) "GPT-2's"
        }
        test "a post-processor that is a Sequence holding the BOS template, as Llama 3's tokenizer.json has, gives that BOS" {
            use dir = new PatchDescent.Tests.Fixtures.TempDir()
            let vocab, merges = ByteLevelBpe.train ByteLevelBpe.llama3Pattern [ "a small corpus" ] 5
            let text = tokenizerJson "llama3" vocab merges
            let json = System.Text.Json.Nodes.JsonNode.Parse(text).AsObject()
            let template = (nonNull json["post_processor"]).ToJsonString()
            let sequence = $"""{{"type": "Sequence", "processors": [{{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true}}, {template}]}}"""
            json["post_processor"] <- System.Text.Json.Nodes.JsonNode.Parse sequence
            System.IO.File.WriteAllText(dir.File "tokenizer.json", json.ToJsonString())
            use t = Tokenizer.Load(dir.File "tokenizer.json")
            Expect.equal t.Bos (System.Nullable vocab.Count) "the template's BOS"
            Expect.sequenceEqual (t.Encode "a small") (ByteLevelBpe.encode vocab merges ByteLevelBpe.llama3Pattern true "a small") "no BOS in the ids"
        }
        test "a tokenizer.json that is not JSON, or not BPE, is refused naming the file" {
            use dir = new PatchDescent.Tests.Fixtures.TempDir()
            System.IO.File.WriteAllText(dir.File "tokenizer.json", "{not json")
            let e = Expect.throwsC (fun () -> Tokenizer.Load(dir.File "tokenizer.json") |> ignore) id
            Expect.stringContains e.Message "tokenizer.json: is not valid JSON" "not JSON"
            System.IO.File.WriteAllText(dir.File "tokenizer.json", """{"model": {"type": "WordPiece"}}""")
            let e = Expect.throwsC (fun () -> Tokenizer.Load(dir.File "tokenizer.json") |> ignore) id
            Expect.stringContains e.Message "model.type" "the field"
            Expect.stringContains e.Message "WordPiece" "the type"
        }
    ]
