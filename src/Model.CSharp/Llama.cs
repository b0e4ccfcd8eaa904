using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PatchDescent.Model;

/// <summary>A Llama-family decoder (Llama, Qwen2): RMSNorm, rotary attention with grouped keys and values, SwiGLU MLP,
/// tied or untied unembedding; TransformerLens hook names, keys and values ungrouped to one per query head.</summary>
public sealed class Llama : Decoder
{
    /// <summary>The model's shape.</summary>
    public LlamaConfig Config { get; }
    /// <summary>embed_tokens, [vocab, d_model].</summary>
    public Tensor Embed { get; }
    /// <summary>lm_head, [vocab, d_model]; the same tensor as <see cref="Embed"/> when tied.</summary>
    public Tensor LmHead { get; }
    /// <summary>The final norm's scale, [d_model].</summary>
    public Tensor NormW { get; }
    /// <summary>The blocks, in order.</summary>
    public IReadOnlyList<LlamaBlock> Blocks { get; }

    readonly RotaryEmbedding _rotary;

    /// <summary>Takes ownership of the given parameters; <paramref name="lmHead"/> null ties the unembedding to <paramref name="embed"/>.</summary>
    public Llama(LlamaConfig config, Tensor embed, IReadOnlyList<LlamaBlock> blocks, Tensor normW, Tensor? lmHead)
    {
        if (config.TiedEmbeddings != lmHead is null)
            throw new ArgumentException($"tie_word_embeddings is {config.TiedEmbeddings}, so lm_head must {(config.TiedEmbeddings ? "not " : "")}be given");
        Config = config;
        Embed = embed;
        Blocks = blocks;
        NormW = normW;
        LmHead = lmHead ?? embed;
        _rotary = new RotaryEmbedding(config, embed.device);
    }

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
    public override bool HasMlp => true;
    /// <inheritdoc/>
    public override string ModelType => Config.ModelType;
    /// <inheritdoc/>
    public override Device Device => Embed.device;
    /// <inheritdoc/>
    public override ScalarType DType => Embed.dtype;

    /// <inheritdoc/>
    public override IEnumerable<Tensor> Parameters() =>
        new[] { Embed }.Concat(Blocks.SelectMany(b => b.Parameters())).Concat(Config.TiedEmbeddings ? [NormW] : [NormW, LmHead]);

    /// <inheritdoc/>
    public override IReadOnlyList<string> HookNames() => HookPoints.All(Config);

    /// <inheritdoc/>
    protected override Tensor Run(Tensor tokens, Tensor? attentionMask, HookRun hooks)
    {
        using var scope = NewDisposeScope();
        CheckTokens(tokens, attentionMask);
        var resid = hooks.At(HookPoints.Embed, TokenEmbedding(tokens));                              // [batch, pos, d_model]
        var keyMask = CausalAndPaddingMask(tokens.shape[1], attentionMask);                             // [batch|1, 1, query, key]
        for (var l = 0; l < Blocks.Count; l++)
            resid = BlockForward(l, resid, keyMask, hooks);
        var normalized = hooks.At(HookPoints.LnFinalNormalized, RmsNorm(resid, NormW));
        return normalized.matmul(LmHead.t()).MoveToOuterDisposeScope();                                 // [batch, pos, vocab]
    }

    Tensor BlockForward(int l, Tensor resid, Tensor keyMask, HookRun hooks)
    {
        var b = Blocks[l];
        var (batch, pos) = (resid.shape[0], resid.shape[1]);
        var (h, kv, e) = ((long)Config.Heads, (long)Config.KvHeads, (long)Config.DHead);
        using var one = 1.ToScalar();                                                                   // a + b's alpha, held (see SoftmaxAttention)
        resid = hooks.At(HookPoints.ResidPre(l), resid);
        var x = hooks.At(HookPoints.Ln1Normalized(l), RmsNorm(resid, b.Ln1W));
        var q = hooks.At(HookPoints.Q(l), F.linear(x, b.WQ, b.BQ).view(batch, pos, h, e));           // [batch, pos, head, d_head]
        var k = hooks.At(HookPoints.K(l), Ungroup(F.linear(x, b.WK, b.BK).view(batch, pos, kv, e), 2)); // [batch, pos, head, d_head]
        var v = hooks.At(HookPoints.V(l), Ungroup(F.linear(x, b.WV, b.BV).view(batch, pos, kv, e), 2));
        var z = Attention(l, q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), keyMask, hooks.OrNull);
        z = hooks.At(HookPoints.Z(l), z.transpose(1, 2));                                              // [batch, pos, head, d_head]
        var attnOut = hooks.Wants(HookPoints.Result(l))
            ? hooks.At(HookPoints.Result(l), HeadResults(z, b.WO)).sum(2)                                // via [batch, pos, head, d_model]
            : z.flatten(2).matmul(b.WO.flatten(0, 1));                                                  // [batch, pos, d_model]
        if (b.BO is not null) attnOut = attnOut.add(b.BO, one);
        attnOut = hooks.At(HookPoints.AttnOut(l), attnOut);
        var mid = hooks.At(HookPoints.ResidMid(l), resid.add(attnOut, one));
        var x2 = hooks.At(HookPoints.Ln2Normalized(l), RmsNorm(mid, b.Ln2W));
        var mlpOut = hooks.At(HookPoints.MlpOut(l), Mlp(b, x2, hooks.OrNull, l));
        return hooks.At(HookPoints.ResidPost(l), mid.add(mlpOut, one));
    }

    /// <summary>Grouped key or value heads [..., kv_head (at <paramref name="dim"/>), ...] repeated for the query heads
    /// that share them, as transformers' repeat_kv: query head i reads kv head i / group.</summary>
    Tensor Ungroup(Tensor grouped, int dim)
    {
        if (Config.Group == 1) return grouped;
        var shape = grouped.shape;
        var expanded = shape.Take(dim + 1).Append(Config.Group).Concat(shape.Skip(dim + 1)).ToArray();
        var merged = shape.Take(dim).Append(shape[dim] * Config.Group).Concat(shape.Skip(dim + 1)).ToArray();
        return grouped.unsqueeze(dim + 1).expand(expanded).reshape(merged);
    }

    Tensor TokenEmbedding(Tensor tokens) =>
        Embed.index_select(0, tokens.to(Device).flatten()).view(tokens.shape[0], tokens.shape[1], -1);

    /// <inheritdoc/>
    public override Tensor InputEmbedding(Tensor tokens)
    {
        using var scope = NewDisposeScope();
        CheckTokens(tokens, null);
        return TokenEmbedding(tokens).MoveToOuterDisposeScope();
    }

    /// <summary>RMSNorm as transformers computes it: in float32 (float64 stays float64), x / sqrt(mean(x^2) + eps), back to the input dtype, times the scale.</summary>
    public Tensor RmsNorm(Tensor x, Tensor w)
    {
        using var scope = NewDisposeScope();
        using var eps = Config.RmsNormEpsilon.ToScalar();
        var wide = x.dtype == ScalarType.Float64 ? x : x.to(ScalarType.Float32);
        var variance = wide.square().mean([-1L], keepdim: true);                                         // [..., 1]
        return w.mul(wide.mul(variance.add(eps).rsqrt()).to(x.dtype)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public override Tensor Attention(int layer, Tensor q, Tensor k, Tensor v, Tensor keyMask, Func<string, Tensor, Tensor>? at = null)
    {
        // hook_rot_q and hook_rot_k hold [batch, pos, head, d_head], as TransformerLens's do.
        Tensor Rotated(Tensor x, string name) =>
            at is null ? _rotary.Apply(x) : at(name, _rotary.Apply(x).transpose(1, 2)).transpose(1, 2);
        return SoftmaxAttention(Rotated(q, HookPoints.RotQ(layer)), Rotated(k, HookPoints.RotK(layer)), v, keyMask,
            at is null ? null : p => at(HookPoints.Pattern(layer), p));
    }

    /// <summary>SwiGLU: down(silu(gate(x)) * up(x)) on the normalised input [batch, pos, d_model].</summary>
    public Tensor Mlp(LlamaBlock b, Tensor x, Func<string, Tensor, Tensor>? at = null, int l = 0)
    {
        var gate = F.linear(x, b.WGate);                                                                // [batch, pos, d_mlp]
        if (at is not null) gate = at(HookPoints.MlpPre(l), gate);
        var up = F.linear(x, b.WUp);
        if (at is not null) up = at(HookPoints.MlpPreLinear(l), up);
        var post = F.silu(gate).mul(up);
        if (at is not null) post = at(HookPoints.MlpPost(l), post);
        return F.linear(post, b.WDown);                                                                 // [batch, pos, d_model]
    }

    /// <inheritdoc/>
    public override Tensor NormalizeAttentionInput(int layer, Tensor x) => RmsNorm(x, Blocks[layer].Ln1W);

    /// <inheritdoc/>
    public override Tensor QkvWeights(int layer)
    {
        using var scope = NewDisposeScope();
        var b = Blocks[layer];
        var (h, kv, e, d) = ((long)Config.Heads, (long)Config.KvHeads, (long)Config.DHead, (long)Config.DModel);
        Tensor PerHead(Tensor w, long n) => w.view(n, e, d).transpose(1, 2);                           // [n, d_model, d_head]
        return cat([PerHead(b.WQ, h), Ungroup(PerHead(b.WK, kv), 0), Ungroup(PerHead(b.WV, kv), 0)], 0)
            .MoveToOuterDisposeScope();                                                                 // [3 * head, d_model, d_head]
    }

    /// <inheritdoc/>
    public override Tensor? QkvBias(int layer)
    {
        var b = Blocks[layer];
        if (b.BQ is null) return null;
        using var scope = NewDisposeScope();
        var (h, kv, e) = ((long)Config.Heads, (long)Config.KvHeads, (long)Config.DHead);
        return cat([b.BQ.view(h, 1, e), Ungroup(b.BK!.view(kv, 1, e), 0), Ungroup(b.BV!.view(kv, 1, e), 0)], 0)
            .MoveToOuterDisposeScope();                                                                 // [3 * head, 1, d_head]
    }

    /// <inheritdoc/>
    public override Tensor HeadOutputWeights(int layer) => Blocks[layer].WO;

    /// <inheritdoc/>
    public override Tensor? AttentionOutputBias(int layer) => Blocks[layer].BO;

    /// <inheritdoc/>
    public override Tensor MlpOutput(int layer, Tensor resid) => Mlp(Blocks[layer], RmsNorm(resid, Blocks[layer].Ln2W));

    /// <inheritdoc/>
    public override Tensor? MlpOutputBias(int layer) => null;

    /// <inheritdoc/>
    public override Tensor Unembed(Tensor resid) => RmsNorm(resid, NormW).matmul(LmHead.t());             // [..., vocab]

    /// <summary>A model of <paramref name="config"/>'s shape with every parameter drawn from a seeded normal (norm scales about 1), for tests and benchmarks.</summary>
    public static Llama Random(LlamaConfig config, int seed, Device? device = null, ScalarType dtype = ScalarType.Float32, double std = 0.02)
    {
        using var generator = new Generator((ulong)seed);
        // Every chain of tensor calls runs in a dispose scope: a temporary outside one is only reachable through
        // its native handle, and the finalizer thread may free it while the next native call still reads it.
        using var scope = NewDisposeScope();
        var Normal = SeededNormal(generator, dtype, device ?? CPU);
        var (d, h, kv, e, m) = ((long)config.DModel, (long)config.Heads, (long)config.KvHeads, (long)config.DHead, (long)config.DMlp);
        var blocks = Enumerable.Range(0, config.Layers).Select(_ => new LlamaBlock
        {
            Ln1W = Normal(1, 0.1, d),
            WQ = Normal(0, std, h * e, d), BQ = config.QkvBias ? Normal(0, std, h * e) : null,
            WK = Normal(0, std, kv * e, d), BK = config.QkvBias ? Normal(0, std, kv * e) : null,
            WV = Normal(0, std, kv * e, d), BV = config.QkvBias ? Normal(0, std, kv * e) : null,
            WO = Normal(0, std, h, e, d), BO = config.OutputBias ? Normal(0, std, d) : null,
            Ln2W = Normal(1, 0.1, d),
            WGate = Normal(0, std, m, d), WUp = Normal(0, std, m, d), WDown = Normal(0, std, d, m),
        }).ToList();
        var embed = Normal(0, std, config.VocabSize, d);
        return new Llama(config, embed, blocks, Normal(1, 0.1, d), config.TiedEmbeddings ? null : Normal(0, std, config.VocabSize, d));
    }

    /// <inheritdoc/>
    public override void Dispose()
    {
        Embed.Dispose();
        NormW.Dispose();
        if (!Config.TiedEmbeddings) LmHead.Dispose();
        foreach (var b in Blocks) b.Dispose();
        _rotary.Dispose();
    }
}
