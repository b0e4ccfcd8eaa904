module PatchDescent.Tests.LlamaTests

open System.IO
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open PatchDescent.Model
open PatchDescent.Tests.Fixtures
open PatchDescent.Tests.Reference

let private referenceShape (c: LlamaConfig) : LlamaReference.Shape =
    { Layers = c.Layers; Heads = c.Heads; KvHeads = c.KvHeads; DModel = c.DModel; DHead = c.DHead; DMlp = c.DMlp
      Vocab = c.VocabSize; Eps = c.RmsNormEpsilon; Theta = c.RopeTheta
      Scaling = c.RopeScaling |> Option.ofObj |> Option.map (fun r ->
          { Factor = r.Factor; Low = r.LowFreqFactor; High = r.HighFreqFactor; Original = float r.OriginalMaxPositions })
      QkvBias = c.ModelType = "qwen2" || c.QkvBias; OutputBias = c.OutputBias; Tied = c.TiedEmbeddings }

let private lookup (weights: (string * float32[] * int64[]) list) =
    let byName = weights |> List.map (fun (n, v, _) -> n, Array.map float v) |> Map.ofList
    fun name -> byName[name]

let private quick n = { FsCheckConfig.defaultConfig with maxTest = n }

let private llamaCase =
    gen {
        let! c = tinyLlamaConfig
        let! batch = Gen.choose (1, 2)
        let! pos = Gen.choose (1, c.Positions)
        let! tokens = Gen.arrayOfLength batch (Gen.arrayOfLength pos (Gen.choose (0, c.VocabSize - 1)))
        let! shards = Gen.elements [ 1; 3 ]
        return c, tokens, shards
    }

let private expectFormatError (f: unit -> unit) (parts: string list) =
    let e = Expect.throwsC f id
    Expect.isTrue (e :? ModelFormatException) $"a ModelFormatException, got {e.GetType().Name}: {e.Message}"
    for p in parts do Expect.stringContains e.Message p "the message names it"

/// A tiny checkpoint written by the tests' own writer, its folder, and the reference's view of its weights.
let private written (dir: TempDir) c seed shards =
    let weights = randomLlamaWeights c seed
    writeLlamaCheckpoint dir.Path c weights shards
    weights

let private greedy (next: int[] -> int) (prompt: int[]) steps =
    (prompt, [ 1 .. steps ]) ||> List.fold (fun ids _ -> Array.append ids [| next ids |])

let private argmax (xs: float[]) = xs |> Array.indexed |> Array.maxBy snd |> fst

[<Tests>]
let tests =
    testList "Llama" [
        testPropertyWithConfig (quick 30) "TorchSharp forward equals the independent float64 reference to 1e-4 (llama and qwen2, grouped and not, tied and not, Llama 3 rope scaling and not, one file and shards)" <|
            Prop.forAll (Arb.fromGen llamaCase) (fun (c, tokens, shards) ->
                use dir = new TempDir()
                let w = lookup (written dir c 7 shards)
                use model = LlamaCheckpoint.Load dir.Path
                use logits = model.Forward(tokenTensor tokens)
                let expected = tokens |> Array.collect (fun seq -> LlamaReference.forward (referenceShape c) w seq |> Array.concat)
                let worst = Array.map2 (fun (a: float32) b -> abs (float a - b)) (values logits) expected |> Array.max
                worst < 1e-4 |> Prop.label $"%A{c}: max |diff| = {worst}")

        testPropertyWithConfig (quick 10) "greedy ids from the loaded model equal the reference's, six tokens on" <|
            Prop.forAll (Arb.fromGen tinyLlamaConfig) (fun c ->
                let c = LlamaConfig(c.ModelType, c.Layers, c.Heads, c.KvHeads, c.DModel, c.DHead, c.DMlp, c.VocabSize, 8,
                                    c.RmsNormEpsilon, c.RopeTheta, c.RopeScaling, c.QkvBias, c.OutputBias, c.TiedEmbeddings)
                use dir = new TempDir()
                let w = lookup (written dir c 11 1)
                use model = ModelFolder.Load dir.Path
                let ours (ids: int[]) =
                    use logits = model.Forward(tokenTensor [| ids |])
                    use last = logits.select(1L, int64 ids.Length - 1L)
                    last.argmax().item<int64>() |> int
                let theirs (ids: int[]) = argmax (Array.last (LlamaReference.forward (referenceShape c) w ids))
                let a, b = greedy ours [| 1; 2 |] 6, greedy theirs [| 1; 2 |] 6
                a = b |> Prop.label $"ours %A{a}, reference %A{b}")

        test "the Llama 3 frequencies equal the reference's rule in float64 for Llama-3.1-8B's config, and every band of the rule occurs" {
            let c = LlamaConfig.Llama31_8B
            use rotary = new RotaryEmbedding(c, torch.CPU)
            let expected = LlamaReference.inverseFrequencies (referenceShape c)
            let got = Array.ofSeq rotary.InverseFrequencies
            Array.iter2 (fun (g: float) e -> Expect.floatClose { absolute = 0.0; relative = 1e-12 } g e "inverse frequency") got expected
            let plain = Array.init (c.DHead / 2) (fun i -> 1.0 / (c.RopeTheta ** (float (2 * i) / float c.DHead)))
            Expect.isTrue (Array.exists2 (=) got plain) "some frequencies kept"
            Expect.isTrue (Array.exists2 (fun g p -> abs (g - p / 8.0) < 1e-15 * p) got plain) "some slowed by the factor"
            Expect.isTrue (Array.exists2 (fun g p -> g < p && g > p / 8.0 * (1.0 + 1e-9)) got plain) "some blended"
        }

        test "hook points are TransformerLens's, in forward order, keys and values ungrouped to one per query head, and rot_q is the rotated q" {
            let c = LlamaConfig("llama", 2, 4, 2, 8, 2, 6, 11, 6, 1e-5, 10000.0, null, false, false, false)
            use model = Llama.Random(c, 3, std = 0.3)
            use tokens = tokenTensor [| [| 1; 2; 3; 4 |] |]
            let struct (logits, cache) = model.RunWithCache tokens
            use logits = logits
            use cache = cache
            Expect.sequenceEqual cache.Names (model.HookNames()) "every hook point, in forward order"
            Expect.contains (model.HookNames()) "blocks.1.attn.hook_rot_k" "rotary keys"
            Expect.isFalse (Seq.contains HookPoints.PosEmbed (model.HookNames())) "no position embedding"
            Expect.sequenceEqual cache[HookPoints.K 0].shape [| 1L; 4L; 4L; 2L |] "keys per query head"
            // Query heads 0 and 1 share key head 0.
            Expect.equal (maxAbsDiff (cache[HookPoints.K 0].select(2L, 0L)) (cache[HookPoints.K 0].select(2L, 1L))) 0.0 "grouped heads share keys"
            // Position 1, d_head 2: rotate by angle 1 * theta^0 = 1 radian.
            let q = values (cache[HookPoints.Q 0].select(1L, 1L).select(1L, 0L))
            let r = values (cache[HookPoints.RotQ 0].select(1L, 1L).select(1L, 0L))
            let expected = [| float q[0] * cos 1.0 - float q[1] * sin 1.0; float q[1] * cos 1.0 + float q[0] * sin 1.0 |]
            Array.iter2 (fun (g: float32) e -> Expect.floatClose Accuracy.medium (float g) e "rotated") r expected
            use plain = model.Forward tokens
            Expect.isLessThan (maxAbsDiff plain logits) 1e-5 "caching changes nothing (the cached head results are summed per head)"
        }

        test "save then load reproduces every parameter bit for bit, in one file and in shards with an index" {
            for shards in [ 1; 4 ] do
                use dir = new TempDir()
                let c = LlamaConfig("qwen2", 2, 4, 2, 8, 4, 12, 17, 6, 1e-6, 1e6, null, true, false, true)
                use model = Llama.Random(c, 1)
                LlamaCheckpoint.Save(model, dir.Path, shards)
                Expect.equal (File.Exists(dir.File "model.safetensors.index.json")) (shards > 1) "an index only for shards"
                use loaded = LlamaCheckpoint.Load dir.Path
                Seq.iter2 (fun a b -> Expect.equal (values a) (values b) "parameter") (model.Parameters()) (loaded.Parameters())
        }

        test "weights stored in BF16 and F16 load in float32 and bfloat16, close to the float32 model" {
            let c = LlamaConfig("llama", 1, 2, 1, 8, 4, 12, 17, 6, 1e-5, 10000.0, null, false, false, false)
            use model = Llama.Random(c, 2, std = 0.3)
            use tokens = tokenTensor [| [| 1; 5; 9; 3 |] |]
            use reference = model.Forward tokens
            for stored in [ torch.ScalarType.BFloat16; torch.ScalarType.Float16 ] do
                use dir = new TempDir()
                use cast = Llama.Random(c, 2, dtype = stored, std = 0.3)
                LlamaCheckpoint.Save(cast, dir.Path)
                use f = SafetensorsFile.Open(dir.File "model.safetensors")
                Expect.equal f.Entries["model.embed_tokens.weight"].DType (if stored = torch.ScalarType.BFloat16 then "BF16" else "F16") "stored dtype"
                for dtype in [ torch.ScalarType.Float32; torch.ScalarType.BFloat16 ] do
                    use loaded = LlamaCheckpoint.Load(dir.Path, dtype = dtype)
                    Expect.equal loaded.DType dtype "compute dtype"
                    use logits = loaded.Forward tokens
                    let scale = 1.0 + (values reference |> Array.map (abs >> float) |> Array.max)
                    Expect.isLessThan (maxAbsDiff (logits.``to``(torch.ScalarType.Float32)) reference) (0.1 * scale) $"{stored} as {dtype}"
        }

        test "Qwen2.5-0.5B's and Llama-3.1-8B's published config.json read as their shapes" {
            use dir = new TempDir()
            let qwen = """{"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151643,
  "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02, "intermediate_size": 4864, "max_position_embeddings": 32768,
  "max_window_layers": 24, "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
  "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.40.1", "use_cache": true, "use_sliding_window": false, "vocab_size": 151936}"""
            let llama = """{"architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 128000,
  "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32,
  "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.43.0.dev0",
  "use_cache": true, "vocab_size": 128256}"""
            for text, expected in [ qwen, LlamaConfig.Qwen25_05B; llama, LlamaConfig.Llama31_8B ] do
                File.WriteAllText(dir.File "config.json", text)
                Expect.equal (LlamaConfig.Load(dir.File "config.json")) expected "the shape"
                Expect.equal (LlamaConfig.Load(dir.File "config.json")) (expected.ToJson() |> fun t -> File.WriteAllText(dir.File "again.json", t); LlamaConfig.Load(dir.File "again.json")) "ToJson reads back"
        }

        test "an unknown model_type is refused naming it and listing the supported ones" {
            use dir = new TempDir()
            File.WriteAllText(dir.File "config.json", """{"model_type": "mamba"}""")
            expectFormatError (fun () -> ModelFolder.Load dir.Path |> ignore) [ "config.json"; "model_type"; "'mamba'"; "gpt2, llama, qwen2" ]
            File.WriteAllText(dir.File "config.json", """{"n_layer": 2}""")
            expectFormatError (fun () -> ModelFolder.Load dir.Path |> ignore) [ "model_type"; "required field is missing"; "gpt2, llama, qwen2" ]
        }

        test "settings the decoder does not implement are refused by name" {
            use dir = new TempDir()
            let c = LlamaConfig("llama", 1, 2, 1, 8, 4, 12, 17, 6, 1e-5, 10000.0, null, false, false, false)
            let edit (a: string) (b: string) =
                let text = c.ToJson()
                Expect.stringContains text a "the field to edit"
                File.WriteAllText(dir.File "config.json", text.Replace(a, b))
                fun () -> LlamaConfig.Load(dir.File "config.json") |> ignore
            expectFormatError (edit "\"mlp_bias\": false" "\"mlp_bias\": true") [ "mlp_bias" ]
            expectFormatError (edit "\"hidden_act\": \"silu\"" "\"hidden_act\": \"gelu\"") [ "hidden_act"; "'gelu'" ]
            expectFormatError (edit "\"rope_scaling\": null" "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}") [ "rope_scaling.rope_type"; "'yarn'"; "llama3" ]
            expectFormatError (edit "\"num_key_value_heads\": 1" "\"num_key_value_heads\": 3") [ "num_key_value_heads"; "does not divide" ]
            expectFormatError (edit "\"head_dim\": 4" "\"head_dim\": 3") [ "head_dim"; "odd" ]
            expectFormatError (edit "\"num_hidden_layers\": 1" "\"num_hidden_layers\": \"1\"") [ "num_hidden_layers"; "must be an integer" ]
            expectFormatError (edit "\"rms_norm_eps\": 1E-05," "") [ "rms_norm_eps"; "required field is missing" ]
            expectFormatError (edit "\"model_type\": \"llama\"" "\"model_type\": \"llama\", \"use_sliding_window\": true") [ "use_sliding_window" ]
        }

        test "bad weights are refused naming the file and tensor: a shape against the config with both shapes, a missing tensor, an extra one, a missing shard, a differing tied head, a layer count" {
            let c = LlamaConfig("llama", 2, 2, 1, 8, 4, 12, 17, 6, 1e-5, 10000.0, null, false, false, true)
            let fresh shards = let dir = new TempDir() in dir, written dir c 3 shards
            do
                let dir, weights = fresh 1
                use dir = dir
                let bad = weights |> List.map (fun (n, v, s) -> if n = "model.layers.1.self_attn.k_proj.weight" then n, v, [| 8L; 4L |] else n, v, s)
                writeLlamaCheckpoint dir.Path c bad 1
                expectFormatError (fun () -> LlamaCheckpoint.Load dir.Path |> ignore)
                    [ "model.safetensors"; "model.layers.1.self_attn.k_proj.weight"; "[8, 4]"; "[4, 8]" ]
            do
                let dir, weights = fresh 1
                use dir = dir
                writeLlamaCheckpoint dir.Path c (weights |> List.filter (fun (n, _, _) -> n <> "model.norm.weight")) 1
                expectFormatError (fun () -> LlamaCheckpoint.Load dir.Path |> ignore) [ "model.norm.weight"; "missing" ]
            do
                let dir, weights = fresh 1
                use dir = dir
                writeLlamaCheckpoint dir.Path c (weights @ [ "model.layers.0.mlp.extra.weight", [| 1.0f |], [| 1L |] ]) 1
                expectFormatError (fun () -> LlamaCheckpoint.Load dir.Path |> ignore) [ "model.layers.0.mlp.extra.weight"; "not part of a llama" ]
            do
                let dir, _ = fresh 3
                use dir = dir
                File.Delete(dir.File "model-00002-of-00003.safetensors")
                expectFormatError (fun () -> LlamaCheckpoint.Load dir.Path |> ignore) [ "model.safetensors.index.json"; "model-00002-of-00003.safetensors"; "not in" ]
            do
                let dir, weights = fresh 1
                use dir = dir
                let embed = weights |> List.find (fun (n, _, _) -> n = "model.embed_tokens.weight")
                let _, v, s = embed
                writeLlamaCheckpoint dir.Path c (weights @ [ "lm_head.weight", Array.map (fun x -> x + 1.0f) v, s ]) 1
                expectFormatError (fun () -> LlamaCheckpoint.Load dir.Path |> ignore) [ "lm_head.weight"; "differs from model.embed_tokens.weight"; "tie_word_embeddings" ]
            do
                let dir, weights = fresh 1
                use dir = dir
                writeLlamaCheckpoint dir.Path c (weights |> List.filter (fun (n, _, _) -> not (n.StartsWith "model.layers.1."))) 1
                expectFormatError (fun () -> LlamaCheckpoint.Load dir.Path |> ignore) [ "config.json"; "num_hidden_layers"; "is 2"; "1 blocks" ]
        }

        test "a GPT-2 loader given a Llama folder says it is not GPT-2" {
            use dir = new TempDir()
            written dir (LlamaConfig("qwen2", 1, 2, 2, 8, 4, 12, 17, 6, 1e-6, 1e6, null, true, false, true)) 1 1 |> ignore
            expectFormatError (fun () -> Checkpoint.Load dir.Path |> ignore) [ "model_type"; "'qwen2' is not GPT-2" ]
            use model = ModelFolder.Load dir.Path
            Expect.equal model.ModelType "qwen2" "the folder's own type"
        }
    ]
