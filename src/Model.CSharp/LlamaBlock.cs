using static TorchSharp.torch;

namespace PatchDescent.Model;

/// <summary>One Llama-family block's parameters: projections in Hugging Face's nn.Linear layout [out, in], W_O per head.</summary>
public sealed class LlamaBlock : IDisposable
{
    /// <summary>input_layernorm's scale, [d_model].</summary>
    public required Tensor Ln1W;
    /// <summary>q_proj, [head * d_head, d_model].</summary>
    public required Tensor WQ;
    /// <summary>k_proj and v_proj, [kv_head * d_head, d_model].</summary>
    public required Tensor WK, WV;
    /// <summary>q_proj's bias [head * d_head], k_proj's and v_proj's [kv_head * d_head]; null without attention biases.</summary>
    public Tensor? BQ, BK, BV;
    /// <summary>o_proj per head, [head, d_head, d_model].</summary>
    public required Tensor WO;
    /// <summary>o_proj's bias, [d_model]; null unless Llama's attention_bias.</summary>
    public Tensor? BO;
    /// <summary>post_attention_layernorm's scale, [d_model].</summary>
    public required Tensor Ln2W;
    /// <summary>gate_proj and up_proj, [d_mlp, d_model]; down_proj, [d_model, d_mlp].</summary>
    public required Tensor WGate, WUp, WDown;

    /// <summary>Every parameter of the block.</summary>
    public IEnumerable<Tensor> Parameters() =>
        new[] { Ln1W, WQ, BQ, WK, BK, WV, BV, WO, BO, Ln2W, WGate, WUp, WDown }.OfType<Tensor>();

    /// <summary>Frees the parameters.</summary>
    public void Dispose()
    {
        foreach (var p in Parameters()) p.Dispose();
    }
}
