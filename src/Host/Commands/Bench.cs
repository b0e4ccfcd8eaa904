using System.Diagnostics;
using PatchDescent.Model;
using static TorchSharp.torch;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent bench`: prints the figures docs/BENCHMARKS.md records (never a pass/fail test).</summary>
public static class Bench
{
    /// <summary>Runs the verb.</summary>
    public static int Run(CommandLine args)
    {
        var quick = args.Flag("--quick");
        args.CheckAllRead();
        var repeats = quick ? 3 : 10;
        Console.WriteLine($"PatchDescent bench: {Environment.ProcessorCount} cores, torch threads {get_num_threads()}, repeats {repeats} (median)");
        ForwardThroughput(repeats);
        return 0;
    }

    /// <summary>Median wall time in milliseconds of <paramref name="action"/> after one warm-up run.</summary>
    public static double MedianMs(int repeats, Action action)
    {
        action();
        var times = new List<double>();
        for (var i = 0; i < repeats; i++)
        {
            var sw = Stopwatch.StartNew();
            action();
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }

    static void ForwardThroughput(int repeats)
    {
        const int batch = 8, pos = 64;
        var c = Gpt2Config.Gpt2Small;
        using var model = Gpt2.Random(c, 0);
        using var tokens = randint(c.VocabSize, [batch, pos], dtype: ScalarType.Int64);
        using var guard = no_grad();
        var forwardMs = MedianMs(repeats, () =>
        {
            using var scope = NewDisposeScope();
            model.Forward(tokens);
        });

        // The same matrix products the forward pass contains, alone: the machine's ceiling for this shape.
        var n = batch * pos;
        var (d, h, e, m, v) = (c.DModel, c.Heads, c.DHead, c.DMlp, c.VocabSize);
        using var x = randn(n, d);
        using var wQkv = randn(d, 3 * d);
        using var wO = randn(d, d);
        using var wIn = randn(d, m);
        using var hidden = randn(n, m);
        using var wOut = randn(m, d);
        using var wU = randn(d, v);
        using var q = randn(batch * h, pos, e);
        using var k = randn(batch * h, e, pos);
        using var p = randn(batch * h, pos, pos);
        using var vv = randn(batch * h, pos, e);
        var matmulMs = MedianMs(repeats, () =>
        {
            using var scope = NewDisposeScope();
            for (var l = 0; l < c.Layers; l++)
            {
                x.matmul(wQkv);
                q.bmm(k);
                p.bmm(vv);
                x.matmul(wO);
                x.matmul(wIn);
                hidden.matmul(wOut);
            }
            x.matmul(wU);
        });
        double flops = 2.0 * n * (c.Layers * (d * 3.0 * d + d * d + 2.0 * d * m) + d * (double)v)
                       + c.Layers * 2.0 * 2.0 * batch * h * pos * pos * e;
        Console.WriteLine($"forward  GPT-2-small shape (random weights), batch {batch} x {pos} tokens, float32, CPU");
        Console.WriteLine($"  forward            {forwardMs,9:F1} ms   {n / forwardMs * 1000,9:F0} tokens/s   {flops / forwardMs / 1e6,6:F1} GFLOP/s");
        Console.WriteLine($"  bare matmuls       {matmulMs,9:F1} ms   {n / matmulMs * 1000,9:F0} tokens/s   {flops / matmulMs / 1e6,6:F1} GFLOP/s");
        Console.WriteLine($"  forward / matmuls  {forwardMs / matmulMs,9:F2}");
    }
}
