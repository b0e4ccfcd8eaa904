using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PatchDescent.Model;

/// <summary>A hook: sees the activation at a hook point and returns what the forward pass continues with (the same tensor to only read).</summary>
public delegate Tensor Hook(Tensor activation);

/// <summary>GPT-2 (pre-LN blocks, causal attention, gelu_new MLP, tied unembedding) with TransformerLens hook points.</summary>
public sealed class Gpt2 : IDisposable
{
    static Gpt2() => CpuAllocator.KeepFreedMemory();

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

    /// <summary>Device of the parameters.</summary>
    public Device Device => WE.device;
    /// <summary>Compute dtype (float32 or bfloat16).</summary>
    public ScalarType DType => WE.dtype;

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

    /// <summary>Every parameter, in a fixed order.</summary>
    public IEnumerable<Tensor> Parameters() =>
        new[] { WE, WPos }.Concat(Blocks.SelectMany(b => b.Parameters())).Concat([LnFW, LnFB]);

    /// <summary>Number of scalar parameters (the tied unembedding counted once).</summary>
    public long ParameterCount => Parameters().Sum(p => p.NumberOfElements);

    /// <summary>Logits [batch, pos, vocab] for tokens [batch, pos]; <paramref name="attentionMask"/> [batch, pos] is 1 on real tokens, 0 on padding.</summary>
    public Tensor Forward(Tensor tokens, Tensor? attentionMask = null) => Run(tokens, attentionMask, HookRun.None);

    /// <summary>Forward pass in which each named hook may read or replace the activation at its hook point.</summary>
    public Tensor RunWithHooks(Tensor tokens, IReadOnlyDictionary<string, Hook> hooks, Tensor? attentionMask = null) =>
        Run(tokens, attentionMask, new HookRun(this, hooks, null, null));

    /// <summary>Forward pass that records activations (every hook point, or only <paramref name="names"/>), detached from autograd.</summary>
    public (Tensor Logits, ActivationCache Cache) RunWithCache(Tensor tokens, IEnumerable<string>? names = null, Tensor? attentionMask = null)
    {
        var cache = new ActivationCache();
        try
        {
            var logits = Run(tokens, attentionMask, new HookRun(this, null, names?.ToHashSet(), cache));
            return (logits, cache);
        }
        catch
        {
            cache.Dispose();
            throw;
        }
    }

    Tensor Run(Tensor tokens, Tensor? attentionMask, HookRun hooks)
    {
        using var scope = NewDisposeScope();
        CheckTokens(tokens, attentionMask);
        var (batch, pos) = (tokens.shape[0], tokens.shape[1]);
        var embed = hooks.At(HookPoints.Embed, TokenEmbedding(tokens));                              // [batch, pos, d_model]
        var posEmbed = hooks.At(HookPoints.PosEmbed, WPos.narrow(0, 0, pos).expand(batch, pos, -1));  // [batch, pos, d_model]
        using var one = 1.ToScalar();                                                                     // a + b's alpha, held (see Attention)
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
        using var one = 1.ToScalar();                                                                     // a + b's alpha, held (see Attention)
        resid = hooks.At(HookPoints.ResidPre(l), resid);
        var x = hooks.At(HookPoints.Ln1Normalized(l), LayerNorm(resid, b.Ln1W, b.Ln1B));
        var qkv = x.matmul(b.WQkv.flatten(1)).view(batch, pos, 3, Config.Heads, Config.DHead).add(b.BQkv, one); // [batch, pos, 3, head, d_head]
        var q = hooks.At(HookPoints.Q(l), qkv.select(2, 0));                                             // [batch, pos, head, d_head]
        var k = hooks.At(HookPoints.K(l), qkv.select(2, 1));
        var v = hooks.At(HookPoints.V(l), qkv.select(2, 2));
        var z = Attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), keyMask, hooks.PatternHook(l));
        z = hooks.At(HookPoints.Z(l), z.transpose(1, 2));                                              // [batch, pos, head, d_head]
        var attnOut = hooks.Wants(HookPoints.Result(l))
            ? hooks.At(HookPoints.Result(l), HeadResults(z, b.WO)).sum(2).add(b.BO, one)                   // via [batch, pos, head, d_model]
            : z.flatten(2).matmul(b.WO.flatten(0, 1)).add(b.BO, one);                                       // [batch, pos, d_model]
        attnOut = hooks.At(HookPoints.AttnOut(l), attnOut);
        if (!b.HasMlp) return hooks.At(HookPoints.ResidPost(l), resid.add(attnOut, one));

        var mid = hooks.At(HookPoints.ResidMid(l), resid.add(attnOut, one));
        var x2 = hooks.At(HookPoints.Ln2Normalized(l), LayerNorm(mid, b.Ln2W!, b.Ln2B!));
        var mlpOut = hooks.At(HookPoints.MlpOut(l), Mlp(b, x2, hooks, l));
        return hooks.At(HookPoints.ResidPost(l), mid.add(mlpOut, one));
    }

    Tensor TokenEmbedding(Tensor tokens) =>
        WE.index_select(0, tokens.to(Device).flatten()).view(tokens.shape[0], tokens.shape[1], -1);

    /// <summary>What the `input` node sends: token plus position embeddings [batch, pos, d_model] of tokens [batch, pos].</summary>
    public Tensor InputEmbedding(Tensor tokens)
    {
        using var scope = NewDisposeScope();
        CheckTokens(tokens, null);
        using var one = 1.ToScalar();                                                                     // a + b's alpha, held (see Attention)
        var input = TokenEmbedding(tokens).add(WPos.narrow(0, 0, tokens.shape[1]), one);
        return input.MoveToOuterDisposeScope();
    }

    /// <summary>Each head's output after W_O: z [batch, pos, head, d_head] -> [batch, pos, head, d_model].</summary>
    public static Tensor HeadResults(Tensor z, Tensor wO) => einsum("bphe,hed->bphd", z, wO);

    /// <summary>Causal softmax attention of per-head q, k, v [batch, head, pos, d_head]; returns z [batch, head, pos, d_head].</summary>
    public Tensor Attention(Tensor q, Tensor k, Tensor v, Tensor keyMask, Func<Tensor, Tensor>? patternHook = null)
    {
        // Numbers go to libtorch as Scalars held until the call returns: TorchSharp's own conversions leave theirs to
        // the finalizer, which a collection started by another thread can run while libtorch still reads them.
        using var scale = Math.Sqrt(Config.DHead).ToScalar();
        using var hidden = float.NegativeInfinity.ToScalar();
        var scores = q.matmul(k.transpose(-1, -2)).div(scale);                                          // [batch, head, query, key]
        var pattern = scores.masked_fill(keyMask, hidden).softmax(-1);
        if (patternHook is not null) pattern = patternHook(pattern);
        return pattern.matmul(v);                                                                      // [batch, head, pos, d_head]
    }

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

    Tensor Mlp(Gpt2Block b, Tensor x, HookRun hooks, int l) =>
        Mlp(b, x, hooks.IsEmpty ? null : hooks.At, l);

    /// <summary>LayerNorm over the last dimension with the model's epsilon.</summary>
    public Tensor LayerNorm(Tensor x, Tensor w, Tensor b) => F.layer_norm(x, [Config.DModel], w, b, Config.LayerNormEpsilon);

    /// <summary>True where a query may not look: future keys, and padding keys when a mask is given; [batch|1, 1, query, key].</summary>
    public Tensor CausalAndPaddingMask(long pos, Tensor? attentionMask)
    {
        var causal = ones(pos, pos, dtype: ScalarType.Bool, device: Device).triu(1).view(1, 1, pos, pos);
        if (attentionMask is null) return causal;
        using var zero = 0.ToScalar();                                                                    // held (see Attention)
        var padding = attentionMask.to(Device).eq(zero).view(attentionMask.shape[0], 1, 1, pos);
        return causal.logical_or(padding);
    }

    void CheckTokens(Tensor tokens, Tensor? attentionMask)
    {
        if (tokens.dim() != 2 || tokens.dtype != ScalarType.Int64)
            throw new ArgumentException($"tokens must be an int64 tensor [batch, pos]; got {tokens.dtype} [{string.Join(", ", tokens.shape)}]");
        if (tokens.shape[1] > Config.Positions)
            throw new ArgumentException($"a sequence of {tokens.shape[1]} tokens exceeds the model's {Config.Positions} positions");
        if (tokens.shape[1] == 0) throw new ArgumentException("a sequence needs at least one token");
        var (min, max) = (tokens.min().item<long>(), tokens.max().item<long>());
        if (min < 0 || max >= Config.VocabSize)
            throw new ArgumentException($"token id {(min < 0 ? min : max)} is outside the vocabulary [0, {Config.VocabSize})");
        if (attentionMask is not null && !attentionMask.shape.SequenceEqual(tokens.shape))
            throw new ArgumentException(
                $"attention mask [{string.Join(", ", attentionMask.shape)}] does not match tokens [{string.Join(", ", tokens.shape)}]");
    }

    /// <summary>A model of <paramref name="config"/>'s shape with every parameter (norms and biases too) drawn from a seeded normal, for tests and training.</summary>
    public static Gpt2 Random(Gpt2Config config, int seed, Device? device = null, ScalarType dtype = ScalarType.Float32, double std = 0.02)
    {
        using var generator = new Generator((ulong)seed);
        device ??= CPU;
        // Every chain of tensor calls runs in a dispose scope: a temporary outside one is only reachable through
        // its native handle, and the finalizer thread may free it while the next native call still reads it.
        using var scope = NewDisposeScope();
        Tensor Normal(double mean, double sd, params long[] shape) =>
            (randn(shape, generator: generator) * sd + mean).to(dtype, device).DetachFromDisposeScope();
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

    /// <summary>Frees every parameter.</summary>
    public void Dispose()
    {
        WE.Dispose();
        WPos.Dispose();
        LnFW.Dispose();
        LnFB.Dispose();
        foreach (var b in Blocks) b.Dispose();
    }

    /// <summary>The hooks and cache of one forward pass.</summary>
    sealed class HookRun(Gpt2 model, IReadOnlyDictionary<string, Hook>? hooks, HashSet<string>? cacheNames, ActivationCache? cache)
    {
        public static readonly HookRun None = new(null!, null, null, null);

        readonly HashSet<string>? _known = hooks is null && cacheNames is null ? null : HookPoints.All(model.Config).ToHashSet();

        public bool IsEmpty => hooks is null && cache is null;

        public bool Wants(string name) =>
            hooks?.ContainsKey(name) == true || (cache is not null && (cacheNames is null || cacheNames.Contains(name)));

        public Tensor At(string name, Tensor activation)
        {
            if (IsEmpty) return activation;
            CheckNames();
            if (hooks is not null && hooks.TryGetValue(name, out var hook))
            {
                var replaced = hook(activation);
                if (!replaced.shape.SequenceEqual(activation.shape))
                    throw new ArgumentException(
                        $"hook '{name}' returned shape [{string.Join(", ", replaced.shape)}], expected [{string.Join(", ", activation.shape)}]");
                activation = replaced;
            }
            if (cache is not null && (cacheNames is null || cacheNames.Contains(name)))
                cache.Add(name, activation.detach().MoveToOuterDisposeScope());
            return activation;
        }

        public Func<Tensor, Tensor>? PatternHook(int layer) =>
            Wants(HookPoints.Pattern(layer)) ? p => At(HookPoints.Pattern(layer), p) : null;

        bool _checked;

        void CheckNames()
        {
            if (_checked) return;
            _checked = true;
            var unknown = (hooks?.Keys ?? []).Concat(cacheNames ?? []).Where(n => !_known!.Contains(n)).ToList();
            if (unknown.Count > 0)
                throw new ArgumentException(
                    $"unknown hook point(s) {string.Join(", ", unknown.Select(n => $"'{n}'"))} for this model; " +
                    $"names follow TransformerLens, e.g. '{HookPoints.ResidPre(0)}'");
        }
    }
}
