using PatchDescent.Search;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent discover --model DIR --data FILE.jsonl --out DIR [--granularity full|heads] [--steps N] [--seed S | --seeds 1,2,3] [--batch-size B]`: one discovery run, or one per seed and their overlaps.</summary>
public static class Discover
{
    /// <summary>Runs the verb: builds the same <see cref="Experiment"/> a script would, from <see cref="ExperimentModule.defaults"/>.</summary>
    public static int Run(CommandLine args)
    {
        var model = args.Required("--model");
        var data = args.Required("--data");
        var outDir = args.Required("--out");
        var granularity = args.Optional("--granularity") ?? "full";
        var steps = args.Int("--steps", 300);
        var seed = args.Int("--seed", 1);
        var batchSize = args.Int("--batch-size", 16);
        var seedList = args.Optional("--seeds");
        if (seedList is not null && args.Optional("--seed") is not null)
            throw new UsageException("discover: give --seed for one run or --seeds for several, not both");
        args.CheckAllRead();
        if (steps < 1) throw new UsageException("discover: --steps must be at least 1");
        if (batchSize < 1) throw new UsageException("discover: --batch-size must be at least 1");

        var experiment = ExperimentModule.withSteps(steps, ExperimentModule.defaults(model, DataSource.NewJsonlFile(data), outDir));
        var train = experiment.Train;
        experiment = new Experiment(
            experiment.ModelDir, experiment.Data,
            granularity switch
            {
                "full" => Granularity.Full,
                "heads" => Granularity.Heads,
                _ => throw new UsageException($"discover: --granularity '{granularity}': expected full or heads"),
            },
            experiment.Ablation,
            new TrainSettings(train.Steps, train.LearningRate, train.Gate, train.Loss, train.Sparsity, train.ClipNorm, seed, train.LogEvery),
            batchSize, experiment.Levels, experiment.OutDir, experiment.Compute);

        // Plain lines, not a redrawn bar: they read the same on a terminal and in a redirected log.
        void Print(StepLog log, string prefix)
        {
            var terms = string.Join("  ", log.Terms.Select(t => $"{t.Item1} {t.Item2:G4}"));
            var target = log.Target is null ? "" : $"  target sparsity {log.Target.Value:F3}";
            Console.WriteLine($"{prefix}step {log.Step + 1,5}/{steps}  {terms}  kept {log.ExpectedKeptFraction:P1}{target}");
        }
        if (seedList is not null) return RunSeeds(experiment, ParseSeeds(seedList), Print);

        var result = Discovery.run(experiment, Microsoft.FSharp.Core.FuncConvert.FromAction<StepLog>(log => Print(log, "")));
        var m = result.Metrics;
        Console.WriteLine($"circuit: {result.Circuit.Edges.Count:N0} edges at threshold 0.5; faithfulness {m.Faithfulness:F3}, " +
                          $"KL {m.Kl:F4} nats, metric {m.Circuit:F4} (full {m.Full:F4}, empty {m.Empty:F4}); " +
                          $"curve CPR {result.Curve.Cpr:F3}, CMD {result.Curve.Cmd:F3}");
        Console.WriteLine($"wrote {Path.GetFullPath(result.OutDir)}");
        return 0;
    }

    static List<int> ParseSeeds(string text)
    {
        var seeds = text.Split(',').Select(s => int.TryParse(s.Trim(), out var v)
            ? v : throw new UsageException($"discover: --seeds expects integers separated by commas, got '{text}'")).ToList();
        if (seeds.Count < 2 || seeds.Distinct().Count() != seeds.Count)
            throw new UsageException($"discover: --seeds needs at least two different seeds, got '{text}'");
        return seeds;
    }

    /// <summary>One run per seed into OUT/seed-N and OUT/stability.csv (<see cref="Stability.run"/>); prints each level's mean overlap.</summary>
    static int RunSeeds(Experiment experiment, List<int> seeds, Action<StepLog, string> print)
    {
        var (_, levels) = Stability.run(experiment, Microsoft.FSharp.Collections.ListModule.OfSeq(seeds),
            Microsoft.FSharp.Core.FuncConvert.FromAction<int, StepLog>((seed, log) => print(log, $"seed {seed}  ")));
        foreach (var l in levels)
            Console.WriteLine($"level {l.Level:G4}: mean Jaccard {l.Mean:F3} over {l.Pairs.Length} seed pairs");
        Console.WriteLine($"wrote {Path.GetFullPath(experiment.OutDir)}");
        return 0;
    }
}
