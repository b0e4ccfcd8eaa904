module PatchDescent.Tests.Gpt2Tests

open System.IO
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open PatchDescent.Model
open PatchDescent.Tests.Fixtures
open PatchDescent.Tests.Reference

let private referenceShape (c: Gpt2Config) : Gpt2Reference.Shape =
    { Layers = c.Layers; Heads = c.Heads; DModel = c.DModel; DMlp = c.DMlp; Vocab = c.VocabSize; Eps = c.LayerNormEpsilon; AttnOnly = c.AttnOnly }

let private lookup (weights: (string * float32[] * int64[]) list) =
    let byName = weights |> List.map (fun (n, v, _) -> n, Array.map float v) |> Map.ofList
    fun name -> byName[name]

/// Writes random weights as a checkpoint, loads it, and returns the model with the reference's view of the same weights.
let private loadRandom (dir: TempDir) (c: Gpt2Config) seed prefixed =
    let weights = randomHfWeights c seed
    writeCheckpoint dir.Path c weights prefixed
    Checkpoint.Load dir.Path, lookup weights

let private quick n = { FsCheckConfig.defaultConfig with maxTest = n }

[<Tests>]
let tests =
    testList "Gpt2" [
        testPropertyWithConfig (quick 25) "TorchSharp forward equals the independent float64 reference to 1e-4 (both key styles, with and without MLPs)" <|
            Prop.forAll (Arb.fromGen (Gen.zip configAndTokens (Gen.elements [ true; false ]))) (fun ((c, tokens), prefixed) ->
                use dir = new TempDir()
                let model, w = loadRandom dir c 7 prefixed
                use model = model
                use logits = model.Forward(tokenTensor tokens)
                let got = values logits
                let expected = tokens |> Array.collect (fun seq -> Gpt2Reference.forward (referenceShape c) w seq |> Array.concat)
                let worst = Array.map2 (fun (a: float32) b -> abs (float a - b)) got expected |> Array.max
                worst < 1e-4 |> Prop.label $"max |diff| = {worst}")

        testPropertyWithConfig (quick 15) "a right-padded batch with a mask gives each sequence's own logits at its real positions" <|
            Prop.forAll (Arb.fromGen tinyConfig) (fun c ->
                use model = Gpt2.Random(c, 3)
                let lengths = [| c.Positions; max 1 (c.Positions / 2); 1 |]
                let rng = System.Random 5
                let seqs = lengths |> Array.map (fun n -> Array.init n (fun _ -> rng.Next c.VocabSize))
                let padded = seqs |> Array.map (fun s -> Array.append s (Array.create (c.Positions - s.Length) 0))
                use mask = torch.tensor(seqs |> Array.collect (fun s -> Array.init c.Positions (fun i -> if i < s.Length then 1L else 0L))).reshape(3L, int64 c.Positions)
                use batched = model.Forward(tokenTensor padded, mask)
                seqs |> Array.mapi (fun i s ->
                    use alone = model.Forward(tokenTensor [| s |])
                    use part = batched.narrow(0, int64 i, 1L).narrow(1, 0L, int64 s.Length)
                    maxAbsDiff part alone < 1e-5) |> Array.forall id)

        test "save then load reproduces every parameter bit for bit, in Hugging Face's unprefixed layout" {
            use dir = new TempDir()
            let c = Gpt2Config(2, 2, 8, 6, 11, 1e-5)
            use model = Gpt2.Random(c, 1)
            Checkpoint.Save(model, dir.Path)
            use file = SafetensorsFile.Open(dir.File "model.safetensors")
            Expect.equal (set file.Entries.Keys) (set (Checkpoint.ExpectedShapes c).Keys) "keys"
            use back = Checkpoint.Load dir.Path
            Expect.equal back.Config c "config"
            for a, b in Seq.zip (model.Parameters()) (back.Parameters()) do
                Expect.sequenceEqual (b.bytes.ToArray()) (a.bytes.ToArray()) "parameter bytes"
        }
        test "float16 and bfloat16 checkpoints load and compute in float32" {
            for stored in [ torch.ScalarType.Float16; torch.ScalarType.BFloat16 ] do
                use dir = new TempDir()
                let c = Gpt2Config(1, 2, 8, 6, 11, 1e-5)
                use model = Gpt2.Random(c, 1)
                Checkpoint.Save(model, dir.Path)
                use f = SafetensorsFile.Open(dir.File "model.safetensors")
                let converted = ResizeArray [ for KeyValue(k, _) in f.Entries -> struct (k, f.Read(k).``to``(stored)) ]
                f.Dispose()
                SafetensorsFile.Write(dir.File "model.safetensors", converted)
                use back = Checkpoint.Load dir.Path
                Expect.equal back.DType torch.ScalarType.Float32 "computes in float32"
                for a, b in Seq.zip (model.Parameters()) (back.Parameters()) do
                    use rounded = a.``to``(stored).``to``(torch.ScalarType.Float32)
                    Expect.equal (maxAbsDiff rounded b) 0.0 $"{stored} values"
        }
        test "bfloat16 compute stays within bfloat16 precision of float32" {
            use dir = new TempDir()
            let c = Gpt2Config(2, 2, 16, 8, 20, 1e-5)
            use model = Gpt2.Random(c, 2)
            Checkpoint.Save(model, dir.Path)
            use bf = Checkpoint.Load(dir.Path, dtype = torch.ScalarType.BFloat16)
            use tokens = torch.randint(20L, [| 2L; 8L |], dtype = torch.ScalarType.Int64)
            use a = model.Forward tokens
            use b = bf.Forward tokens
            Expect.isLessThan (maxAbsDiff a b) 0.05 "logits close"
        }
        test "a tensor whose shape disagrees with config.json is named" {
            use dir = new TempDir()
            let c = Gpt2Config(1, 2, 8, 6, 11, 1e-5)
            writeCheckpoint dir.Path c (randomHfWeights c 1) false
            File.WriteAllText(dir.File "config.json", Gpt2Config(1, 2, 8, 6, 12, 1e-5).ToJson())
            let e = Expect.throwsC (fun () -> (Checkpoint.Load dir.Path).Dispose()) id
            Expect.isTrue (e :? ModelFormatException) e.Message
            Expect.stringContains e.Message "'wte.weight'" "names the tensor"
            Expect.stringContains e.Message "model.safetensors" "names the file"
        }
        test "a tied checkpoint that also stores lm_head.weight, equal to wte.weight, loads; a differing head is named" {
            use dir = new TempDir()
            let c = Gpt2Config(1, 2, 8, 6, 11, 1e-5)
            let weights = randomHfWeights c 1
            let _, wte, shape = weights |> List.find (fun (n, _, _) -> n = "wte.weight")
            writeCheckpoint dir.Path c (weights @ [ "lm_head.weight", wte, shape ]) false
            use model = Checkpoint.Load dir.Path
            Expect.equal (values model.WE) wte "the embedding as stored"
            let other = Array.copy wte
            other[3] <- other[3] + 1.0f
            writeCheckpoint dir.Path c (weights @ [ "lm_head.weight", other, shape ]) false
            let e = Expect.throwsC (fun () -> (Checkpoint.Load dir.Path).Dispose()) id
            Expect.stringContains e.Message "'lm_head.weight': differs from wte.weight" "names the head"
        }
        test "an n_layer the file's blocks disagree with fails at once naming n_layer and both counts, even one so large that sizing its layers would exhaust memory" {
            use dir = new TempDir()
            let c = Gpt2Config(1, 2, 8, 6, 11, 1e-5)
            writeCheckpoint dir.Path c (randomHfWeights c 1) false
            File.WriteAllText(dir.File "config.json", c.ToJson().Replace("\"n_layer\": 1", "\"n_layer\": 100000000"))
            let e = Expect.throwsC (fun () -> (Checkpoint.Load dir.Path).Dispose()) id
            Expect.stringContains e.Message "'n_layer': is 100000000" "names the field and its value"
            Expect.stringContains e.Message "holds 1 blocks" "and what the file holds"
        }
        test "a model folder given as a file says so" {
            use dir = new TempDir()
            File.WriteAllText(dir.File "model", "")
            let e = Expect.throwsC (fun () -> (Checkpoint.Load(dir.File "model")).Dispose()) id
            Expect.stringContains e.Message "is a file" "says what is wrong"
        }
        test "a missing tensor is named" {
            use dir = new TempDir()
            let c = Gpt2Config(1, 2, 8, 6, 11, 1e-5)
            writeCheckpoint dir.Path c (randomHfWeights c 1 |> List.filter (fun (n, _, _) -> n <> "h.0.ln_1.bias")) true
            let e = Expect.throwsC (fun () -> (Checkpoint.Load dir.Path).Dispose()) id
            Expect.stringContains e.Message "'h.0.ln_1.bias'" "names the tensor"
        }
        test "a missing model folder, config.json or model.safetensors is named" {
            use dir = new TempDir()
            let e1 = Expect.throwsC (fun () -> (Checkpoint.Load(dir.File "nope")).Dispose()) id
            Expect.stringContains e1.Message "nope" "folder"
            let e2 = Expect.throwsC (fun () -> (Checkpoint.Load dir.Path).Dispose()) id
            Expect.stringContains e2.Message "config.json" "config"
            File.WriteAllText(dir.File "config.json", Gpt2Config(1, 2, 8, 6, 11, 1e-5).ToJson())
            let e3 = Expect.throwsC (fun () -> (Checkpoint.Load dir.Path).Dispose()) id
            Expect.stringContains e3.Message "model.safetensors" "weights"
        }
        test "token ids outside the vocabulary and sequences longer than n_positions are refused" {
            use model = Gpt2.Random(Gpt2Config(1, 2, 8, 6, 11, 1e-5), 1)
            let e = Expect.throwsC (fun () -> (model.Forward(tokenTensor [| [| 3; 11 |] |])).Dispose()) id
            Expect.stringContains e.Message "11" "names the id"
            let e2 = Expect.throwsC (fun () -> (model.Forward(tokenTensor [| Array.zeroCreate 7 |])).Dispose()) id
            Expect.stringContains e2.Message "6 positions" "names the limit"
        }
    ]
