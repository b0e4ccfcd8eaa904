/// An independent Llama / Qwen2 forward pass in plain F# arrays and float64 (no TorchSharp), written from the math of
/// Hugging Face's modeling_llama.py and modeling_qwen2.py on their tensor names, to check the TorchSharp model against.
module PatchDescent.Tests.Reference.LlamaReference

/// Llama 3's rope_scaling numbers: factor, low_freq_factor, high_freq_factor, original_max_position_embeddings.
type Scaling = { Factor: float; Low: float; High: float; Original: float }

/// The shape numbers the reference needs.
type Shape =
    { Layers: int; Heads: int; KvHeads: int; DModel: int; DHead: int; DMlp: int; Vocab: int; Eps: float
      Theta: float; Scaling: Scaling option; QkvBias: bool; OutputBias: bool; Tied: bool }

/// nn.Linear: y = W x + b with W [out, in] row-major.
let private linear (w: float[]) (bias: float[] option) (outs: int) (x: float[]) =
    Array.init outs (fun o ->
        let mutable s = match bias with Some b -> b[o] | None -> 0.0
        for i in 0 .. x.Length - 1 do s <- s + w[o * x.Length + i] * x[i]
        s)

let private rmsNorm eps (w: float[]) (x: float[]) =
    let scale = 1.0 / sqrt ((x |> Array.averageBy (fun v -> v * v)) + eps)
    Array.init x.Length (fun i -> w[i] * x[i] * scale)

let private silu x = x / (1.0 + exp (-x))

/// The rotary inverse frequencies: theta^(-2i/d_head), and under Llama 3's scaling, wavelengths beyond
/// original / low divided by the factor, those below original / high kept, and those between interpolated by
/// smooth = (original / wavelength - low) / (high - low).
let inverseFrequencies (s: Shape) =
    Array.init (s.DHead / 2) (fun i ->
        let f = 1.0 / (s.Theta ** (float (2 * i) / float s.DHead))
        match s.Scaling with
        | None -> f
        | Some r ->
            let wavelength = 2.0 * System.Math.PI / f
            if wavelength > r.Original / r.Low then f / r.Factor
            elif wavelength < r.Original / r.High then f
            else
                let smooth = (r.Original / wavelength - r.Low) / (r.High - r.Low)
                (1.0 - smooth) * f / r.Factor + smooth * f)

/// One head's vector rotated at position p: dimension i with i + d_head / 2 (rotate_half).
let private rotate (inv: float[]) (p: int) (x: float[]) =
    let half = x.Length / 2
    Array.init x.Length (fun j ->
        let i = j % half
        let c, s = cos (float p * inv[i]), sin (float p * inv[i])
        if j < half then x[j] * c - x[j + half] * s else x[j] * c + x[j - half] * s)

/// Logits [pos][vocab] of one sequence; `w name` gives the Hugging Face tensor flattened row-major.
let forward (s: Shape) (w: string -> float[]) (tokens: int[]) : float[][] =
    let d, dh, h, kv = s.DModel, s.DHead, s.Heads, s.KvHeads
    let inv = inverseFrequencies s
    let embed = w "model.embed_tokens.weight"
    let mutable resid = tokens |> Array.map (fun t -> Array.init d (fun i -> embed[t * d + i]))
    for l in 0 .. s.Layers - 1 do
        let p name = w $"model.layers.{l}.{name}"
        let bias name = if s.QkvBias then Some (p name) else None
        let x = resid |> Array.map (rmsNorm s.Eps (p "input_layernorm.weight"))
        let q = x |> Array.map (linear (p "self_attn.q_proj.weight") (bias "self_attn.q_proj.bias") (h * dh))
        let k = x |> Array.map (linear (p "self_attn.k_proj.weight") (bias "self_attn.k_proj.bias") (kv * dh))
        let v = x |> Array.map (linear (p "self_attn.v_proj.weight") (bias "self_attn.v_proj.bias") (kv * dh))
        let headOf (rows: float[][]) t head = rows[t][head * dh .. head * dh + dh - 1]
        let z =
            Array.init tokens.Length (fun i ->
                Array.init h (fun head ->
                    // Query head `head` reads key and value head head / (heads / kv_heads), as repeat_kv expands them.
                    let g = head / (h / kv)
                    let qi = rotate inv i (headOf q i head)
                    let scores =
                        Array.init (i + 1) (fun t ->
                            let kt = rotate inv t (headOf k t g)
                            Array.fold2 (fun acc a b -> acc + a * b) 0.0 qi kt / sqrt (float dh))
                    let top = Array.max scores
                    let e = scores |> Array.map (fun x -> exp (x - top))
                    let total = Array.sum e
                    Array.init dh (fun j -> Seq.sum (seq { for t in 0 .. i -> e[t] / total * (headOf v t g)[j] })))
                |> Array.concat)
        let outBias = if s.OutputBias then Some (p "self_attn.o_proj.bias") else None
        let attnOut = z |> Array.map (linear (p "self_attn.o_proj.weight") outBias d)
        resid <- Array.map2 (Array.map2 (+)) resid attnOut
        let x2 = resid |> Array.map (rmsNorm s.Eps (p "post_attention_layernorm.weight"))
        let mlp =
            x2 |> Array.map (fun xi ->
                let gate = linear (p "mlp.gate_proj.weight") None s.DMlp xi
                let up = linear (p "mlp.up_proj.weight") None s.DMlp xi
                linear (p "mlp.down_proj.weight") None d (Array.map2 (fun g u -> silu g * u) gate up))
        resid <- Array.map2 (Array.map2 (+)) resid mlp
    let head = if s.Tied then embed else w "lm_head.weight"
    resid
    |> Array.map (rmsNorm s.Eps (w "model.norm.weight"))
    |> Array.map (linear head None s.Vocab)
