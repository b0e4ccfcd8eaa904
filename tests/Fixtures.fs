/// Shared test fixtures: temporary folders, tiny random configs, and random checkpoints in the Hugging Face layout.
module PatchDescent.Tests.Fixtures

open System
open System.IO
open FsCheck
open FsCheck.FSharp
open TorchSharp
open PatchDescent.Model
open PatchDescent.Tests.Reference

/// A fresh folder under the system temp directory, deleted on dispose.
type TempDir() =
    let path = Path.Combine(Path.GetTempPath(), "patchdescent-tests-" + Guid.NewGuid().ToString("N"))
    do Directory.CreateDirectory path |> ignore
    member _.Path = path
    member _.File(name: string) = Path.Combine(path, name)
    interface IDisposable with
        member _.Dispose() = if Directory.Exists path then Directory.Delete(path, true)

/// Tiny GPT-2 shapes: 1-2 layers, 1-4 heads, d_head 2-8 (d_model at least 4), with and without MLPs.
let tinyConfig : Gen<Gpt2Config> =
    gen {
        let! layers = Gen.choose (1, 2)
        let! heads = Gen.choose (1, 4)
        // d_model 2 is left out: LayerNorm over two numbers cancels catastrophically in x - mean, so float32 and a
        // float64 reference can differ by more than 1e-4 there whatever the code does.
        let! dHead = Gen.choose ((if heads = 1 then 4 else 2), 8)
        let! vocab = Gen.choose (5, 40)
        let! positions = Gen.choose (4, 12)
        let! attnOnly = Gen.elements [ true; false ]
        return Gpt2Config(layers, heads, heads * dHead, positions, vocab, 1e-5, attnOnly)
    }

/// Token ids [batch][pos] valid for a config.
let tokensFor (c: Gpt2Config) : Gen<int[][]> =
    gen {
        let! batch = Gen.choose (1, 3)
        let! pos = Gen.choose (1, c.Positions)
        return! Gen.arrayOfLength batch (Gen.arrayOfLength pos (Gen.choose (0, c.VocabSize - 1)))
    }

/// A config together with tokens for it.
let configAndTokens = gen {
    let! c = tinyConfig
    let! t = tokensFor c
    return c, t }

/// Random Hugging Face tensors (unprefixed names) for a config: weights N(0, 0.3), norms near 1, biases N(0, 0.1).
let randomHfWeights (c: Gpt2Config) (seed: int) : (string * float32[] * int64[]) list =
    let rng = Random seed
    let normal mean sd =
        let u1, u2 = 1.0 - rng.NextDouble(), rng.NextDouble()
        mean + sd * sqrt (-2.0 * log u1) * cos (2.0 * Math.PI * u2) |> float32
    [ for KeyValue(name, shape) in Checkpoint.ExpectedShapes c |> Seq.sortBy (fun kv -> kv.Key) ->
        let n = shape |> Array.fold (*) 1L |> int
        let mean, sd =
            if name.Contains "ln_" && name.EndsWith ".weight" then 1.0, 0.1
            elif name.EndsWith ".bias" then 0.0, 0.1
            else 0.0, 0.3
        name, Array.init n (fun _ -> normal mean sd), shape ]

/// A CPU float32 tensor of the given shape from a flat array.
let tensorOf (values: float32[]) (shape: int64[]) =
    use scope = torch.NewDisposeScope()
    torch.tensor(values).reshape(shape).MoveToOuterDisposeScope()

/// Writes config.json and model.safetensors for the given weights, with keys optionally prefixed by "transformer.".
let writeCheckpoint (dir: string) (c: Gpt2Config) (weights: (string * float32[] * int64[]) list) (prefixed: bool) =
    Directory.CreateDirectory dir |> ignore
    File.WriteAllText(Path.Combine(dir, "config.json"), c.ToJson())
    let tensors = [ for name, values, shape in weights -> struct ((if prefixed then "transformer." + name else name), tensorOf values shape) ]
    SafetensorsFile.Write(Path.Combine(dir, "model.safetensors"), ResizeArray tensors)
    for struct (_, t) in tensors do t.Dispose()

/// Tokens [batch][pos] as an int64 tensor.
let tokenTensor (tokens: int[][]) =
    use scope = torch.NewDisposeScope()
    torch.tensor(tokens |> Array.concat |> Array.map int64).reshape(int64 tokens.Length, int64 tokens[0].Length).MoveToOuterDisposeScope()

/// A float32 tensor's values as a flat array.
let values (t: torch.Tensor) =
    use scope = torch.NewDisposeScope()
    t.detach().cpu().``to``(torch.ScalarType.Float32).contiguous().data<float32>().ToArray()

/// Largest absolute difference between two tensors.
let maxAbsDiff (a: torch.Tensor) (b: torch.Tensor) =
    use scope = torch.NewDisposeScope()
    (a - b).abs().max().``to``(torch.ScalarType.Float64).item<float>()

/// Tiny Llama-family shapes: llama or qwen2, 1-2 layers, 1-4 query heads grouped over a divisor of them, an even
/// d_head that need not divide d_model, d_mlp unlike d_model, tied or not, Llama 3 rope scaling or not.
let tinyLlamaConfig : Gen<LlamaConfig> =
    gen {
        let! modelType = Gen.elements [ "llama"; "qwen2" ]
        let! layers = Gen.choose (1, 2)
        let! heads = Gen.choose (1, 4)
        let! kvHeads = Gen.elements [ for k in 1 .. heads do if heads % k = 0 then k ]
        let! dHead = Gen.elements [ 2; 4; 6 ]
        let! dModel = Gen.choose (4, 12)
        let! dMlp = Gen.choose (3, 16)
        let! vocab = Gen.choose (5, 40)
        let! positions = Gen.choose (4, 12)
        let! theta = Gen.elements [ 10000.0; 500000.0 ]
        let! scaled = Gen.elements [ true; false ]
        let! bias = Gen.elements [ true; false ]
        let! tied = Gen.elements [ true; false ]
        // A short original context makes every band of the Llama 3 rule (kept, blended, slowed) appear at d_head 6.
        let scaling = if scaled then Llama3RopeScaling(8.0, 1.0, 4.0, 16) else null
        return LlamaConfig(modelType, layers, heads, kvHeads, dModel, dHead, dMlp, vocab, positions, 1e-5, theta, scaling,
                           (modelType = "qwen2" || bias), (modelType = "llama" && bias), tied)
    }

/// The tensors of a Llama or Qwen2 checkpoint with their shapes, written from transformers' modeling code
/// (nn.Linear(in, out) stores [out, in]; Qwen2's q, k, v have biases; Llama's attention_bias adds o_proj's too).
let llamaHfShapes (c: LlamaConfig) : (string * int64[]) list =
    let d, q, kv, m = int64 c.DModel, int64 (c.Heads * c.DHead), int64 (c.KvHeads * c.DHead), int64 c.DMlp
    [ "model.embed_tokens.weight", [| int64 c.VocabSize; d |]
      for l in 0 .. c.Layers - 1 do
          let p = $"model.layers.{l}."
          p + "input_layernorm.weight", [| d |]
          p + "self_attn.q_proj.weight", [| q; d |]
          p + "self_attn.k_proj.weight", [| kv; d |]
          p + "self_attn.v_proj.weight", [| kv; d |]
          if c.ModelType = "qwen2" || c.QkvBias then
              p + "self_attn.q_proj.bias", [| q |]
              p + "self_attn.k_proj.bias", [| kv |]
              p + "self_attn.v_proj.bias", [| kv |]
          p + "self_attn.o_proj.weight", [| d; q |]
          if c.OutputBias then p + "self_attn.o_proj.bias", [| d |]
          p + "post_attention_layernorm.weight", [| d |]
          p + "mlp.gate_proj.weight", [| m; d |]
          p + "mlp.up_proj.weight", [| m; d |]
          p + "mlp.down_proj.weight", [| d; m |]
      "model.norm.weight", [| d |]
      if not c.TiedEmbeddings then "lm_head.weight", [| int64 c.VocabSize; d |] ]

/// Random tensors for a Llama-family config: weights N(0, 0.3), norm scales N(1, 0.1), biases N(0, 0.1).
let randomLlamaWeights (c: LlamaConfig) (seed: int) : (string * float32[] * int64[]) list =
    let rng = Random seed
    let normal mean sd =
        let u1, u2 = 1.0 - rng.NextDouble(), rng.NextDouble()
        mean + sd * sqrt (-2.0 * log u1) * cos (2.0 * Math.PI * u2) |> float32
    [ for name, shape in llamaHfShapes c ->
        let n = shape |> Array.fold (*) 1L |> int
        let mean, sd =
            if name.EndsWith "norm.weight" then 1.0, 0.1
            elif name.EndsWith ".bias" then 0.0, 0.1
            else 0.0, 0.3
        name, Array.init n (fun _ -> normal mean sd), shape ]

/// Writes config.json and model.safetensors (or `shards` files and their index) for the given weights.
let writeLlamaCheckpoint (dir: string) (c: LlamaConfig) (weights: (string * float32[] * int64[]) list) (shards: int) =
    Directory.CreateDirectory dir |> ignore
    File.WriteAllText(Path.Combine(dir, "config.json"), c.ToJson())
    let tensors = [ for name, values, shape in weights -> struct (name, tensorOf values shape) ]
    if shards = 1 then SafetensorsFile.Write(Path.Combine(dir, "model.safetensors"), ResizeArray tensors)
    else
        let size = (tensors.Length + shards - 1) / shards
        let parts = List.chunkBySize size tensors
        let file i = $"model-{i + 1:D5}-of-{parts.Length:D5}.safetensors"
        parts |> List.iteri (fun i part -> SafetensorsFile.Write(Path.Combine(dir, file i), ResizeArray part))
        let entries = [ for i, part in List.indexed parts do for struct (name, _) in part -> $"\"{name}\": \"{file i}\"" ]
        File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"), sprintf "{\"metadata\": {}, \"weight_map\": {%s}}" (String.Join(", ", entries)))
    for struct (_, t) in tensors do t.Dispose()

/// A tiny model's shape, GPT-2 or Llama family, for properties that hold for every decoder.
type TinyShape =
    | Gpt2Shape of Gpt2Config
    | LlamaShape of LlamaConfig

    /// The vocabulary size.
    member s.VocabSize = match s with Gpt2Shape c -> c.VocabSize | LlamaShape c -> c.VocabSize

    /// A seeded random model of the shape.
    member s.Build(seed: int, ?device: torch.Device, ?dtype: torch.ScalarType, ?std: float) : Decoder =
        let device = defaultArg device torch.CPU
        let dtype = defaultArg dtype torch.ScalarType.Float32
        let std = defaultArg std 0.02
        match s with
        | Gpt2Shape c -> Gpt2.Random(c, seed, device = device, dtype = dtype, std = std)
        | LlamaShape c -> Llama.Random(c, seed, device = device, dtype = dtype, std = std)

/// A tokenizer.json in Hugging Face's format for a byte-level BPE vocabulary: Llama 3's layout (its regex, merges
/// ignored for whole pieces, a BOS template) or Qwen2's (its regex, NFC, no BOS).
let tokenizerJson (style: string) (vocab: Map<string, int>) (merges: (string * string) list) =
    let llama = style = "llama3"
    let str (s: string) = System.Text.Json.JsonSerializer.Serialize s
    let bos = vocab.Count
    let entries = [ for KeyValue(k, v) in vocab -> $"{str k}: {v}" ]
    let mergeList = [ for a, b in merges -> str (a + " " + b) ]
    let pattern = if llama then ByteLevelBpe.llama3Pattern else ByteLevelBpe.qwen2Pattern
    let special = if llama then "<|begin_of_text|>" else "<|endoftext|>"
    let post =
        if llama then
            $"""{{"type": "TemplateProcessing", "single": [{{"SpecialToken": {{"id": "{special}", "type_id": 0}}}}, {{"Sequence": {{"id": "A", "type_id": 0}}}}],
                "pair": [{{"SpecialToken": {{"id": "{special}", "type_id": 0}}}}, {{"Sequence": {{"id": "A", "type_id": 0}}}}, {{"Sequence": {{"id": "B", "type_id": 1}}}}],
                "special_tokens": {{"{special}": {{"id": "{special}", "ids": [{bos}], "tokens": ["{special}"]}}}}}}"""
        else """{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}"""
    let normalizer = if llama then "null" else """{"type": "NFC"}"""
    $"""{{"version": "1.0", "truncation": null, "padding": null,
  "added_tokens": [{{"id": {bos}, "content": "{special}", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}}],
  "normalizer": {normalizer},
  "pre_tokenizer": {{"type": "Sequence", "pretokenizers": [{{"type": "Split", "pattern": {{"Regex": {str pattern}}}, "behavior": "Isolated", "invert": false}},
    {{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}}]}},
  "post_processor": {post},
  "decoder": {{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}},
  "model": {{"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null, "end_of_word_suffix": null,
    "fuse_unk": false, "byte_fallback": false, "ignore_merges": {(if llama then "true" else "false")},
    "vocab": {{{System.String.Join(", ", entries)}}}, "merges": [{System.String.Join(", ", mergeList)}]}}}}"""

/// A folder holding a tokenizer.json of a vocabulary learnt from `corpus` (`ByteLevelBpe.train`), in Llama 3's or
/// Qwen2's layout, with the vocabulary and merges the reference encodes with.
let writeTokenizer (dir: string) (style: string) (corpus: string list) (merges: int) =
    let pattern = if style = "llama3" then ByteLevelBpe.llama3Pattern else ByteLevelBpe.qwen2Pattern
    let vocab, learnt = ByteLevelBpe.train pattern corpus merges
    File.WriteAllText(Path.Combine(dir, "tokenizer.json"), tokenizerJson style vocab learnt)
    vocab, learnt

/// The corpus the tokenizer tests learn their vocabularies from.
let tokenizerCorpus =
    [ "When Mary and John went to the store, John gave a drink to Mary."
      "The war lasted from the year 1732 to the year 1738. It's the 1740s now; they'll say we've won."
      "  Indented lines,\ttabs and\n\nnew lines; numbers 123456789 and 3.14159!"
      "Café, naïve, façade — über straße; 東京 and 北京; emoji 🙂🙂." ]

/// A few dozen strings: words, spacing, digit runs, contractions, punctuation, accents (composed and not), CJK, emoji.
let tokenizerSamples =
    [ "Hello world"; " Mary"; "When Mary and John went to the store"; "John gave a drink to"; "the year 1732 to 17"
      "123456789"; "3.14159"; "It's"; "IT'S"; "they'll"; "we've"; "I'm"; "you'd"; "  two spaces"; "trailing   "
      "\ttab"; "a\n\nb"; "line\r\nbreak"; "!!!"; " ?!"; "(parens)"; "Café"; "Cafe\u0301"; "naïve façade"; "über straße"
      "東京"; "北京 and 東京"; "🙂"; "emoji 🙂🙂."; ""; " "; "x"; "The war lasted from the year 1732 to the year 1738."
      "mixedCASE words"; "a1b2c3"; "—" ]

/// A tokenizer test's vocabulary: the pattern, the learnt vocabulary, the one used (for Llama 3 with a whole piece
/// added that no merge builds, so that its ignore_merges decides that piece's ids), the merges, and that piece.
let tokenizerVocabulary (style: string) =
    let pattern = if style = "llama3" then ByteLevelBpe.llama3Pattern else ByteLevelBpe.qwen2Pattern
    let trained, merges = ByteLevelBpe.train pattern tokenizerCorpus 120
    let unmerged = String.Concat(List.head (ByteLevelBpe.pieces pattern " façade"))
    let vocab = if style = "llama3" && not (trained.ContainsKey unmerged) then trained.Add(unmerged, trained.Count) else trained
    pattern, trained, vocab, merges, unmerged
