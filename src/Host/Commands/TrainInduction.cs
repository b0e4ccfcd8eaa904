using System.Diagnostics;
using PatchDescent.Cli;
using PatchDescent.Model;
using PatchDescent.Toys;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent toy train-induction --out DIR [--seed S] [...]`: trains a GPT-2 on the trigger task and writes it with its task.json and loss curve.</summary>
public static class TrainInduction
{
    /// <summary>Runs the verb: trains, writes the folder, and prints the mechanism check.</summary>
    public static int Run(TrainInductionRequest request)
    {
        OneThread();
        var folder = OutputFolder.Claim("--out", request.OutDir, "toy train-induction", [], request.Force);
        using var model = Train(request.Recipe, folder);
        foreach (var line in InductionCheck.Run(model, request.Recipe.Task).Lines()) Console.WriteLine(line);
        return 0;
    }

    /// <summary>
    /// Sets the process to one libtorch thread: a seed then gives the same weights whatever the machine's core count,
    /// and on a shared machine two OpenMP threads spinning against other processes made a step 10x slower (MODEL.md).
    /// The verb owns the process, so the setting is its to make.
    /// </summary>
    public static void OneThread() => TorchSharp.torch.set_num_threads(1);

    /// <summary>Trains the recipe and writes config.json, model.safetensors, task.json and loss.csv into <paramref name="folder"/>, claimed before training, which appears whole once training has succeeded; returns the model.</summary>
    public static Gpt2 Train(InductionRecipe recipe, OutputFolder folder)
    {
        var (c, t, o) = (recipe.Config, recipe.Task, recipe.Options);
        Console.WriteLine($"training a {c.Layers}-layer GPT-2{(c.AttnOnly ? " (attention only)" : "")}, d_model {c.DModel}, {c.Heads} heads, " +
                          $"on the trigger task (vocabulary {t.Vocab}, triggers {string.Join(",", t.Triggers)}, {t.SeqLen} tokens, trigger rate {t.TriggerRate})");
        Console.WriteLine($"{o.Steps} steps of {o.BatchSize} sequences, AdamW {o.LearningRate}, seed {o.Seed}");
        var curve = new List<string> { TrainLog.CsvHeader };
        var interactive = !Console.IsOutputRedirected;
        var model = recipe.Train(log =>
        {
            curve.Add(log.ToCsv());
            var figures = FormattableString.Invariant(
                $"step {log.Step,6}/{o.Steps}  loss {log.Loss:F4}  predictable {log.PredictableLoss:F4}  other {log.OtherLoss:F4}  {log.Seconds:F0} s");
            if (interactive)
            {
                const int width = 30;
                var done = (int)(width * (long)log.Step / o.Steps);
                Console.Write($"\r[{new string('#', done)}{new string('-', width - done)}] {figures}");
                if (log.Step == o.Steps) Console.WriteLine();
            }
            else Console.WriteLine(figures);
        });
        try
        {
            folder.Write(dir =>
            {
                recipe.Save(model, dir);
                File.WriteAllLines(Path.Combine(dir, "loss.csv"), curve);
                return dir;
            });
            Console.WriteLine($"wrote {folder.FullPath}");
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
