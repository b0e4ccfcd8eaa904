// How the tokenizer library was chosen (issue 22): Microsoft.ML.Tokenizers' BpeTokenizer (byte-level, with the
// model's pre-tokenizer regex) against the byte-level BPE reference of tests/Reference/ByteLevelBpe.fs, on the
// vocabularies and strings tests/TokenizerTests.fs uses. Tokenizers.DotNet, which runs Hugging Face's own code, is
// checked by that file's "ids equal the byte-level BPE reference" test. Run after `dotnet fsi build.fsx build`:
//   dotnet fsi scripts/tokenizer-choice.fsx
#r "../tests/bin/Release/net10.0/Microsoft.ML.Tokenizers.dll"
#r "../tests/bin/Release/net10.0/TorchSharp.dll"
#r "../tests/bin/Release/net10.0/PatchDescent.Model.dll"
#r "../tests/bin/Release/net10.0/PatchDescent.Tests.dll"
open PatchDescent.Tests.Fixtures
open PatchDescent.Tests.Reference
open Microsoft.ML.Tokenizers

for style in [ "llama3"; "qwen2" ] do
    let pattern, _, vocab, merges, _ = tokenizerVocabulary style
    let options = BpeOptions(vocab |> Seq.map (fun kv -> System.Collections.Generic.KeyValuePair(kv.Key, kv.Value)))
    options.Merges <- [ for a, b in merges -> a + " " + b ]
    options.ByteLevel <- true
    options.PreTokenizer <- RegexPreTokenizer(System.Text.RegularExpressions.Regex pattern, null)
    let ml = BpeTokenizer.Create options
    // Qwen2's NFC is applied to the text first: BpeTokenizer is given no normalizer here.
    let text (s: string) = if style = "qwen2" then s.Normalize System.Text.NormalizationForm.FormC else s
    let differs =
        [ for s in tokenizerSamples do
            if Array.ofSeq (ml.EncodeToIds(text s)) <> ByteLevelBpe.encode vocab merges pattern (style = "llama3") (text s) then s ]
    printfn "%s: Microsoft.ML.Tokenizers agrees with the reference on %d of %d strings; differs on %A"
        style (tokenizerSamples.Length - differs.Length) tokenizerSamples.Length differs
