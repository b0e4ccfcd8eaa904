using TorchSharp;
using System.Diagnostics;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

using PatchDescent.Model;
using PatchDescent.Search.Tasks;

namespace PatchDescent.Toys;

/// <summary>
/// How a toy model is trained: AdamW (beta 0.9, 0.98) with linear warmup, a global gradient-norm clip, a seed for the
/// weights and the data stream, and optionally, from step HeadSparsityFrom on, a group-lasso pressure of strength
/// HeadSparsity on whole attention heads (<see cref="Trainer.ShrinkHeads"/>).
/// </summary>
public sealed record TrainerOptions(
    int Steps = 3000, int BatchSize = 128, double LearningRate = 1e-3, double WeightDecay = 0.01,
    double ClipNorm = 1.0, int WarmupSteps = 100, int Seed = 1, int LogEvery = 50,
    double HeadSparsity = 0.0, int HeadSparsityFrom = 0);

/// <summary>One line of the loss curve: next-token cross-entropy (nats) of the step's batch, overall, on the positions only induction predicts, and on the others.</summary>
public sealed record TrainLog(int Step, double Loss, double PredictableLoss, double OtherLoss, double Seconds)
{
    /// <summary>The loss curve's CSV header.</summary>
    public const string CsvHeader = "step,loss,predictable_loss,other_loss,seconds";

    /// <summary>This line as CSV (invariant culture).</summary>
    public string ToCsv() => FormattableString.Invariant($"{Step},{Loss:G6},{PredictableLoss:G6},{OtherLoss:G6},{Seconds:F1}");
}

/// <summary>Trains a GPT-2 on the trigger task with TorchSharp autograd, deterministically on the CPU for a seed.</summary>
public static class Trainer
{
    const double Beta1 = 0.9, Beta2 = 0.98, Epsilon = 1e-8;

    /// <summary>GPT-2's initialisation, seeded: weights N(0, 0.02), output projections N(0, 0.02 / sqrt(2 layers)), biases 0, LayerNorms 1 and 0.</summary>
    public static Gpt2 Initialize(Gpt2Config config, int seed)
    {
        using var generator = new Generator((ulong)seed);
        using var scope = NewDisposeScope();
        Tensor Normal(double sd, params long[] shape) => (randn(shape, generator: generator) * sd).DetachFromDisposeScope();
        Tensor Constant(double value, params long[] shape) => full(shape, value).DetachFromDisposeScope();
        var (d, h, e, m) = (config.DModel, config.Heads, config.DHead, config.DMlp);
        var projection = 0.02 / Math.Sqrt(2 * config.Layers);
        var mlp = !config.AttnOnly;
        var blocks = Enumerable.Range(0, config.Layers).Select(_ => new Gpt2Block
        {
            Ln1W = Constant(1, d), Ln1B = Constant(0, d),
            WQkv = Normal(0.02, d, 3, h, e), BQkv = Constant(0, 3, h, e),
            WO = Normal(projection, h, e, d), BO = Constant(0, d),
            Ln2W = mlp ? Constant(1, d) : null, Ln2B = mlp ? Constant(0, d) : null,
            WIn = mlp ? Normal(0.02, d, m) : null, BIn = mlp ? Constant(0, m) : null,
            WOut = mlp ? Normal(projection, m, d) : null, BOut = mlp ? Constant(0, d) : null,
        }).ToList();
        return new Gpt2(config, Normal(0.02, config.VocabSize, d), Normal(0.01, config.Positions, d), blocks,
            Constant(1, d), Constant(0, d));
    }

    /// <summary>A batch of sequences: tokens [batch, seq_len] (int64) and a mask [batch, seq_len - 1] that is true where the next token is predictable only by induction.</summary>
    public static (Tensor Tokens, Tensor Predictable) Batch(TriggerTask task, Random rng, int batchSize)
    {
        var tokens = new long[batchSize * task.SeqLen];
        var predictable = new bool[batchSize * (task.SeqLen - 1)];
        for (var b = 0; b < batchSize; b++)
        {
            var s = task.Sample(rng);
            for (var t = 0; t < task.SeqLen; t++) tokens[b * task.SeqLen + t] = s.Tokens[t];
            foreach (var t in s.PredictablePositions(task)) predictable[b * (task.SeqLen - 1) + t - 1] = true;
        }
        return (tensor(tokens, [batchSize, task.SeqLen]), tensor(predictable, [batchSize, task.SeqLen - 1]));
    }

    /// <summary>Per-position next-token cross-entropy [batch, seq_len - 1] of <paramref name="model"/> on <paramref name="tokens"/>.</summary>
    public static Tensor TokenLosses(Gpt2 model, Tensor tokens)
    {
        using var scope = NewDisposeScope();
        var logits = model.Forward(tokens);                                                     // [batch, pos, vocab]
        var n = tokens.shape[1] - 1;
        var predicted = logits.narrow(1, 0, n);                                                 // [batch, pos - 1, vocab]
        var losses = F.cross_entropy(predicted.flatten(0, 1), tokens.narrow(1, 1, n).flatten(), reduction: nn.Reduction.None);
        return losses.view(tokens.shape[0], n).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Trains <paramref name="model"/>'s weights in place on fresh batches of <paramref name="task"/> (drawn from a
    /// Random seeded by the options' seed) to minimise next-token cross-entropy at every position, calling
    /// <paramref name="onLog"/> every LogEvery steps and after the last; the weights leave without gradients.
    /// The weights a seed gives are the same on every machine at one libtorch thread, which the process's owner sets
    /// (`toy train-induction` does): a library must not change that process-wide setting behind its caller's back.
    /// </summary>
    public static void Train(Gpt2 model, TriggerTask task, TrainerOptions options, Action<TrainLog> onLog)
    {
        if (task.Vocab != model.Config.VocabSize)
            throw new ArgumentException($"the task's vocabulary ({task.Vocab}) differs from the model's ({model.Config.VocabSize})");
        if (task.SeqLen > model.Config.Positions)
            throw new ArgumentException($"the task's {task.SeqLen}-token sequences exceed the model's {model.Config.Positions} positions");
        var parameters = model.Parameters().ToList();
        // Weight decay on matrices only (embeddings and projections), as in GPT-2: decaying norms and biases only hurts.
        var decays = parameters.Select(p => p.dim() >= 2).ToList();
        var moments = parameters.Select(p => (M: zeros_like(p).DetachFromDisposeScope(), V: zeros_like(p).DetachFromDisposeScope())).ToList();
        var rng = new Random(options.Seed);
        var clock = Stopwatch.StartNew();
        try
        {
            foreach (var p in parameters) p.requires_grad_(true);
            for (var step = 0; step < options.Steps; step++)
            {
                using var scope = NewDisposeScope();
                var (tokens, predictable) = Batch(task, rng, options.BatchSize);
                var losses = TokenLosses(model, tokens);
                var loss = losses.mean();
                loss.backward();
                var due = (step + 1) % options.LogEvery == 0 || step == options.Steps - 1;
                var log = due ? Summarize(step, losses, predictable, clock) : null;
                Update(parameters, decays, moments, options, step);
                if (options.HeadSparsity > 0 && step >= options.HeadSparsityFrom)
                    ShrinkHeads(model, Rate(options, step) * options.HeadSparsity);
                if (log is not null) onLog(log);
            }
        }
        finally
        {
            foreach (var p in parameters) p.requires_grad_(false);
            foreach (var (m, v) in moments)
            {
                m.Dispose();
                v.Dispose();
            }
        }
    }

    static TrainLog Summarize(int step, Tensor losses, Tensor predictable, Stopwatch clock)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var l = losses.detach();
        double MeanWhere(Tensor mask) =>
            mask.any().item<bool>() ? l.masked_select(mask).mean().item<float>() : double.NaN;
        return new TrainLog(step + 1, l.mean().item<float>(), MeanWhere(predictable), MeanWhere(predictable.logical_not()),
            clock.Elapsed.TotalSeconds);
    }

    static double Rate(TrainerOptions o, int step) => o.LearningRate * Math.Min(1.0, (step + 1.0) / Math.Max(1, o.WarmupSteps));

    /// <summary>
    /// The proximal step of a group lasso whose groups are whole heads (a head's slices of W_Q, W_K, W_V, their biases
    /// and W_O): each head's weights shrink towards 0 by <paramref name="amount"/> x sqrt(its size) in norm, and
    /// a head smaller than that becomes exactly 0.
    /// </summary>
    /// <remarks>
    /// Without it every layer-1 head of a 2-layer model becomes an induction head: the heads share the work, and the
    /// smallest circuit then holds every copy (models/induction-trigger-attn-2l4h/MODEL.md). A head that does work is
    /// pushed back by its gradient; one whose work others do has only noise to push it, and fades. Decoupled from Adam
    /// like AdamW's decay, because Adam's scale-free steps would let a penalty's gradient swamp the weak early signal
    /// of heads yet to form.
    /// </remarks>
    public static void ShrinkHeads(Gpt2 model, double amount)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        // Numbers go to libtorch as held Scalars, in the operations TorchSharp's operators would run (x / t is t's
        // reciprocal times x, 1 - t is -t + 1), so a seed's weights keep their bits; its own conversions leave their
        // Scalars to the finalizer, which another thread's collection can run mid-call (docs/SEMANTICS.md).
        using var one = 1.ToScalar();
        using var zero = 0.ToScalar();
        using var tiny = 1e-12.ToScalar();
        foreach (var b in model.Blocks)
        {
            var h = b.WO.shape[0];
            var size = (b.WQkv.numel() + b.BQkv.numel() + b.WO.numel()) / h;
            var norm = b.WQkv.square().sum([0, 1, 3]).add(b.BQkv.square().sum([0, 2]), one).add(b.WO.square().sum([1, 2]), one).sqrt(); // [head]
            using var shrink = (amount * Math.Sqrt(size)).ToScalar();
            var keep = norm.clamp_min(tiny).reciprocal().mul(shrink).negative().add(one, one).clamp_min(zero);             // [head], max(0, 1 - shrink / norm)
            b.WQkv.mul_(keep.view(1, 1, h, 1));
            b.BQkv.mul_(keep.view(1, h, 1));
            b.WO.mul_(keep.view(h, 1, 1));
        }
    }

    /// <summary>One AdamW step (decoupled weight decay, bias-corrected moments) after clipping the global gradient norm; written out in tensor ops so a seed gives the same weights.</summary>
    static void Update(List<Tensor> parameters, List<bool> decays, List<(Tensor M, Tensor V)> moments, TrainerOptions o, int step)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var grads = parameters.Select(p => p.grad ?? throw new InvalidOperationException("a weight received no gradient")).ToList();
        var norm = stack(grads.Select(g => g.square().sum()).ToArray()).sum().sqrt();
        // Held Scalars in TorchSharp's own operations (see ShrinkHeads), so a seed's weights keep their bits.
        using var one = 1.ToScalar();
        using var tiny = 1e-6.ToScalar();
        using var clip = o.ClipNorm.ToScalar();
        using var oneD = 1.0.ToScalar();
        var scale = norm.add(tiny, one).reciprocal().mul(clip).clamp_max(oneD);
        var rate = Rate(o, step);
        var t = step + 1.0;
        using var decay = (1 - rate * o.WeightDecay).ToScalar();
        using var b1 = Beta1.ToScalar();
        using var b2 = Beta2.ToScalar();
        using var rest1 = (1 - Beta1).ToScalar();
        using var rest2 = (1 - Beta2).ToScalar();
        using var correct1 = (1 - Math.Pow(Beta1, t)).ToScalar();
        using var correct2 = (1 - Math.Pow(Beta2, t)).ToScalar();
        using var eps = Epsilon.ToScalar();
        using var lr = rate.ToScalar();
        for (var i = 0; i < parameters.Count; i++)
        {
            var (p, g, (m, v)) = (parameters[i], grads[i] * scale, moments[i]);
            if (decays[i]) p.mul_(decay);
            m.mul_(b1).add_(g.mul(rest1), one);
            v.mul_(b2).add_(g.square().mul(rest2), one);
            var (mHat, vHat) = (m.div(correct1), v.div(correct2));
            p.sub_(mHat.div(vHat.sqrt().add(eps, one)).mul(lr));
            grads[i].zero_();
        }
    }
}
