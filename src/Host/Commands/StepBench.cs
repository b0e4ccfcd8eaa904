using System.Diagnostics;
using Microsoft.FSharp.Core;
using PatchDescent.Cli;
using PatchDescent.Model;
using PatchDescent.Search;
using TorchSharp;
using static TorchSharp.torch;

namespace PatchDescent.Host.Commands;

/// <summary>The one bench harness: the step closures both benches time, their labels, the median timer and the peak RSS.</summary>
public static class StepBench
{
    /// <summary>The same scalar for every step kind: mean log-partition of the logits, which reaches every logit.</summary>
    static Tensor Loss(Tensor logits) => logits.logsumexp(-1).mean();

    /// <summary>One step of <paramref name="kind"/>: plain forward+backward with every weight gradient, the fast engine's step (coefficient gradients only), or the reference engine's (the seed's per-receiver algorithm); each frees what it made.</summary>
    public static Action Step(StepKind kind, Decoder model, Engine.CompiledEngine engine, ResolvedSchedule schedule, Engine.PreparedBatch prepared, Tensor coefficients, Tensor clean)
    {
        void FreeGrad() { coefficients.grad?.Dispose(); coefficients.grad = null; }
        if (kind.IsPlain)
            return () =>
            {
                using var scope = NewDisposeScope();
                foreach (var p in model.Parameters()) p.requires_grad_(true);
                Loss(model.Forward(clean)).backward();
                foreach (var p in model.Parameters()) { p.grad?.Dispose(); p.grad = null; p.requires_grad_(false); }
            };
        if (kind.IsFast)
            return () =>
            {
                using var scope = NewDisposeScope();
                Loss(engine.Forward(coefficients, prepared)).backward();
                FreeGrad();
            };
        return () =>
        {
            using var scope = NewDisposeScope();
            Loss(ReferenceEngine.forward(model, schedule, prepared.Carried, coefficients, clean, FSharpOption<Tensor>.None)).backward();
            FreeGrad();
        };
    }

    /// <summary>What a step kind computes, for the printed line.</summary>
    public static string Label(StepKind kind) =>
        kind.IsPlain ? "plain forward+backward (weight grads)" : kind.IsFast ? "fast engine step (coefficient grads)" : "reference engine step (seed algorithm)";

    /// <summary>Median wall milliseconds of <paramref name="step"/> over <paramref name="repeats"/> runs after <paramref name="warmUps"/>, each run ended by a synchronisation on CUDA so the time is the GPU's too.</summary>
    public static double MedianMs(Device device, int warmUps, int repeats, Action step)
    {
        void Sync() { if (device.type == DeviceType.CUDA) cuda.synchronize(device); }
        for (var i = 0; i < warmUps; i++) step();
        Sync();
        var times = new List<double>();
        for (var i = 0; i < repeats; i++)
        {
            var sw = Stopwatch.StartNew();
            step();
            Sync();
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }

    /// <summary>Peak resident memory of this process so far (Linux /proc), in GiB.</summary>
    public static double PeakRssGiB()
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmHWM:"));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0 / 1024.0;
    }
}
