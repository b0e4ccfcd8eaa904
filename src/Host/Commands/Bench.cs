using System.Diagnostics;
using Microsoft.FSharp.Core;
using PatchDescent.Cli;
using PatchDescent.Model;
using PatchDescent.Search;
using static TorchSharp.torch;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent bench`: prints the figures docs/BENCHMARKS.md records (never a pass/fail test).</summary>
public static class Bench
{
    /// <summary>Runs the verb: the forward throughput here, each engine step in a fresh process so its peak memory is its own.</summary>
    public static int Run(BenchRequest request)
    {
        var quick = request.Quick;
        var repeats = quick ? 3 : 10;
        if (request.SoakSteps is { } soakSteps) return Soak(soakSteps.Value, request.Device?.Value ?? "cpu");
        if (request.Profile) return StepProfile.Run(request);
        if (request.Scale) return ScaleBench.Run(request);
        if (request.Device is not null) return DeviceBench.Run(request);
        if (request.Step is { } step)
        {
            EngineStep(step.Value, Gpt2Config.Gpt2Small with { Layers = request.Layers }, request.Batch, repeats);
            return 0;
        }
        Console.WriteLine($"PatchDescent bench: {Environment.ProcessorCount} cores, torch threads {get_num_threads()}, " +
                          $"median of {repeats} after one warm-up (the reference engine: one run); peak RSS is each step's own process, model weights included");
        ForwardThroughput(repeats);
        // The reference engine on GPT-2 small takes minutes per step at batch 8, so its ratio is measured at batch 1.
        // The last two runs leave glibc alone and give every block above 128 KB its own mapping, returned on free:
        // slower, but then peak RSS is the memory the step really holds, not what the tuned allocator keeps.
        var steps = new[]
        {
            ("plain", 12, 8, false), ("fast", 12, 8, false), ("plain", 2, 8, false), ("fast", 2, 8, false),
            ("reference", 2, 8, false), ("fast", 12, 1, false), ("reference", 12, 1, false), ("plain", 12, 8, true), ("fast", 12, 8, true),
        };
        foreach (var (kind, stepLayers, stepBatch, liveMemory) in steps)
        {
            var child = new ProcessStartInfo("dotnet");
            if (liveMemory)
            {
                child.Environment[CpuAllocator.OptOutVariable] = "1";
                child.Environment["GLIBC_TUNABLES"] = "glibc.malloc.mmap_threshold=131072";
                Console.Write("live memory (per-block mmap) ");
            }
            child.ArgumentList.Add(typeof(Bench).Assembly.Location);
            foreach (var a in new[] { "bench", "--step", kind, "--layers", stepLayers.ToString(), "--batch", stepBatch.ToString() }.Concat(quick ? ["--quick"] : []))
                child.ArgumentList.Add(a);
            using var process = Process.Start(child)!;
            process.WaitForExit();
            if (process.ExitCode != 0) return process.ExitCode;
        }
        return 0;
    }

    /// <summary>The soak: the main job's discovery for <paramref name="steps"/> steps on <paramref name="deviceName"/>, RSS sampled every 500 steps; prints the first, last and largest sample.</summary>
    static int Soak(int steps, string deviceName)
    {
        var modelDir = MainJob.modelDir(Directory.GetCurrentDirectory());
        var device = DeviceChoice.Resolve(deviceName);
        using var model = Checkpoint.Load(modelDir, device);
        var experiment = MainJob.experiment(modelDir, "soak", steps);
        Console.WriteLine($"soak: the main job's discovery on {modelDir}, {steps:N0} steps on {device}");
        foreach (var line in PatchDescent.Search.Soak.lines(PatchDescent.Search.Soak.run(model, experiment, 500))) Console.WriteLine(line);
        return 0;
    }

    static void ForwardThroughput(int repeats)
    {
        const int batch = 8, pos = 64;
        var c = Gpt2Config.Gpt2Small;
        using var model = Gpt2.Random(c, 0);
        using var tokens = randint(c.VocabSize, [batch, pos], dtype: ScalarType.Int64);
        using var guard = no_grad();
        var forwardMs = StepBench.MedianMs(CPU, 1, repeats, () =>
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
        var matmulMs = StepBench.MedianMs(CPU, 1, repeats, () =>
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

    static void EngineStep(StepKind kind, Gpt2Config c, int batch, int repeats)
    {
        const int pos = 32;
        using var model = Gpt2.Random(c, 0);
        using var clean = randint(c.VocabSize, [batch, pos], dtype: ScalarType.Int64);
        using var corrupted = randint(c.VocabSize, [batch, pos], dtype: ScalarType.Int64);
        var shape = Engine.shapeOf(model);
        var schedule = ScheduleModule.resolve(ScheduleModule.learnAll(shape)).ResultValue;
        using var engine = Engine.compile(model, schedule, Ablation.Patching);
        using var prepared = engine.Prepare(clean, FSharpOption<Tensor>.Some(corrupted), FSharpOption<Tensor>.None);
        using var coefficients = engine.InitialCoefficients().requires_grad_(true);
        var step = StepBench.Step(kind, model, engine, schedule, prepared, coefficients, clean);
        // A reference step takes seconds to minutes: one run, no warm-up.
        var ms = kind.IsReference ? StepBench.MedianMs(CPU, 0, 1, step) : StepBench.MedianMs(CPU, 1, repeats, step);
        Console.WriteLine($"step {c.Layers,2} layers x {c.Heads} heads x {c.DModel}, batch {batch,2} x {pos}, Full graph {Graph.edgeCount(shape),6:N0} edges, " +
                          $"float32, CPU: {StepBench.Label(kind),-40} {ms,9:F1} ms   peak RSS {StepBench.PeakRssGiB():F2} GiB");
    }
}
