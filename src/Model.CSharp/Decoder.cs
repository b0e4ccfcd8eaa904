using TorchSharp;
using static TorchSharp.torch;

namespace PatchDescent.Model;

/// <summary>A hook: sees the activation at a hook point and returns what the forward pass continues with (the same tensor to only read).</summary>
public delegate Tensor Hook(Tensor activation);

/// <summary>
/// A decoder-only transformer with TransformerLens hook points (GPT-2, and the Llama family), and the pieces its edge
/// graph is made of: the input node's embedding, each layer's per-head projections, attention and head outputs, its
/// MLP and the unembedding. Every query head reads its own q, k and v (grouped keys and values ungrouped, as MIB does).
/// </summary>
public abstract class Decoder : IDisposable
{
    static Decoder() => CpuAllocator.KeepFreedMemory();

    /// <summary>Transformer blocks.</summary>
    public abstract int Layers { get; }
    /// <summary>Query heads per block.</summary>
    public abstract int Heads { get; }
    /// <summary>Residual width.</summary>
    public abstract int DModel { get; }
    /// <summary>Width of one head's q, k and v.</summary>
    public abstract int DHead { get; }
    /// <summary>Vocabulary size.</summary>
    public abstract int VocabSize { get; }
    /// <summary>Longest sequence the model takes.</summary>
    public abstract int Positions { get; }
    /// <summary>Whether the blocks have MLPs.</summary>
    public abstract bool HasMlp { get; }
    /// <summary>Hugging Face's model_type: gpt2, llama or qwen2.</summary>
    public abstract string ModelType { get; }
    /// <summary>Device of the parameters.</summary>
    public abstract Device Device { get; }
    /// <summary>Compute dtype (float32 or bfloat16).</summary>
    public abstract ScalarType DType { get; }
    /// <summary>Every parameter, in a fixed order, each once.</summary>
    public abstract IEnumerable<Tensor> Parameters();
    /// <summary>Number of scalar parameters (a tied unembedding counted once).</summary>
    public long ParameterCount => Parameters().Sum(p => p.NumberOfElements);
    /// <summary>Every hook point of the model, in the order the forward pass reaches them.</summary>
    public abstract IReadOnlyList<string> HookNames();

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

    /// <summary>The forward pass through <paramref name="hooks"/>; tokens are checked, the result is the caller's.</summary>
    protected abstract Tensor Run(Tensor tokens, Tensor? attentionMask, HookRun hooks);

    /// <summary>What the `input` node sends: the embeddings [batch, pos, d_model] of tokens [batch, pos] (token plus position for GPT-2).</summary>
    public abstract Tensor InputEmbedding(Tensor tokens);

    /// <summary>Block <paramref name="layer"/>'s normalisation before attention (LayerNorm or RMSNorm, with its scale), on [..., d_model].</summary>
    public abstract Tensor NormalizeAttentionInput(int layer, Tensor x);

    /// <summary>Every query head's q, k and v projections, [3 * head, d_model, d_head] (port-major; keys and values ungrouped); a new tensor, the caller's.</summary>
    public abstract Tensor QkvWeights(int layer);

    /// <summary>The q, k and v biases, [3 * head, 1, d_head] (port-major, ungrouped), a new tensor; null where the model has none.</summary>
    public abstract Tensor? QkvBias(int layer);

    /// <summary>Causal softmax attention of per-head q, k, v [batch, head, pos, d_head] (rotary applied inside for the Llama family); returns z [batch, head, pos, d_head].</summary>
    public abstract Tensor Attention(int layer, Tensor q, Tensor k, Tensor v, Tensor keyMask, Func<string, Tensor, Tensor>? at = null);

    /// <summary>Each head's output projection W_O, [head, d_head, d_model].</summary>
    public abstract Tensor HeadOutputWeights(int layer);

    /// <summary>The attention output bias b_O, [d_model]; null where the model has none.</summary>
    public abstract Tensor? AttentionOutputBias(int layer);

    /// <summary>Block <paramref name="layer"/>'s MLP output [batch, pos, d_model], bias included, from its residual input (normalised here).</summary>
    public abstract Tensor MlpOutput(int layer, Tensor resid);

    /// <summary>The MLP's output bias, [d_model]; null where the model has none.</summary>
    public abstract Tensor? MlpOutputBias(int layer);

    /// <summary>Logits [..., vocab] of a final residual [..., d_model]: the final norm, then the unembedding.</summary>
    public abstract Tensor Unembed(Tensor resid);

    /// <summary>True where a query may not look: future keys, and padding keys when a mask is given; [batch|1, 1, query, key].</summary>
    public Tensor CausalAndPaddingMask(long pos, Tensor? attentionMask)
    {
        var causal = ones(pos, pos, dtype: ScalarType.Bool, device: Device).triu(1).view(1, 1, pos, pos);
        if (attentionMask is null) return causal;
        using var zero = 0.ToScalar();                                                                    // held (see SoftmaxAttention)
        var padding = attentionMask.to(Device).eq(zero).view(attentionMask.shape[0], 1, 1, pos);
        return causal.logical_or(padding);
    }

    /// <summary>Causal softmax attention with scale 1 / sqrt(d_head); q, k, v [batch, head, pos, d_head] -> z [batch, head, pos, d_head].</summary>
    protected Tensor SoftmaxAttention(Tensor q, Tensor k, Tensor v, Tensor keyMask, Func<Tensor, Tensor>? patternHook)
    {
        // Numbers go to libtorch as Scalars held until the call returns: TorchSharp's own conversions leave theirs to
        // the finalizer, which a collection started by another thread can run while libtorch still reads them.
        using var scale = Math.Sqrt(DHead).ToScalar();
        using var hidden = float.NegativeInfinity.ToScalar();
        var scores = q.matmul(k.transpose(-1, -2)).div(scale);                                          // [batch, head, query, key]
        var pattern = scores.masked_fill(keyMask, hidden).softmax(-1);
        if (patternHook is not null) pattern = patternHook(pattern);
        return pattern.matmul(v);                                                                      // [batch, head, pos, d_head]
    }

    /// <summary>Each head's output after W_O: z [batch, pos, head, d_head] -> [batch, pos, head, d_model].</summary>
    public static Tensor HeadResults(Tensor z, Tensor wO) => einsum("bphe,hed->bphd", z, wO);

    /// <summary>Checks tokens [batch, pos] (int64, within the vocabulary and the positions) and the mask's shape.</summary>
    protected void CheckTokens(Tensor tokens, Tensor? attentionMask)
    {
        if (tokens.dim() != 2 || tokens.dtype != ScalarType.Int64)
            throw new ArgumentException($"tokens must be an int64 tensor [batch, pos]; got {tokens.dtype} [{string.Join(", ", tokens.shape)}]");
        if (tokens.shape[1] > Positions)
            throw new ArgumentException($"a sequence of {tokens.shape[1]} tokens exceeds the model's {Positions} positions");
        if (tokens.shape[1] == 0) throw new ArgumentException("a sequence needs at least one token");
        var (min, max) = (tokens.min().item<long>(), tokens.max().item<long>());
        if (min < 0 || max >= VocabSize)
            throw new ArgumentException($"token id {(min < 0 ? min : max)} is outside the vocabulary [0, {VocabSize})");
        if (attentionMask is not null && !attentionMask.shape.SequenceEqual(tokens.shape))
            throw new ArgumentException(
                $"attention mask [{string.Join(", ", attentionMask.shape)}] does not match tokens [{string.Join(", ", tokens.shape)}]");
    }

    /// <summary>A tensor of <paramref name="shape"/> drawn from N(<paramref name="mean"/>, <paramref name="sd"/>).</summary>
    protected delegate Tensor NormalDraw(double mean, double sd, params long[] shape);

    /// <summary>Draws tensors N(mean, sd) of a shape from <paramref name="generator"/>, in <paramref name="dtype"/> on <paramref name="device"/>, detached from the open dispose scope: random models' parameters.</summary>
    protected static NormalDraw SeededNormal(Generator generator, ScalarType dtype, Device device) =>
        (mean, sd, shape) => (randn(shape, generator: generator) * sd + mean).to(dtype, device).DetachFromDisposeScope();

    /// <summary>Frees every parameter.</summary>
    public abstract void Dispose();

    /// <summary>The hooks and cache of one forward pass.</summary>
    protected sealed class HookRun(Decoder model, IReadOnlyDictionary<string, Hook>? hooks, HashSet<string>? cacheNames, ActivationCache? cache)
    {
        /// <summary>A pass with no hooks and no cache.</summary>
        public static readonly HookRun None = new(null!, null, null, null);

        readonly HashSet<string>? _known = hooks is null && cacheNames is null ? null : model.HookNames().ToHashSet();

        /// <summary>Whether nothing is hooked or cached.</summary>
        public bool IsEmpty => hooks is null && cache is null;

        /// <summary>Whether <paramref name="name"/> is hooked or cached, for activations computed only on demand.</summary>
        public bool Wants(string name) =>
            hooks?.ContainsKey(name) == true || (cache is not null && (cacheNames is null || cacheNames.Contains(name)));

        /// <summary>The activation at <paramref name="name"/> after its hook, recorded when cached.</summary>
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

        /// <summary><see cref="At"/> as a function, or null when nothing is hooked or cached.</summary>
        public Func<string, Tensor, Tensor>? OrNull => IsEmpty ? null : At;

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
