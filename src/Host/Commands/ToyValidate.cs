using PatchDescent.Cli;
using PatchDescent.Model;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent toy validate [--seeds 1,2,3] [--out DIR]`: trains the recipe once per seed into OUT/seed-N and runs the whole check (mechanism and discovery) on each.</summary>
public static class ToyValidate
{
    /// <summary>Runs the verb; exits 1 unless every seed passes.</summary>
    public static int Run(ToyValidateRequest request)
    {
        TrainInduction.OneThread();
        // Every seed's folder is claimed before the first training, so a refusal costs no training time.
        var folders = request.Recipes.Select(r =>
            OutputFolder.Claim("--out", Path.Combine(request.OutDir, $"seed-{r.Item1}"), "toy train-induction", [])).ToList();
        var verdicts = new List<string>();
        var all = true;
        foreach (var ((seed, recipe), folder) in request.Recipes.Zip(folders))
        {
            Console.WriteLine($"== seed {seed} ==");
            using var model = TrainInduction.Train(recipe, folder);
            var passed = ToyCheck.Check(model, recipe.Task, folder.FullPath, acceptance: true);
            all &= passed;
            verdicts.Add($"seed {seed}: {(passed ? "PASS" : "FAIL")}");
        }
        foreach (var v in verdicts) Console.WriteLine(v);
        return all ? 0 : 1;
    }
}
