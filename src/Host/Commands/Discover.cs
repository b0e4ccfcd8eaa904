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
        var steps = experiment.Train.Steps;

        // Plain lines, not a redrawn bar: they read the same on a terminal and in a redirected log.
        void Print(StepLog log, string prefix)
        {
            var terms = string.Join("  ", log.Terms.Select(t => $"{t.Item1} {t.Item2:G4}"));
            var target = log.Target is null ? "" : $"  target sparsity {log.Target.Value:F3}";
            Console.WriteLine($"{prefix}step {log.Step + 1,5}/{steps}  {terms}  kept {log.ExpectedKeptFraction:P1}{target}");
        }
        if (request.Seeds is { } seeds) return RunSeeds(experiment, seeds.Value, Print);

        var result = Discovery.run(experiment, FuncConvert.FromAction<StepLog>(log => Print(log, "")));
        var m = result.Metrics;
        Console.WriteLine($"circuit: {result.Circuit.Edges.Count:N0} edges at threshold 0.5; faithfulness {m.Faithfulness:F3}, " +
                          $"KL {m.Kl:F4} nats, metric {m.Circuit:F4} (full {m.Full:F4}, empty {m.Empty:F4}); " +
                          $"curve CPR {result.Curve.Cpr:F3}, CMD {result.Curve.Cmd:F3}");
        Console.WriteLine($"wrote {Path.GetFullPath(result.OutDir)}");
        return 0;
    }

    /// <summary>One run per seed into OUT/seed-N and OUT/stability.csv (<see cref="Stability.run"/>); prints each level's mean overlap.</summary>
    static int RunSeeds(Experiment experiment, Microsoft.FSharp.Collections.FSharpList<int> seeds, Action<StepLog, string> print)
    {
        var (_, levels) = Stability.run(experiment, seeds,
            FuncConvert.FromAction<int, StepLog>((seed, log) => print(log, $"seed {seed}  ")));
        foreach (var l in levels)
            Console.WriteLine($"level {l.Level:G4}: mean Jaccard {l.Mean:F3} over {l.Pairs.Length} seed pairs");
        Console.WriteLine($"wrote {Path.GetFullPath(experiment.OutDir)}");
        return 0;
    }
}
