using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

using PatchDescent.Model;
using PatchDescent.Search.Tasks;

namespace PatchDescent.Toys;

/// <summary>One head's attention scores on the trigger task.</summary>
/// <param name="Layer">The head's layer.</param>
/// <param name="Head">The head's index in its layer.</param>
/// <param name="PreviousToken">Mean attention from t to t - 1 over every position t >= 1.</param>
/// <param name="PreviousTokenWhereRead">Mean attention from t to t - 1 at the positions induction reads: t whose token t - 1 is a trigger that occurs again later.</param>
/// <param name="Induction">Mean attention mass from a trigger's repeated occurrence onto the tokens that followed its earlier occurrences.</param>
public sealed record HeadScores(int Layer, int Head, double PreviousToken, double PreviousTokenWhereRead, double Induction)
{
    /// <summary>The head's name in the edge graph, a{layer}.h{head}.</summary>
    public string Name => $"a{Layer}.h{Head}";
}

/// <summary>What zero-ablating the previous-token heads' outputs does to an induction head's score.</summary>
public sealed record AblationEffect(string Ablated, string InductionHead, double Before, double After)
{
    /// <summary>Whether the ablation cut the score by at least half.</summary>
    public bool Halves => After <= Before / 2;
}

/// <summary>Every figure of the mechanism check and the ground truth it establishes.</summary>
public sealed record InductionReport(
    IReadOnlyList<HeadScores> Heads,
    IReadOnlyList<HeadScores> PreviousTokenHeads,
    IReadOnlyList<HeadScores> InductionHeads,
    double PredictableLoss, double OtherLoss, double FirstOutputLoss, double LnVocab, double BigramEntropy,
    IReadOnlyList<AblationEffect> Ablations, int Sequences, int PredictablePositions)
{
    /// <summary>The bar both scores must reach for a head to count as ground truth.</summary>
    public const double HeadBar = 0.7;

    /// <summary>Whether the predictable positions' loss is below 0.1 ln V.</summary>
    public bool LossPasses => PredictableLoss < 0.1 * LnVocab;

    /// <summary>Whether ablating all previous-token heads together halves every induction head's score.</summary>
    public bool AblationPasses =>
        Ablations.Any(a => a.Ablated == AllPreviousTokenHeads) && Ablations.Where(a => a.Ablated == AllPreviousTokenHeads).All(a => a.Halves);

    /// <summary>The name of the ablation that removes every previous-token head at once.</summary>
    public string AllPreviousTokenHeads => string.Join("+", PreviousTokenHeads.Select(h => h.Name));

    /// <summary>Whether the model has clean heads: one of each kind, the loss bar and the ablation bar.</summary>
    public bool Passes => PreviousTokenHeads.Count > 0 && InductionHeads.Count > 0 && LossPasses && AblationPasses;

    /// <summary>Every figure, one per line, as `toy check` prints it and MODEL.md records it.</summary>
    public IEnumerable<string> Lines()
    {
        yield return $"mechanism check on {Sequences} sequences ({PredictablePositions} positions predictable only by induction)";
        yield return "head     prev-token  prev-token where read  induction";
        foreach (var h in Heads)
            yield return FormattableString.Invariant($"{h.Name,-8} {h.PreviousToken,10:F3}  {h.PreviousTokenWhereRead,21:F3}  {h.Induction,9:F3}");
        yield return FormattableString.Invariant(
            $"loss on predictable positions {PredictableLoss:F4} nats (bar < 0.1 ln V = {0.1 * LnVocab:F4}): {(LossPasses ? "pass" : "FAIL")}");
        yield return FormattableString.Invariant(
            $"loss on other positions {OtherLoss:F4} nats (ln V = {LnVocab:F4}, bigram entropy {BigramEntropy:F4}); after a trigger's first occurrence {FirstOutputLoss:F4}");
        yield return $"previous-token heads (score where read >= {HeadBar}): {Names(PreviousTokenHeads)}";
        yield return $"induction heads (score >= {HeadBar}): {Names(InductionHeads)}";
        foreach (var a in Ablations)
            yield return FormattableString.Invariant(
                $"zero-ablating {a.Ablated}: {a.InductionHead} induction {a.Before:F3} -> {a.After:F3} ({(a.Halves ? "halved" : "not halved")})");
        yield return $"mechanism check: {(Passes ? "PASS" : "FAIL")}";
    }

    static string Names(IReadOnlyList<HeadScores> heads) => heads.Count == 0 ? "none" : string.Join(", ", heads.Select(h => h.Name));
}

/// <summary>
/// The independent mechanism check of a trigger-task model: from attention patterns (<see cref="HookPoints.Pattern"/>)
/// and zero ablations of head outputs (<see cref="HookPoints.Result"/>), never from circuit discovery.
/// </summary>
public static class InductionCheck
{
    /// <summary>Samples <paramref name="sequences"/> sequences of <paramref name="task"/> (seeded) and measures every head, the losses, and the ablation of the previous-token heads.</summary>
    public static InductionReport Run(Gpt2 model, TriggerTask task, int sequences = 128, int seed = 12345)
    {
        var rng = new Random(seed);
        var samples = Enumerable.Range(0, sequences).Select(_ => task.Sample(rng)).ToList();
        var layers = model.Config.Layers;
        var heads = model.Config.Heads;
        using var scope = NewDisposeScope();
        var tokens = tensor(samples.SelectMany(s => s.Tokens.Select(t => (long)t)).ToArray(), [sequences, task.SeqLen]);
        var (logits, cache) = model.RunWithCache(tokens, Enumerable.Range(0, layers).Select(HookPoints.Pattern));
        using var _ = cache;
        var patterns = Enumerable.Range(0, layers).Select(l => Floats(cache[HookPoints.Pattern(l)])).ToList();
        var positions = Positions.Of(samples, task);

        var scores = new List<HeadScores>();
        for (var l = 0; l < layers; l++)
            for (var h = 0; h < heads; h++)
            {
                var p = new PatternView(patterns[l], heads, task.SeqLen, h);
                scores.Add(new HeadScores(l, h,
                    Mean(positions.All.Select(x => p[x.Seq, x.T, x.T - 1])),
                    Mean(positions.Read.Select(x => p[x.Seq, x.T, x.T - 1])),
                    InductionScore(p, positions)));
            }

        var induction = scores.Where(s => s.Induction >= InductionReport.HeadBar).OrderByDescending(s => s.Induction).ToList();
        var firstInductionLayer = induction.Count > 0 ? induction.Min(s => s.Layer) : layers;
        var previous = scores.Where(s => s.Layer < firstInductionLayer && s.PreviousTokenWhereRead >= InductionReport.HeadBar)
            .OrderByDescending(s => s.PreviousTokenWhereRead).ToList();

        var losses = Floats(TokenLosses(logits, tokens));       // [seq][t - 1] flattened
        double LossAt(IEnumerable<(int Seq, int T)> at) => Mean(at.Select(x => losses[x.Seq * (task.SeqLen - 1) + x.T - 1]));

        var ablations = new List<AblationEffect>();
        var groups = previous.Select(p => new[] { p }).ToList();
        if (previous.Count > 1) groups.Add(previous.ToArray());
        foreach (var group in groups)
        {
            var ablated = Ablated(model, tokens, group, induction.Select(i => i.Layer).Distinct());
            foreach (var i in induction)
            {
                var p = new PatternView(ablated[i.Layer], heads, task.SeqLen, i.Head);
                ablations.Add(new AblationEffect(string.Join("+", group.Select(g => g.Name)), i.Name, i.Induction, InductionScore(p, positions)));
            }
        }

        return new InductionReport(scores, previous, induction,
            LossAt(positions.Predictable), LossAt(positions.Other), LossAt(positions.FirstOutput),
            Math.Log(task.Vocab), task.MeanBigramEntropy, ablations, sequences, positions.Predictable.Count);
    }

    /// <summary>Mean attention from each trigger's repeated occurrence (the query predicting the token only induction knows) onto every position that followed an earlier occurrence.</summary>
    static double InductionScore(PatternView p, Positions positions) =>
        Mean(positions.Repeats.Select(r => r.Targets.Sum(k => p[r.Seq, r.Query, k])));

    /// <summary>Patterns of the given layers with the heads' outputs (hook_result) zeroed; [seq, head, query, key] flattened.</summary>
    static Dictionary<int, float[]> Ablated(Gpt2 model, Tensor tokens, IReadOnlyList<HeadScores> zeroed, IEnumerable<int> readLayers)
    {
        using var scope = NewDisposeScope();
        var captured = new Dictionary<int, float[]>();
        var hooks = new Dictionary<string, Hook>();
        foreach (var layer in zeroed.GroupBy(z => z.Layer))
        {
            var mask = Enumerable.Repeat(1f, model.Config.Heads).ToArray();
            foreach (var z in layer) mask[z.Head] = 0;
            var keep = tensor(mask);
            hooks[HookPoints.Result(layer.Key)] = r => r * keep.view(1, 1, -1, 1);    // [batch, pos, head, d_model]
        }
        foreach (var l in readLayers)
            hooks[HookPoints.Pattern(l)] = p =>
            {
                captured[l] = Floats(p);
                return p;
            };
        model.RunWithHooks(tokens, hooks);
        return captured;
    }

    static Tensor TokenLosses(Tensor logits, Tensor tokens)
    {
        using var scope = NewDisposeScope();
        var n = tokens.shape[1] - 1;
        var losses = F.cross_entropy(logits.narrow(1, 0, n).flatten(0, 1), tokens.narrow(1, 1, n).flatten(), reduction: nn.Reduction.None);
        return losses.MoveToOuterDisposeScope();
    }

    static float[] Floats(Tensor t)
    {
        using var scope = NewDisposeScope();
        return t.detach().cpu().to(ScalarType.Float32).contiguous().data<float>().ToArray();
    }

    static double Mean(IEnumerable<double> values)
    {
        var list = values.ToList();
        return list.Count == 0 ? double.NaN : list.Average();
    }

    static double Mean(IEnumerable<float> values) => Mean(values.Select(v => (double)v));

    /// <summary>One head's pattern in a flattened [seq, head, query, key] array.</summary>
    readonly struct PatternView(float[] data, int heads, int len, int head)
    {
        public float this[int seq, int query, int key] => data[((seq * heads + head) * len + query) * len + key];
    }

    /// <summary>The positions the scores and losses read, found from the tokens alone.</summary>
    sealed class Positions
    {
        /// <summary>Every (sequence, t) with t >= 1.</summary>
        public List<(int Seq, int T)> All { get; } = new();
        /// <summary>(sequence, t) where token t - 1 is a trigger that occurs again later: what an induction head reads.</summary>
        public List<(int Seq, int T)> Read { get; } = new();
        /// <summary>(sequence, t) whose token only induction predicts (token t - 1 is a repeated trigger).</summary>
        public List<(int Seq, int T)> Predictable { get; } = new();
        /// <summary>(sequence, t) where token t - 1 is a trigger's first occurrence: its output is a fresh draw.</summary>
        public List<(int Seq, int T)> FirstOutput { get; } = new();
        /// <summary>Every other (sequence, t): the bigram table predicts them.</summary>
        public List<(int Seq, int T)> Other { get; } = new();
        /// <summary>Each repeated occurrence: its position (the query) and the positions after the trigger's earlier occurrences.</summary>
        public List<(int Seq, int Query, List<int> Targets)> Repeats { get; } = new();

        public static Positions Of(IReadOnlyList<TriggerSequence> samples, TriggerTask task)
        {
            var p = new Positions();
            for (var s = 0; s < samples.Count; s++)
            {
                var tokens = samples[s].Tokens;
                var earlier = new Dictionary<int, List<int>>();      // trigger -> positions of its occurrences so far
                for (var q = 0; q < tokens.Length - 1; q++)
                {
                    var x = tokens[q];
                    var t = q + 1;
                    p.All.Add((s, t));
                    if (!task.IsTrigger(x))
                    {
                        p.Other.Add((s, t));
                        continue;
                    }
                    if (earlier.TryGetValue(x, out var before))
                    {
                        p.Predictable.Add((s, t));
                        p.Repeats.Add((s, q, before.Select(j => j + 1).ToList()));
                        before.Add(q);
                    }
                    else
                    {
                        p.FirstOutput.Add((s, t));
                        earlier[x] = [q];
                    }
                }
                // Read positions: after an occurrence that a later occurrence of the same trigger looks back to.
                foreach (var (_, occurrences) in earlier)
                    foreach (var j in occurrences.Take(occurrences.Count - 1))
                        p.Read.Add((s, j + 1));
            }
            return p;
        }
    }
}
