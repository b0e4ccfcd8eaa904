using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PatchDescent.Model;

/// <summary>GPT-2 (pre-LN blocks, causal attention, gelu_new MLP, tied unembedding) with TransformerLens hook points.</summary>
public sealed class Gpt2 : Decoder
{
    /// <summary>The model's shape.</summary>
    public Gpt2Config Config { get; }
    /// <summary>Token embedding W_E, [vocab, d_model]; also the unembedding (tied, as in GPT-2).</summary>
    public Tensor WE { get; }
    /// <summary>Position embedding W_pos, [n_positions, d_model].</summary>
    public Tensor WPos { get; }
    /// <summary>Final LayerNorm scale and shift, [d_model].</summary>
    public Tensor LnFW { get; }
    /// <inheritdoc cref="LnFW"/>
    public Tensor LnFB { get; }
    /// <summary>The blocks, in order.</summary>
    public IReadOnlyList<Gpt2Block> Blocks { get; }

    /// <inheritdoc/>
    public override int Layers => Config.Layers;
    /// <inheritdoc/>
    public override int Heads => Config.Heads;
    /// <inheritdoc/>
    public override int DModel => Config.DModel;
    /// <inheritdoc/>
    public override int DHead => Config.DHead;
    /// <inheritdoc/>
    public override int VocabSize => Config.VocabSize;
    /// <inheritdoc/>
    public override int Positions => Config.Positions;
    /// <inheritdoc/>
    public override bool HasMlp => !Config.AttnOnly;
    /// <inheritdoc/>
    public override string ModelType => "gpt2";
    /// <inheritdoc/>
    public override Device Device => WE.device;
    /// <inheritdoc/>
    public override ScalarType DType => WE.dtype;

    /// <summary>Takes ownership of the given parameters.</summary>
    public Gpt2(Gpt2Config config, Tensor wE, Tensor wPos, IReadOnlyList<Gpt2Block> blocks, Tensor lnFW, Tensor lnFB)
    {
        Config = config;
        WE = wE;
        WPos = wPos;
        Blocks = blocks;
        LnFW = lnFW;
        LnFB = lnFB;
    }

    /// <inheritdoc/>
    public override IEnumerable<Tensor> Parameters() =>
        new[] { WE, WPos }.Concat(Blocks.SelectMany(b => b.Parameters())).Concat([LnFW, LnFB]);

    /// <inheritdoc/>
    public override IReadOnlyList<string> HookNames() => HookPoints.All(Config);

    /// <inheritdoc/>
    protected override Tensor Run(Tensor tokens, Tensor? attentionMask, HookRun hooks)
    {
        using var scope = NewDisposeScope();
        CheckTokens(tokens, attentionMask);
        var (batch, pos) = (tokens.shape[0], tokens.shape[1]);
        var embed = hooks.At(HookPoints.Embed, TokenEmbedding(tokens));                              // [batch, pos, d_model]
        var posEmbed = hooks.At(HookPoints.PosEmbed, WPos.narrow(0, 0, pos).expand(batch, pos, -1));  // [batch, pos, d_model]
        using var one = 1.ToScalar();                                                                     // a + b's alpha, held (see SoftmaxAttention)
        var resid = embed.add(posEmbed, one);
        var keyMask = CausalAndPaddingMask(pos, attentionMask);                                           // [batch|1, 1, query, key]
        for (var l = 0; l < Blocks.Count; l++)
            resid = BlockForward(l, resid, keyMask, hooks);
        var normalized = hooks.At(HookPoints.LnFinalNormalized, LayerNorm(resid, LnFW, LnFB));
        var logits = normalized.matmul(WE.t());                                                           // [batch, pos, vocab]
        return logits.MoveToOuterDisposeScope();
    }

    Tensor BlockForward(int l, Tensor resid, Tensor keyMask, HookRun hooks)
    {
        var b = Blocks[l];
        var (batch, pos) = (resid.shape[0], resid.shape[1]);
        using var one = 1.ToScalar();                                                                     // a + b's alpha, held (see SoftmaxAttention)
        resid = hooks.At(HookPoints.ResidPre(l), resid);
        var x = hooks.At(HookPoints.Ln1Normalized(l), LayerNorm(resid, b.Ln1W, b.Ln1B));
        var qkv = x.matmul(b.WQkv.flatten(1)).view(batch, pos, 3, Config.Heads, Config.DHead).add(b.BQkv, one); // [batch, pos, 3, head, d_head]
        var q = hooks.At(HookPoints.Q(l), qkv.select(2, 0));                                             // [batch, pos, head, d_head]
        var k = hooks.At(HookPoints.K(l), qkv.select(2, 1));
        var v = hooks.At(HookPoints.V(l), qkv.select(2, 2));
        var z = Attention(l, q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), keyMask, hooks.OrNull);
        z = hooks.At(HookPoints.Z(l), z.transpose(1, 2));                                              // [batch, pos, head, d_head]
        var attnOut = hooks.Wants(HookPoints.Result(l))
            ? hooks.At(HookPoints.Result(l), HeadResults(z, b.WO)).sum(2).add(b.BO, one)                   // via [batch, pos, head, d_model]
            : z.flatten(2).matmul(b.WO.flatten(0, 1)).add(b.BO, one);                                       // [batch, pos, d_model]
        attnOut = hooks.At(HookPoints.AttnOut(l), attnOut);
        if (!b.HasMlp) return hooks.At(HookPoints.ResidPost(l), resid.add(attnOut, one));

        var mid = hooks.At(HookPoints.ResidMid(l), resid.add(attnOut, one));
        var x2 = hooks.At(HookPoints.Ln2Normalized(l), LayerNorm(mid, b.Ln2W!, b.Ln2B!));
        var mlpOut = hooks.At(HookPoints.MlpOut(l), Mlp(b, x2, hooks.OrNull, l));
        return hooks.At(HookPoints.ResidPost(l), mid.add(mlpOut, one));
    }

    Tensor TokenEmbedding(Tensor tokens) =>
        WE.index_select(0, tokens.to(Device).flatten()).view(tokens.shape[0], tokens.shape[1], -1);

    /// <inheritdoc/>
    public override Tensor InputEmbedding(Tensor tokens)
    {
        using var scope = NewDisposeScope();
        CheckTokens(tokens, null);
        using var one = 1.ToScalar();                                                                     // a + b's alpha, held (see SoftmaxAttention)
        var input = TokenEmbedding(tokens).add(WPos.narrow(0, 0, tokens.shape[1]), one);
        return input.MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public override Tensor Attention(int layer, Tensor q, Tensor k, Tensor v, Tensor keyMask, Func<string, Tensor, Tensor>? at = null) =>
        SoftmaxAttention(q, k, v, keyMask, at is null ? null : p => at(HookPoints.Pattern(layer), p));

    /// <inheritdoc/>
    public override Tensor NormalizeAttentionInput(int layer, Tensor x) => LayerNorm(x, Blocks[layer].Ln1W, Blocks[layer].Ln1B);

    /// <inheritdoc/>
    public override Tensor QkvWeights(int layer)
    {
        using var scope = NewDisposeScope();
        return Blocks[layer].WQkv.permute(1, 2, 0, 3).reshape(3L * Heads, DModel, DHead).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public override Tensor? QkvBias(int layer)
    {
        using var scope = NewDisposeScope();
        return Blocks[layer].BQkv.reshape(3L * Heads, 1, DHead).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public override Tensor HeadOutputWeights(int layer) => Blocks[layer].WO;

    /// <inheritdoc/>
    public override Tensor? AttentionOutputBias(int layer) => Blocks[layer].BO;

    /// <inheritdoc/>
    public override Tensor MlpOutput(int layer, Tensor resid)
    {
        var b = Blocks[layer];
        if (!b.HasMlp) throw new InvalidOperationException($"block {layer} has no MLP");
        return Mlp(b, LayerNorm(resid, b.Ln2W!, b.Ln2B!));
    }

    /// <inheritdoc/>
    public override Tensor? MlpOutputBias(int layer) => Blocks[layer].BOut;

    /// <inheritdoc/>
    public override Tensor Unembed(Tensor resid) => LayerNorm(resid, LnFW, LnFB).matmul(WE.t());              // [..., vocab]

    /// <summary>The MLP of block <paramref name="l"/> on its normalised input [batch, pos, d_model].</summary>
    public Tensor Mlp(Gpt2Block b, Tensor x, Func<string, Tensor, Tensor>? at = null, int l = 0)
    {
        using var one = 1.ToScalar();                                                                   // a + b's alpha, held
        var pre = x.matmul(b.WIn!).add(b.BIn!, one);                                                    // [batch, pos, d_mlp]
        if (at is not null) pre = at(HookPoints.MlpPre(l), pre);
        var post = F.gelu(pre, TorchSharp.Modules.GELU.Approximate.tanh);                               // gelu_new
        if (at is not null) post = at(HookPoints.MlpPost(l), post);
        return post.matmul(b.WOut!).add(b.BOut!, one);                                                  // [batch, pos, d_model]
    }

    /// <summary>LayerNorm over the last dimension with the model's epsilon.</summary>
    public Tensor LayerNorm(Tensor x, Tensor w, Tensor b) => F.layer_norm(x, [Config.DModel], w, b, Config.LayerNormEpsilon);

    /// <summary>A model of <paramref name="config"/>'s shape with every parameter (norms and biases too) drawn from a seeded normal, for tests and training.</summary>
    public static Gpt2 Random(Gpt2Config config, int seed, Device? device = null, ScalarType dtype = ScalarType.Float32, double std = 0.02)
    {
        using var generator = new Generator((ulong)seed);
        // Every chain of tensor calls runs in a dispose scope: a temporary outside one is only reachable through
        // its native handle, and the finalizer thread may free it while the next native call still reads it.
        using var scope = NewDisposeScope();
        var Normal = SeededNormal(generator, dtype, device ?? CPU);
        var (d, h, e, m) = (config.DModel, config.Heads, config.DHead, config.DMlp);
        var blocks = Enumerable.Range(0, config.Layers).Select(_ => new Gpt2Block
        {
            Ln1W = Normal(1, 0.1, d), Ln1B = Normal(0, 0.1, d),
            WQkv = Normal(0, std, d, 3, h, e), BQkv = Normal(0, std, 3, h, e),
            WO = Normal(0, std, h, e, d), BO = Normal(0, std, d),
            Ln2W = config.AttnOnly ? null : Normal(1, 0.1, d), Ln2B = config.AttnOnly ? null : Normal(0, 0.1, d),
            WIn = config.AttnOnly ? null : Normal(0, std, d, m), BIn = config.AttnOnly ? null : Normal(0, std, m),
            WOut = config.AttnOnly ? null : Normal(0, std, m, d), BOut = config.AttnOnly ? null : Normal(0, std, d),
        }).ToList();
        return new Gpt2(config, Normal(0, std, config.VocabSize, d), Normal(0, std, config.Positions, d), blocks,
            Normal(1, 0.1, d), Normal(0, 0.1, d));
    }

    /// <inheritdoc/>
    public override void Dispose()
    {
        WE.Dispose();
        WPos.Dispose();
        LnFW.Dispose();
        LnFB.Dispose();
        foreach (var b in Blocks) b.Dispose();
    }
}
