using static TorchSharp.torch;

namespace PatchDescent.Model;

/// <summary>One transformer block's parameters, in the layouts the math reads best (TransformerLens names).</summary>
public sealed class Gpt2Block : IDisposable
{
    /// <summary>ln_1 scale and shift, [d_model].</summary>
    public required Tensor Ln1W, Ln1B;
    /// <summary>Query, key and value weights fused as Hugging Face stores c_attn, [d_model, 3, head, d_head].</summary>
    public required Tensor WQkv;
    /// <summary>Query, key and value biases, [3, head, d_head].</summary>
    public required Tensor BQkv;
    /// <summary>Output weights per head, [head, d_head, d_model].</summary>
    public required Tensor WO;
    /// <summary>Output bias, [d_model].</summary>
    public required Tensor BO;
    /// <summary>ln_2 scale and shift, [d_model]; null in attention-only models.</summary>
    public Tensor? Ln2W, Ln2B;
    /// <summary>MLP weights and biases: W_in [d_model, d_mlp], W_out [d_mlp, d_model]; null in attention-only models.</summary>
    public Tensor? WIn, BIn, WOut, BOut;

    /// <summary>Query weights as a view, [head, d_model, d_head].</summary>
    public Tensor WQ => PortWeights(0);
    /// <summary>Key weights as a view, [head, d_model, d_head].</summary>
    public Tensor WK => PortWeights(1);
    /// <summary>Value weights as a view, [head, d_model, d_head].</summary>
    public Tensor WV => PortWeights(2);

    // In a dispose scope: the intermediate view must not be left to the finalizer while the next call reads it.
    Tensor PortWeights(int port)
    {
        using var scope = NewDisposeScope();
        return WQkv.select(1, port).permute(1, 0, 2).MoveToOuterDisposeScope();
    }

    /// <summary>Whether the block has an MLP.</summary>
    public bool HasMlp => WIn is not null;

    /// <summary>Every parameter of the block.</summary>
    public IEnumerable<Tensor> Parameters() =>
        new[] { Ln1W, Ln1B, WQkv, BQkv, WO, BO, Ln2W, Ln2B, WIn, BIn, WOut, BOut }.OfType<Tensor>();

    /// <summary>Frees the parameters.</summary>
    public void Dispose()
    {
        foreach (var p in Parameters()) p.Dispose();
    }
}
