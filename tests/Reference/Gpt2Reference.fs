/// An independent GPT-2 forward pass in plain F# arrays and float64 (no TorchSharp), written from the
/// Hugging Face layout, to check the TorchSharp model against.
module PatchDescent.Tests.Reference.Gpt2Reference

/// The shape numbers the reference needs.
type Shape = { Layers: int; Heads: int; DModel: int; DMlp: int; Vocab: int; Eps: float; AttnOnly: bool }

/// Row-major matrix-vector product x [n] @ W [n, m] -> [m].
let private vecMat (x: float[]) (w: float[]) (m: int) =
    Array.init m (fun j ->
        let mutable s = 0.0
        for i in 0 .. x.Length - 1 do s <- s + x[i] * w[i * m + j]
        s)

let private add (a: float[]) (b: float[]) = Array.map2 (+) a b

let private layerNorm eps (w: float[]) (b: float[]) (x: float[]) =
    let mean = Array.average x
    let var = x |> Array.averageBy (fun v -> (v - mean) ** 2.0)
    Array.init x.Length (fun i -> (x[i] - mean) / sqrt (var + eps) * w[i] + b[i])

let private geluNew (x: float) = 0.5 * x * (1.0 + tanh (sqrt (2.0 / System.Math.PI) * (x + 0.044715 * x ** 3.0)))

/// Logits [pos][vocab] of one sequence; `w name` gives the Hugging Face tensor (unprefixed name) flattened row-major.
let forward (s: Shape) (w: string -> float[]) (tokens: int[]) : float[][] =
    let d, dh = s.DModel, s.DModel / s.Heads
    let wte, wpe = w "wte.weight", w "wpe.weight"
    let mutable resid = tokens |> Array.mapi (fun p t -> Array.init d (fun i -> wte[t * d + i] + wpe[p * d + i]))
    for l in 0 .. s.Layers - 1 do
        let p name = w $"h.{l}.{name}"
        let x = resid |> Array.map (layerNorm s.Eps (p "ln_1.weight") (p "ln_1.bias"))
        let qkv = x |> Array.map (fun xi -> add (vecMat xi (p "attn.c_attn.weight") (3 * d)) (p "attn.c_attn.bias"))
        let z =
            Array.init tokens.Length (fun i ->
                Array.init s.Heads (fun h ->
                    let q j = qkv[i][h * dh + j]
                    let k t j = qkv[t][d + h * dh + j]
                    let v t j = qkv[t][2 * d + h * dh + j]
                    let scores = Array.init (i + 1) (fun t -> Seq.sum (seq { for j in 0 .. dh - 1 -> q j * k t j }) / sqrt (float dh))
                    let top = Array.max scores
                    let e = scores |> Array.map (fun x -> exp (x - top))
                    let total = Array.sum e
                    Array.init dh (fun j -> Seq.sum (seq { for t in 0 .. i -> e[t] / total * v t j })))
                |> Array.concat)
        let attnOut = z |> Array.map (fun zi -> add (vecMat zi (p "attn.c_proj.weight") d) (p "attn.c_proj.bias"))
        resid <- Array.map2 add resid attnOut
        if not s.AttnOnly then
            let x2 = resid |> Array.map (layerNorm s.Eps (p "ln_2.weight") (p "ln_2.bias"))
            let mlp =
                x2 |> Array.map (fun xi ->
                    let hidden = add (vecMat xi (p "mlp.c_fc.weight") s.DMlp) (p "mlp.c_fc.bias") |> Array.map geluNew
                    add (vecMat hidden (p "mlp.c_proj.weight") d) (p "mlp.c_proj.bias"))
            resid <- Array.map2 add resid mlp
    resid
    |> Array.map (layerNorm s.Eps (w "ln_f.weight") (w "ln_f.bias"))
    |> Array.map (fun x -> Array.init s.Vocab (fun t -> Seq.sum (seq { for i in 0 .. d - 1 -> x[i] * wte[t * d + i] })))
