using Microsoft.FSharp.Core;
using PatchDescent.Cli;
using PatchDescent.Model;
using PatchDescent.Search;
using TorchSharp;
using static TorchSharp.torch;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent bench --profile`: where one fast engine step's time goes, set against plain forward+backward, in one process.</summary>
/// <remarks>
/// TorchSharp exposes no autograd profiler, so each part of the step is timed alone at the shapes the step gives it:
/// the contraction of every receiver block with the delta stack, forward and backward, the pushes, the receivers'
/// LayerNorms and query/key/value products, and libtorch's cost of one call. The whole step is timed beside them, so
/// what the parts leave over is the model's own forward and activation backward.
/// </remarks>
public static class StepProfile
{
    /// <summary>Prints the profile for the request's layers, batch, positions and dtype on the CPU.</summary>
    public static int Run(BenchRequest request)
    {
        var repeats = request.Quick ? 3 : 10;
        var dtype = DeviceChoice.ResolveDType(request.DType);
        var c = Gpt2Config.Gpt2Small with { Layers = request.Layers };
        var (batch, pos) = (request.Batch, request.Positions);
        using var model = Gpt2.Random(c, 0, CPU, dtype);
        using var generator = new TorchSharp.torch.Generator(1);
        using var clean = randint(c.VocabSize, [batch, pos], generator: generator);
        using var corrupted = randint(c.VocabSize, [batch, pos], generator: generator);
        var shape = Engine.shapeOf(model);
        var schedule = ScheduleModule.resolve(ScheduleModule.learnAll(shape)).ResultValue;
        using var engine = Engine.compile(model, schedule, Ablation.Patching);
        using var prepared = engine.Prepare(clean, FSharpOption<Tensor>.Some(corrupted), FSharpOption<Tensor>.None);
        using var coefficients = engine.InitialCoefficients().requires_grad_(true);

        var rows = new List<(string What, double Ms)>();
        double Time(string what, Action step)
        {
            var ms = StepBench.MedianMs(CPU, 1, repeats, step);
            rows.Add((what, ms));
            return ms;
        }
        Console.WriteLine($"profile: {c.Layers} layers x {c.Heads} heads x {c.DModel}, batch {batch} x {pos}, Full graph {Graph.edgeCount(shape):N0} edges, " +
                          $"{request.DType}, CPU, {Environment.ProcessorCount} cores, torch threads {get_num_threads()}, median of {repeats} after one warm-up");

        double plainForward;
        using (no_grad()) plainForward = Time("plain forward, no autograd (every position's logits)", () => { using var s = NewDisposeScope(); model.Forward(clean); });
        var plain = Time("plain forward+backward, every weight gradient", StepBench.Step(StepKind.Plain, model, engine, schedule, prepared, coefficients, clean));
        // Frozen weights: the gradient reaches the activations only, through a leaf made of the embedding.
        var toEmbedding = new Dictionary<string, Hook> { [HookPoints.Embed] = a => a.detach().requires_grad_(true) };
        Time("plain forward+backward, weights frozen (activation gradients only)", () =>
        {
            using var s = NewDisposeScope();
            model.RunWithHooks(clean, toEmbedding).logsumexp(-1).mean().backward();
        });
        // Coefficients of 0.5: 0/1 ones without autograd would take the circuit pass, not the step's dense one.
        using (var half = 0.5.ToScalar())
        using (var soft = coefficients.detach().mul(half))
        using (no_grad()) Time("fast step forward, no autograd", () => { using var s = NewDisposeScope(); engine.Forward(soft, prepared); });
        Time("fast step forward alone (recording for autograd)", () =>
        {
            using var s = NewDisposeScope();
            engine.Forward(coefficients, prepared);
        });
        var fast = Time("fast step, forward+backward", StepBench.Step(StepKind.Fast, model, engine, schedule, prepared, coefficients, clean));
        // Scoring a circuit, as the refinement's trials and the curve do: hard 0/1 coefficients, no autograd. Random
        // edges prune to the few nodes on a path from the input to the logits, which alone the circuit's pass computes;
        // the full circuit computes every node. A batch keeps its last circuit pass and a pass recomputes only the nodes
        // whose reads changed, so each timed pass differs from the one before on its batch: the full circuit is scored
        // on a batch of its own each time (its first pass there, which also allocates the batch's cache), and a random
        // circuit in turn with another drawn at the same size on one batch (every node read anew, its cache already made).
        var scoring = new List<(string What, double Ms)>();
        using var onOne = engine.Prepare(clean, FSharpOption<Tensor>.Some(corrupted), FSharpOption<Tensor>.None);
        Tensor Draw(double percent, out long[] kept, out long[] removed)
        {
            using var order = randperm(engine.ParamCount, generator: generator);
            var drawn = order.data<long>().ToArray();
            kept = drawn[..(int)(engine.ParamCount * percent / 100)];
            removed = drawn[kept.Length..];
            var hard = zeros(engine.ParamCount, dtype: dtype);
            hard.index_fill_(0, order.narrow(0, 0, kept.Length), 1.0);
            return hard;
        }
        // Times passes over `circuits` in turn on one batch, after a pass of the last of them.
        double InTurn(string what, IReadOnlyList<Tensor> circuits)
        {
            var next = 0;
            using (no_grad())
            {
                engine.Forward(circuits[^1], onOne).Dispose();
                return Time(what, () => { using var s = NewDisposeScope(); engine.Forward(circuits[next++ % circuits.Count], onOne); });
            }
        }
        using (var every = ones(engine.ParamCount, dtype: dtype))
        {
            var fresh = Enumerable.Range(0, repeats + 1).Select(_ => engine.Prepare(clean, FSharpOption<Tensor>.Some(corrupted), FSharpOption<Tensor>.None)).ToList();
            var next = 0;
            try
            {
                using (no_grad())
                    scoring.Add(("the full circuit, first on its batch", Time("scoring the full circuit (every node computed), the first pass on its batch",
                        () => { using var s = NewDisposeScope(); using var batch = fresh[next++]; engine.Forward(every, batch); })));
            }
            finally { foreach (IDisposable b in fresh.Skip(next)) b.Dispose(); }
        }
        foreach (var percent in new[] { 1.0, 10.0, 50.0 })
        {
            var pair = new[] { Draw(percent, out var kept, out var removed), Draw(percent, out _, out _) };
            scoring.Add(($"a {percent} % circuit", InTurn($"scoring a circuit of {percent} % of the edges drawn at random, in turn with another", pair)));
            if (percent == 50.0)
            {
                // A search's trials: each one swap (one kept edge out, one removed edge in, at random) away from the
                // 50 % circuit, one after another, so each differs from the pass before in 4 edges.
                var swaps = Enumerable.Range(0, repeats + 1).Select(i =>
                {
                    var swapped = pair[0].clone();
                    swapped[kept[(i * 7919) % kept.Length]].fill_(0.0);
                    swapped[removed[(i * 104729) % removed.Length]].fill_(1.0);
                    return swapped;
                }).ToList();
                scoring.Add(("a trial one swap from the 50 % circuit", InTurn("scoring trials of one swap each from the 50 % circuit, one after another", swaps)));
                foreach (var t in swaps) t.Dispose();
            }
            foreach (var t in pair) t.Dispose();
        }

        // The step's parts alone, at the step's shapes: n = batch * pos rows, S senders, 3 * heads receivers a layer.
        long n = batch * pos, d = c.DModel, h = c.Heads, dh = c.DHead;
        var withMlp = !c.AttnOnly;
        long SendersBefore(int l) => 1 + l * (h + (withMlp ? 1 : 0));
        var blocks = new List<(long Rows, long Cols)>();
        for (var l = 0; l < c.Layers; l++)
        {
            blocks.Add((3 * h, SendersBefore(l)));
            if (withMlp) blocks.Add((1, SendersBefore(l) + h));
        }
        blocks.Add((1, SendersBefore(c.Layers)));
        // The stack sender-major, as `DeltaStack` holds it: [S, n, d]; each block's gradient g as the contraction's
        // output is laid out, [R, n, d].
        using var stack = randn([SendersBefore(c.Layers), n, d], dtype: dtype);
        using var stackGrad = zeros_like(stack);
        using var positionMajor = zeros([n, SendersBefore(c.Layers), d], dtype: dtype);
        var ws = blocks.Select(b => randn([b.Rows, b.Cols], dtype: dtype)).ToArray();
        var grads = blocks.Select(b => randn([b.Rows, n, d], dtype: dtype)).ToArray();
        using var one = 1.0.ToScalar();
        using (no_grad())
        {
            void EveryBlock(Action<int> part) { using var s = NewDisposeScope(); for (var i = 0; i < blocks.Count; i++) part(i); }
            Tensor Senders(int i) => stack.narrow(0, 0, blocks[i].Cols).view(blocks[i].Cols, n * d);
            Tensor Flat(int i) => grads[i].view(blocks[i].Rows, n * d);
            using var residRow = randn([1, n * d], dtype: dtype);
            // The receivers' inputs in one product whose output starts as the residual, as `DeltaContraction` runs it.
            Time("  contraction forward, every block: resid - w [R, S] x stack [S, n * d]", () => EveryBlock(i => residRow.addmm(ws[i], Senders(i), 1, -1)));
            // The products of the contraction's backward pass, and the residual's gradient, as `DeltaContraction.backward` runs them.
            void StackGradient(int i) => stackGrad.narrow(0, 0, blocks[i].Cols).view(blocks[i].Cols, n * d).addmm_(ws[i].t(), Flat(i), 1, -1);
            void CoefficientGradient(int i) => Flat(i).mm(Senders(i).t()).neg_();
            Time("  contraction backward, every block: stack gradient -= w^T g, -g stack^T, and g summed over receivers", () => EveryBlock(i => { StackGradient(i); CoefficientGradient(i); Flat(i).sum(0); }));
            Time("    of which the stack gradient, w^T g subtracted from [S, n * d] in place (addmm_)", () => EveryBlock(StackGradient));
            Time("    of which the coefficient gradient, -g [R, n * d] x stack^T", () => EveryBlock(CoefficientGradient));
            // The layout before, position-major [n, S, d]: a [n, S, d] temporary a block, then add_.
            Time("    for comparison: the stack gradient position-major, [n, S, d] (a product, then add_)", () =>
                EveryBlock(i => positionMajor.narrow(1, 0, blocks[i].Cols).add_(ws[i].t().matmul(grads[i].permute(1, 0, 2)), one)));
            using var headDeltas = randn([h, n, d], dtype: dtype);
            Time("  pushes: each layer's head deltas copied into the stack", () =>
            {
                for (var l = 0; l < c.Layers; l++) stack.narrow(0, SendersBefore(l), h).copy_(headDeltas);
            });
            using var receivers = randn([3 * h, n, d], dtype: dtype);
            using var wQkv = randn([3 * h, d, dh], dtype: dtype);
            using var resid = randn([n, d], dtype: dtype);
            using var wPlain = randn([d, 3 * d], dtype: dtype);
            Time("  receivers' LayerNorm, forward, every layer ([3 heads, n, d])", () =>
            {
                using var s = NewDisposeScope();
                for (var l = 0; l < c.Layers; l++) model.LayerNorm(receivers, model.Blocks[l].Ln1W, model.Blocks[l].Ln1B);
            });
            Time("  receivers' q, k, v, forward, every layer ([3 heads] bmm [n, d] x [d, d_head])", () =>
            {
                using var s = NewDisposeScope();
                for (var l = 0; l < c.Layers; l++) receivers.bmm(wQkv);
            });
            Time("  for comparison: plain q, k, v, every layer ([n, d] x [d, 3 d])", () =>
            {
                using var s = NewDisposeScope();
                for (var l = 0; l < c.Layers; l++) resid.matmul(wPlain);
            });
        }
        using (var receivers = randn([3 * h, n, d], dtype: dtype).requires_grad_(true))
            Time("  receivers' LayerNorm, forward+backward, every layer", () =>
            {
                using var s = NewDisposeScope();
                for (var l = 0; l < c.Layers; l++) model.LayerNorm(receivers, model.Blocks[l].Ln1W, model.Blocks[l].Ln1B).sum().backward();
                receivers.grad?.Dispose();
                receivers.grad = null;
            });
        using (no_grad())
        using (var tiny = zeros(1, dtype: dtype))
        {
            const int calls = 10_000;
            var ms = StepBench.MedianMs(CPU, 1, repeats, () =>
            {
                using var s = NewDisposeScope();
                for (var i = 0; i < calls; i++) tiny.add(tiny, one);
            });
            rows.Add(("  one libtorch call on a 1-element tensor, microseconds", ms * 1000 / calls));
        }
        foreach (var t in ws.Concat(grads)) t.Dispose();

        foreach (var (what, ms) in rows) Console.WriteLine($"  {what,-92} {ms,10:F1}{(what.EndsWith("microseconds") ? " us" : " ms")}");
        Console.WriteLine($"  fast / plain forward+backward: {fast / plain:F2}");
        foreach (var (what, ms) in scoring)
            Console.WriteLine($"  scoring {what} / plain forward (which unembeds every position; scoring, the last): {ms / plainForward:F2} forward passes");
        return 0;
    }
}
