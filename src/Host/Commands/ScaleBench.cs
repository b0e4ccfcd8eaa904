using System.Diagnostics;
using Microsoft.FSharp.Core;
using PatchDescent.Cli;
using PatchDescent.Model;
using PatchDescent.Search;
using static TorchSharp.torch;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent bench --scale`: what the edge graph and one fast step cost at Qwen2.5-0.5B's and Llama-3.1-8B's shapes.</summary>
/// <remarks>
/// The 0.5B step is measured on the CPU (random weights). A step's peak is the weights, the engine's ungrouped q/k/v
/// projections, the corrupted run's sender outputs, the delta stack and its gradient (each senders x d_model a
/// token), and the activations autograd keeps. The last is what the measurement leaves after the others; for the 8B
/// it is scaled by layers x 3 x heads x d_model, the receiver inputs that dominate it. Measured in live memory (see
/// <see cref="Run"/>), so resident memory is what is held.
/// </remarks>
public static class ScaleBench
{
    const double GiB = 1024.0 * 1024 * 1024;

    /// <summary>Prints the figures; one fast step of the 0.5B shape at the request's batch, positions and dtype.</summary>
    public static int Run(BenchRequest request)
    {
        // Live memory, as the bench's last two steps: with glibc's freed memory kept, a step reuses pages the
        // warm-up left resident and its peak would read as almost nothing, so the figures come from a child process
        // whose every block above 128 KB is its own mapping, returned on free.
        if (Environment.GetEnvironmentVariable(CpuAllocator.OptOutVariable) != "1")
        {
            var child = new ProcessStartInfo("dotnet");
            child.Environment[CpuAllocator.OptOutVariable] = "1";
            child.Environment["GLIBC_TUNABLES"] = "glibc.malloc.mmap_threshold=131072";
            child.ArgumentList.Add(typeof(ScaleBench).Assembly.Location);
            foreach (var a in Environment.GetCommandLineArgs().Skip(1)) child.ArgumentList.Add(a);
            using var process = Process.Start(child)!;
            process.WaitForExit();
            return process.ExitCode;
        }
        var dtype = DeviceChoice.ResolveDType(request.DType);
        var bytes = dtype == ScalarType.BFloat16 ? 2 : 4;
        var (batch, pos) = (request.Batch, request.Positions);
        var tokens = (long)batch * pos;
        var shapes = new[] { ("Qwen2.5-0.5B", LlamaConfig.Qwen25_05B), ("Llama-3.1-8B", LlamaConfig.Llama31_8B) };
        Console.WriteLine($"scale: Full graph, {request.DType} ({bytes} bytes a number), batch {batch} x {pos} = {tokens} tokens; GiB = 2^30 bytes");
        var fixedTerms = new Dictionary<string, (double Weights, double Qkv, double PerToken)>();
        foreach (var (name, c) in shapes)
        {
            var shape = new GraphShape(c.Layers, c.Heads, true);
            var senders = Graph.senderCount(shape);
            var parameters = LlamaCheckpoint.ExpectedShapes(c).Values.Sum(s => s.Aggregate(1L, (a, d) => a * d));
            var stackPerToken = (double)senders * c.DModel * bytes;
            var weights = (double)parameters * bytes;
            var qkv = (double)c.Layers * 3 * c.Heads * c.DModel * c.DHead * bytes;
            // Per token: the clean input, the corrupted sender outputs, the stack and its gradient.
            fixedTerms[name] = (weights, qkv, c.DModel * bytes + 3 * stackPerToken);
            Console.WriteLine($"{name,-13} {c.Layers} layers x {c.Heads} query heads ({c.KvHeads} key-value) x d_model {c.DModel}: " +
                              $"{senders + 1:N0} nodes, {Graph.edgeCount(shape):N0} edges; {parameters:N0} parameters = {weights / GiB:F2} GiB; " +
                              $"delta stack {stackPerToken / 1024:N0} KiB a token ({stackPerToken * tokens / GiB:F2} GiB at {tokens} tokens); " +
                              $"ungrouped q/k/v projections {qkv / GiB:F2} GiB");
        }

        var (measuredName, m) = shapes[0];
        Console.WriteLine($"measuring one fast step of {measuredName}'s shape (random weights) on the CPU ...");
        using var model = Llama.Random(m, 0, CPU, dtype);
        using var generator = new Generator(1);
        using var clean = randint(m.VocabSize, [batch, pos], generator: generator);
        using var corrupted = randint(m.VocabSize, [batch, pos], generator: generator);
        var schedule = ScheduleModule.resolve(ScheduleModule.learnAll(Engine.shapeOf(model))).ResultValue;
        using var engine = Engine.compile(model, schedule, Ablation.Patching);
        using var prepared = engine.Prepare(clean, FSharpOption<Tensor>.Some(corrupted), FSharpOption<Tensor>.None);
        using var coefficients = engine.InitialCoefficients().requires_grad_(true);
        var step = StepBench.Step(StepKind.Fast, model, engine, schedule, prepared, coefficients, clean);
        step();                                                                                              // warm-up: the stack grows
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var before = Rss.start();
        var clock = Stopwatch.StartNew();
        step();
        var seconds = clock.Elapsed.TotalSeconds;
        var above = Rss.peakSince(before);
        if (before is null || above is null)
        {
            Console.Error.WriteLine("error: /proc/self is missing or read-only here, so the step's peak cannot be measured");
            return 1;
        }
        var (w, q, perToken) = fixedTerms[measuredName];
        var resident = before.Value;
        var stacks = 2 * (double)Graph.senderCount(Engine.shapeOf(model)) * m.DModel * bytes * tokens;
        var activations = Math.Max(0, above.Value - stacks);
        Console.WriteLine($"{measuredName,-13} measured: one step {seconds:F1} s; resident before the step {resident / GiB:F2} GiB " +
                          $"(weights {w / GiB:F2}, q/k/v {q / GiB:F2}, corrupted outputs and input {(perToken * tokens - stacks) / GiB:F2} GiB computed); " +
                          $"the step's peak above that {above.Value / GiB:F2} GiB, of which the stack and its gradient {stacks / GiB:F2} and activations {activations / GiB:F2}; " +
                          $"peak {(resident + above.Value) / GiB:F2} GiB");
        var (bigName, big) = shapes[1];
        var (bw, bq, bPerToken) = fixedTerms[bigName];
        var scale = (double)big.Layers * big.Heads * big.DModel / ((double)m.Layers * m.Heads * m.DModel);
        var bigPeak = bw + bq + bPerToken * tokens + activations * scale;
        Console.WriteLine($"{bigName,-13} computed: weights {bw / GiB:F2} + q/k/v {bq / GiB:F2} + corrupted outputs, input, stack and gradient {bPerToken * tokens / GiB:F2} " +
                          $"+ activations {activations * scale / GiB:F2} (the measured {activations / GiB:F2} x {scale:F1}) = {bigPeak / GiB:F2} GiB a step at {tokens} tokens");
        // An 80 GB card holds 74.5 GiB; 2 GiB of it go to the CUDA context and libraries' workspaces.
        const double card = 80e9 / GiB - 2;
        foreach (var (name, fixedBytes, perTokenBytes) in new[]
                 {
                     (measuredName, w + q, perToken + activations / tokens),
                     (bigName, bw + bq, bPerToken + activations * scale / tokens),
                 })
            Console.WriteLine($"{name,-13} on one 80 GB GPU: {fixedBytes / GiB:F2} GiB fixed + {perTokenBytes / (1024 * 1024):F1} MiB a token: " +
                              $"at most {Math.Floor((card * GiB - fixedBytes) / perTokenBytes):N0} tokens a step (batch x positions)");
        return 0;
    }
}
