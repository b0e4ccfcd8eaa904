using PatchDescent.Cli;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent toy validate [--seeds 1,2,3] [--out DIR]`: trains the recipe once per seed into OUT/seed-N and runs the whole check (mechanism and discovery) on each.</summary>
public static class ToyValidate
{
    /// <summary>Runs the verb; exits 1 unless every seed passes.</summary>
    public static int Run(ToyValidateRequest request)
    {
        var verdicts = new List<string>();
        var all = true;
        foreach (var (seed, recipe) in request.Recipes)
        {
            Console.WriteLine($"== seed {seed} ==");
            var dir = Path.Combine(request.OutDir, $"seed-{seed}");
            using var model = TrainInduction.Train(recipe, dir);
            var passed = ToyCheck.Check(model, recipe.Task, dir, acceptance: true);
            all &= passed;
            verdicts.Add($"seed {seed}: {(passed ? "PASS" : "FAIL")}");
        }
        foreach (var v in verdicts) Console.WriteLine(v);
        return all ? 0 : 1;
    }
}
