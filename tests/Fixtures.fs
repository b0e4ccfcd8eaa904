/// Shared test fixtures: temporary folders, tiny random configs, and random checkpoints in the Hugging Face layout.
module PatchDescent.Tests.Fixtures

open System
open System.IO
open FsCheck
open FsCheck.FSharp
open TorchSharp
open PatchDescent.Model

/// A fresh folder under the system temp directory, deleted on dispose.
type TempDir() =
    let path = Path.Combine(Path.GetTempPath(), "patchdescent-tests-" + Guid.NewGuid().ToString("N"))
    do Directory.CreateDirectory path |> ignore
    member _.Path = path
    member _.File(name: string) = Path.Combine(path, name)
    interface IDisposable with
        member _.Dispose() = if Directory.Exists path then Directory.Delete(path, true)

/// Tiny GPT-2 shapes: 1-2 layers, 1-4 heads, d_head 2-8, with and without MLPs.
let tinyConfig : Gen<Gpt2Config> =
    gen {
        let! layers = Gen.choose (1, 2)
        let! heads = Gen.choose (1, 4)
        let! dHead = Gen.choose (2, 8)
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
