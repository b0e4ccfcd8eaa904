// Every edge's attribution from one forward and one backward pass of the engine: at a = 1 the gradient of a
// metric with respect to a_e is the first-order effect of removing edge e (edge attribution patching).
// dotnet fsi build.fsx build && dotnet fsi examples/edge-attribution.fsx
#load "PatchDescent.fsx"

open TorchSharp
open PatchDescent.Model
open PatchDescent.Search

let model = Gpt2.Random(Gpt2Config(2, 4, 64, 32, 50257, 1e-5), seed = 1, std = 0.2)
let shape = Engine.shapeOf model
let schedule =
    match Schedule.resolve (Schedule.learnAll shape) with
    | Ok s -> s
    | Error e -> failwith e
let engine = Engine.compile model schedule Ablation.Patching

let clean = torch.tensor(Tokenizer.Gpt2.Encode " When Mary and John went to the store, John gave a drink to" |> Array.map int64).unsqueeze(0L)
let corrupted = torch.tensor(Tokenizer.Gpt2.Encode " When Alice and Bob went to the store, Bob gave a drink to" |> Array.map int64).unsqueeze(0L)
let batch = engine.Prepare(clean, Some corrupted, None)

let a = engine.InitialCoefficients().requires_grad_(true)
let logits = engine.Forward(a, batch)
let tokenOf (text: string) = int64 (Tokenizer.Gpt2.Encode text).[0]
let mary, john = tokenOf " Mary", tokenOf " John"
let last = logits[0L, -1L]
(last[mary] - last[john]).backward()

let grad = (nonNull a.grad).data<float32>().ToArray()
printfn "%d edges; the 10 with the largest attribution to logit(Mary) - logit(John):" grad.Length
grad
|> Array.mapi (fun i g -> schedule.ParamNames[i], g)
|> Array.sortByDescending (fun (_, g) -> abs g)
|> Array.truncate 10
|> Array.iter (fun (name, g) -> printfn "  %-24s %+.5f" name g)
