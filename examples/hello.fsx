// The smallest PatchDescent script: tokenize a prompt and compute with TorchSharp.
// dotnet fsi build.fsx build && dotnet fsi examples/hello.fsx
#load "PatchDescent.fsx"

open TorchSharp
open PatchDescent.Model

let ids = Tokenizer.Gpt2.Encode "When Mary and John went to the store, John gave a drink to"
printfn "%d tokens: %A" ids.Length ids

let x = torch.randn(4L, 4L, requires_grad = true)
let loss = x.matmul(x).sum()
loss.backward()
printfn "gradient norm of sum(x @ x): %.4f" ((nonNull x.grad).norm().item<float32>())
