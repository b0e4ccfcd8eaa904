/// What the baseline-method tests share: a tiny random float64 model, a patching engine, two batches of different
/// sizes (so that weighting by pairs matters), and the metrics computed again from plain arrays.
module PatchDescent.Tests.Methods.Setup

open System
open FsCheck
open FsCheck.FSharp
open TorchSharp
open PatchDescent.Model
open PatchDescent.Search
open PatchDescent.Tests.Fixtures

type Case = { Config: Gpt2Config; Seed: int; Granularity: Granularity }

let cases =
    gen {
        let! layers = Gen.choose (1, 2)
        let! heads = Gen.choose (1, 2)
        let! attnOnly = Gen.elements [ true; false ]
        let! seed = Gen.choose (0, 10_000)
        let! g = Gen.elements [ Granularity.Full; Granularity.Heads ]
        // d_model 8: in 3 dimensions a LayerNorm input can pass near zero along the path, which makes the
        // integrand too sharp for the EAP-IG tests' 64 to 128 steps.
        return { Config = Gpt2Config(layers, heads, 8, 6, 13, 1e-5, attnOnly); Seed = seed; Granularity = g }
    }
    |> Arb.fromGen

let resolve (s: Schedule) =
    match Schedule.resolve s with
    | Ok r -> r
    | Error e -> failwith e

/// A tensor's values as float64, flat: `Fixtures.values` rounds to float32, too coarse for finite differences.
let private doubles (t: torch.Tensor) =
    use scope = torch.NewDisposeScope()
    t.detach().cpu().``to``(torch.ScalarType.Float64).contiguous().data<float>().ToArray()

/// Batches of 3 and 2 pairs of 4 tokens; wrong answers differ from the answers.
type Setup(case: Case, ?model: Gpt2) =
    let c = case.Config
    let generator = new torch.Generator(uint64 case.Seed)
    let model = defaultArg model (Gpt2.Random(c, case.Seed, dtype = torch.ScalarType.Float64, std = 0.5))
    let shape = Engine.shapeOf model
    let engine = Engine.compile model (resolve (Schedule.ofGranularity shape case.Granularity)) Ablation.Patching
    let owned = ResizeArray<IDisposable>()
    let batches =
        [ for n in [ 3L; 2L ] ->
            let tokens () = torch.randint(int64 c.VocabSize, [| n; 4L |], generator = generator)
            let clean, corrupted = tokens (), tokens ()
            let answers = torch.randint(int64 c.VocabSize, [| n |], generator = generator)
            let wrongs = (answers + 1L).remainder(Scalar.op_Implicit (int64 c.VocabSize))
            let batch = engine.Prepare(clean, Some corrupted, None)
            let b = Train.withTargets engine batch answers (Some wrongs)
            owned.AddRange [ clean; corrupted; answers; wrongs; batch; b.FullLogits ]
            b ]
    member _.Model = model
    member _.Shape = shape
    member _.Engine = engine
    member _.Batches = batches

    /// The last-position logits [pair][vocab] of every batch with the learnable coefficients at the values given.
    member _.LastLogits(coefficients: float[]) =
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        let a = torch.tensor(coefficients, dtype = torch.ScalarType.Float64)
        [ for b in batches ->
            let logits = engine.Forward(a, b.Batch)
            let v, vocab, pos = doubles logits, int logits.shape[2], int logits.shape[1]
            Array.init (int logits.shape[0]) (fun p -> Array.init vocab (fun t -> v[(p * pos + pos - 1) * vocab + t])) ]

    /// The logit difference averaged over every pair of both batches, from plain arrays.
    member s.LogitDiff(coefficients: float[]) =
        let answers = [| for b in batches do yield! Array.map int (doubles b.Answers) |]
        let wrongs = [| for b in batches do yield! Array.map int (doubles (Option.get b.Wrongs)) |]
        let rows = Array.concat (s.LastLogits coefficients)
        rows |> Array.mapi (fun p row -> row[answers[p]] - row[wrongs[p]]) |> Array.average

    /// KL(full || patched) of the last-position distributions, averaged over every pair, from plain arrays.
    member s.Kl(coefficients: float[]) =
        let logSoftmax (row: float[]) =
            let top = Array.max row
            let z = top + log (row |> Array.sumBy (fun x -> exp (x - top)))
            row |> Array.map (fun x -> x - z)
        let full = Array.concat (s.LastLogits(Array.create engine.ParamCount 1.0))
        let patched = Array.concat (s.LastLogits coefficients)
        Array.map2 (fun (f: float[]) (q: float[]) ->
            let lf, lq = logSoftmax f, logSoftmax q
            Array.map2 (fun a b -> exp a * (a - b)) lf lq |> Array.sum) full patched
        |> Array.average

    interface IDisposable with
        member _.Dispose() =
            for d in owned do d.Dispose()
            for d in [ engine :> IDisposable; model; generator ] do d.Dispose()

/// The planted-path model of the discovery tests: attention-only, 2 layers of 2 heads, d_model 8, float64, every
/// W_O zeroed except a1.h1's, so only input -> logits, a1.h1 -> logits and input -> a1.h1<q, k, v> carry anything.
let plantedModel () =
    let c = Gpt2Config(2, 2, 8, 6, 13, 1e-5, true)
    let model = Gpt2.Random(c, 8, dtype = torch.ScalarType.Float64, std = 1.0)
    use _ = torch.no_grad ()
    use scope = torch.NewDisposeScope()
    for l in 0 .. c.Layers - 1 do
        for h in 0 .. c.Heads - 1 do
            if (l, h) <> (1, 1) then model.Blocks[l].WO[int64 h].zero_() |> ignore
    model

/// The edges of the planted path.
let planted = [ "input->logits"; "a1.h1->logits"; "input->a1.h1<q>"; "input->a1.h1<k>"; "input->a1.h1<v>" ]
