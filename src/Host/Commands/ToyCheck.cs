using PatchDescent.Cli;
using PatchDescent.Model;
using PatchDescent.Search.Tasks;
using PatchDescent.Toys;
using PatchDescent.Search;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent toy check --model DIR [--acceptance]`: prints every figure of the mechanism check, and with --acceptance those of discovery's.</summary>
public static class ToyCheck
{
    /// <summary>Runs the verb; exits 1 when the check (or the acceptance) fails.</summary>
    public static int Run(ToyCheckRequest request)
    {
        var task = TriggerTask.Load(Path.Combine(request.ModelDir, "task.json"));
        using var model = Checkpoint.Load(request.ModelDir);
        return Check(model, task, request.ModelDir, request.Acceptance) ? 0 : 1;
    }

    /// <summary>Prints the mechanism check, or the whole acceptance (discovery into a temporary folder, removed afterwards); returns whether it passed.</summary>
    public static bool Check(Gpt2 model, TriggerTask task, string modelDir, bool acceptance)
    {
        if (!acceptance)
        {
            var report = InductionCheck.Run(model, task);
            foreach (var line in report.Lines()) Console.WriteLine(line);
            return report.Passes;
        }
        var outDir = Path.Combine(Path.GetTempPath(), $"patchdescent-acceptance-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            var result = InductionAcceptance.run(model, task, InductionAcceptance.experiment(modelDir, task, outDir));
            foreach (var line in InductionAcceptance.lines(result)) Console.WriteLine(line);
            return InductionAcceptance.passes(result);
        }
        finally
        {
            if (Directory.Exists(outDir)) Directory.Delete(outDir, true);
        }
    }
}
