using Microsoft.FSharp.Core;
using PatchDescent.Cli;
using PatchDescent.Search;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent discover`: one discovery run, or one per seed and their overlaps.</summary>
public static class Discover
{
    /// <summary>Runs the verb: the <see cref="Experiment"/> the command line described, as a script would run it.</summary>
    public static int Run(DiscoverRequest request)
    {
        var experiment = request.Experiment;
        if (request.Seeds is { } seeds) return RunSeeds(experiment, seeds.Value);

        var progress = Progress.ForConsole();
        DiscoveryResult result;
        // A failure's message must not land on the end of the bar's line.
        try { result = Discovery.run(experiment, FuncConvert.FromAction<StepLog>(progress.Report)); }
        finally { progress.Finish(); }
        var m = result.Metrics;
        Console.WriteLine($"circuit ({MethodModule.name(experiment.Method)}): {result.Circuit.Edges.Count:N0} edges; faithfulness {m.Faithfulness:F3}, " +
                          $"KL {m.Kl:F4} nats, metric {m.Circuit:F4} (full {m.Full:F4}, empty {m.Empty:F4}); " +
                          $"curve CPR {result.Curve.Cpr:F3}, CMD {result.Curve.Cmd:F3}");
        foreach (var warning in result.Warnings) Console.Error.WriteLine($"warning: {warning}");
        Console.WriteLine($"wrote {Path.GetFullPath(result.OutDir)}");
        return 0;
    }

    /// <summary>One run per seed into OUT/seed-N and OUT/stability.csv (<see cref="Stability.run"/>); prints each level's mean overlap.</summary>
    static int RunSeeds(Experiment experiment, Microsoft.FSharp.Collections.FSharpList<int> seeds)
    {
        var progress = new Dictionary<int, Progress>();
        Microsoft.FSharp.Collections.FSharpList<Tuple<int, DiscoveryResult>> runs;
        Microsoft.FSharp.Collections.FSharpList<LevelStability> levels;
        try
        {
            (runs, levels) = Stability.run(experiment, seeds,
                FuncConvert.FromAction<int, StepLog>((seed, log) =>
                {
                    foreach (var (other, p) in progress) if (other != seed) p.Finish();
                    if (!progress.TryGetValue(seed, out var mine)) progress[seed] = mine = Progress.ForConsole($"seed {seed}  ");
                    mine.Report(log);
                }));
        }
        finally
        {
            foreach (var p in progress.Values) p.Finish();
        }
        foreach (var (seed, result) in runs)
            foreach (var warning in result.Warnings) Console.Error.WriteLine($"warning: seed {seed}: {warning}");
        foreach (var l in levels)
            Console.WriteLine($"level {l.Level:G4}: mean Jaccard {l.Mean:F3} over {l.Pairs.Length} seed pairs");
        Console.WriteLine($"wrote {Path.GetFullPath(experiment.OutDir)}");
        return 0;
    }
}
