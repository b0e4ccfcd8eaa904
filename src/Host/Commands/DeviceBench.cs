using System.Diagnostics;
using Microsoft.FSharp.Core;
using PatchDescent.Cli;
using PatchDescent.Model;
using PatchDescent.Search;
using TorchSharp;
using static TorchSharp.torch;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent bench --device D`: the GPU benchmark matrix of docs/BENCHMARKS.md, and the whole discovery run, on one device.</summary>
/// <remarks>
/// Each step of the matrix runs in its own process, so its peak memory is its own: TorchSharp 0.107 cannot reset (or
/// read) the CUDA caching allocator's statistics, so the peak is NVML's figure for this process after the steps. The
/// caching allocator keeps what it reserved, so that is the reserved peak plus the CUDA context, which is printed
/// alone beside it. On the CPU the peak is the process's peak RSS.
/// </remarks>
public static class DeviceBench
{
    const int CudaRepeats = 20, WarmUps = 3;

    /// <summary>Runs the matrix, one of its steps (<c>--step</c>), or the discovery run (<c>--discovery-steps</c>).</summary>
    public static int Run(BenchRequest request)
    {
        var name = request.Device?.Value ?? throw new ArgumentException("bench: the device matrix needs --device");
        var device = DeviceChoice.Resolve(name);
        DeviceChoice.SetMatmulPrecision(device, request.StrictFp32);
        var onCuda = device.type == DeviceType.CUDA;
        if (request.DiscoverySteps is { } steps) return DiscoveryRun(request, name, device, steps.Value);
        if (request.Step is { } step) return Step(request, device, step.Value);

        // The CPU cannot run GPT-2 small at these batches in useful time: there the matrix checks the code path on a
        // 2-layer model of the same width at batch 2 x 8.
        var layers = onCuda ? 12 : 2;
        (int Batch, int Positions)[] shapes = onCuda ? [(8, 32), (32, 24), (32, 64)] : [(2, 8)];
        Console.WriteLine($"PatchDescent bench on {Describe(device)}; TF32 {(onCuda && !request.StrictFp32 ? "allowed" : "off")}; " +
                          $"median of {(onCuda ? CudaRepeats : 3)} steps after {WarmUps} warm-ups, synchronised; each line its own process");
        var runs = new List<string[]>();
        foreach (var (batch, positions) in shapes)
            foreach (var dtype in new[] { "float32", "bfloat16" })
            {
                var common = new[] { "--layers", $"{layers}", "--batch", $"{batch}", "--positions", $"{positions}", "--dtype", dtype };
                runs.Add([.. common, "--step", "plain", "--graph", "full"]);
                foreach (var graph in new[] { "full", "heads" })
                {
                    runs.Add([.. common, "--step", "fast", "--graph", graph]);
                    // The seed algorithm is slow and its ratio barely depends on the dtype: float32 only.
                    if (dtype == "float32") runs.Add([.. common, "--step", "reference", "--graph", graph]);
                }
            }
        var failed = 0;
        foreach (var run in runs)
        {
            var child = new ProcessStartInfo("dotnet");
            child.ArgumentList.Add(typeof(Bench).Assembly.Location);
            if (LibTorchChoice.Directory is { } dir) { child.ArgumentList.Add("--libtorch"); child.ArgumentList.Add(dir); }
            foreach (var a in new[] { "bench", "--device", name }.Concat(run).Concat(request.StrictFp32 ? ["--strict-fp32"] : []).Concat(request.Quick ? ["--quick"] : []))
                child.ArgumentList.Add(a);
            using var process = Process.Start(child)!;
            process.WaitForExit();
            // One step failing (out of memory, say) must not hide the others' figures.
            if (process.ExitCode != 0)
            {
                Console.WriteLine($"  (bench {string.Join(" ", run)} exited {process.ExitCode})");
                failed++;
            }
        }
        return failed == 0 ? 0 : 1;
    }

    static string Describe(Device device)
    {
        if (device.type != DeviceType.CUDA) return $"CPU, {Environment.ProcessorCount} cores, torch threads {get_num_threads()}";
        var gpu = Nvml.Devices().FirstOrDefault(g => g.Index == Math.Max(device.index, 0));
        var libtorch = LibTorchChoice.Directory is { } dir ? LibTorchChoice.Version(dir) ?? dir : "bundled";
        return $"{gpu?.Name ?? "CUDA device (NVML unavailable)"} ({device}), libtorch {libtorch}";
    }

    /// <summary>Memory figures of this process so far: on CUDA NVML's (bytes), on the CPU the peak RSS.</summary>
    sealed class Memory(Device device)
    {
        readonly bool _cuda = device.type == DeviceType.CUDA;
        readonly int _index = Math.Max(device.index, 0);
        // Device-wide use before this process touched the GPU, for when NVML does not report per process.
        readonly long _before = device.type == DeviceType.CUDA ? Nvml.Devices().FirstOrDefault(g => g.Index == Math.Max(device.index, 0))?.UsedBytes ?? 0 : 0;

        public long? Now()
        {
            if (!_cuda) return null;
            return Nvml.ProcessUsedBytes(_index) ?? Nvml.Devices().FirstOrDefault(g => g.Index == _index)?.UsedBytes - _before;
        }

        public string Peak(long? context) => _cuda
            ? Now() is { } used ? $"peak {Nvml.GiB(used)} (NVML, CUDA context {(context is { } c ? Nvml.GiB(c) : "?")} included)" : "peak ? (NVML unavailable)"
            : $"peak RSS {StepBench.PeakRssGiB():F2} GiB";

    }

    static int Step(BenchRequest request, Device device, StepKind kind)
    {
        var memory = new Memory(device);
        long? context;
        using (zeros(1, device: device)) context = memory.Now();
        var dtype = DeviceChoice.ResolveDType(request.DType);
        var c = Gpt2Config.Gpt2Small with { Layers = request.Layers };
        var (batch, positions) = (request.Batch, request.Positions);
        using var model = Gpt2.Random(c, 0, device, dtype);
        using var generator = new TorchSharp.torch.Generator(1);
        using var clean = randint(c.VocabSize, [batch, positions], generator: generator).to(device);
        using var corrupted = randint(c.VocabSize, [batch, positions], generator: generator).to(device);
        var shape = Engine.shapeOf(model);
        var schedule = ScheduleModule.resolve(ScheduleModule.ofGranularity(shape, request.Graph)).ResultValue;
        using var engine = Engine.compile(model, schedule, Ablation.Patching);
        using var prepared = engine.Prepare(clean, FSharpOption<Tensor>.Some(corrupted), FSharpOption<Tensor>.None);
        using var coefficients = engine.InitialCoefficients().requires_grad_(true);
        var step = StepBench.Step(kind, model, engine, schedule, prepared, coefficients, clean);
        var onCuda = device.type == DeviceType.CUDA;
        // The reference engine runs 2 * layers + 1 passes a step: fewer repeats keep the matrix inside minutes.
        var repeats = request.Quick || !onCuda ? 3 : kind.IsReference ? 5 : CudaRepeats;
        var ms = StepBench.MedianMs(device, WarmUps, repeats, step);
        var graph = kind.IsPlain ? "-" : $"{(request.Graph.IsFull ? "Full" : "Heads")}, {schedule.ParamCount:N0} coefficients";
        Console.WriteLine($"{c.Layers} layers, batch {batch,2} x {positions,2}, {request.DType,-8}  {StepBench.Label(kind),-38} {graph,-26} {ms,9:F1} ms  {memory.Peak(context)}");
        return 0;
    }

    /// <summary>One whole discovery run (train, extract, curve, files) on a random GPT-2-small-shaped model and 32 random pairs.</summary>
    static int DiscoveryRun(BenchRequest request, string deviceName, Device device, int steps)
    {
        var memory = new Memory(device);
        long? context;
        using (zeros(1, device: device)) context = memory.Now();
        var c = Gpt2Config.Gpt2Small with { Layers = request.Layers };
        using var model = Gpt2.Random(c, 0, device, DeviceChoice.ResolveDType(request.DType));
        var rng = new Random(1);
        int[] Tokens() => Enumerable.Range(0, request.Positions).Select(_ => rng.Next(c.VocabSize)).ToArray();
        var pairs = Enumerable.Range(0, 32)
            .Select(_ => new Pair(Tokens(), Tokens(), rng.Next(c.VocabSize), FSharpOption<int>.Some(rng.Next(c.VocabSize)), FSharpOption<ThresholdSet>.None)).ToArray();
        var outDir = Path.Combine(Path.GetTempPath(), $"patchdescent-bench-{Environment.ProcessId}");
        var experiment = BenchArgumentsModule.discoveryExperiment(request, deviceName, new PairDataset("random pairs", pairs), outDir, steps);
        var sw = Stopwatch.StartNew();
        string time;
        try
        {
            Discovery.runOn(model, experiment, FuncConvert.FromAction<StepLog>(_ => { }));
            // What the exact stages after training cost, from the run's own log, before the folder goes.
            var log = File.ReadAllLines(Path.Combine(outDir, "run.log"));
            foreach (var line in log.Where(l => l.StartsWith("refine:") || l.StartsWith("ranking:") || l.StartsWith("time:")))
                Console.WriteLine($"  {line}");
            time = log.Single(l => l.StartsWith("time:"));
        }
        finally
        {
            if (Directory.Exists(outDir)) Directory.Delete(outDir, true);
        }
        var seconds = sw.Elapsed.TotalSeconds;
        // The curve's circuits each cost one engine pass on the one batch; set against a plain forward of that batch.
        var curve = System.Text.RegularExpressions.Regex.Match(time, @"curve \((\d+) circuits\) ([0-9.]+) s");
        using var tokens = tensor(pairs.SelectMany(p => p.Clean.Select(t => (long)t)).ToArray(), [pairs.Length, request.Positions]).to(device);
        double forwardMs;
        using (no_grad()) forwardMs = StepBench.MedianMs(device, 1, 3, () => { using var scope = NewDisposeScope(); model.Forward(tokens); });
        var circuitMs = double.Parse(curve.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) * 1000 / int.Parse(curve.Groups[1].Value);
        Console.WriteLine($"  scoring: {circuitMs:F1} ms a circuit on the batch of {pairs.Length} x {request.Positions}, {circuitMs / forwardMs:F2} forward passes (Gpt2.Forward of that batch under no_grad: {forwardMs:F1} ms)");
        Console.WriteLine($"discovery: {steps} steps, {(request.Graph.IsFull ? "Full" : "Heads")} graph, batch 32 x {request.Positions}, {request.DType}, " +
                          $"{c.Layers} layers on {Describe(device)}: {seconds:F1} s in all ({seconds * 1000 / steps:F1} ms a step, evaluation and files included)  {memory.Peak(context)}");
        return 0;
    }
}
