using Microsoft.FSharp.Core;
using PatchDescent.Cli;
using PatchDescent.Search;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent compare`: several discovery methods on one model and data, side by side.</summary>
public static class Compare
{
    /// <summary>Runs the verb: <see cref="PatchDescent.Search.Compare.run"/> on the experiment the command line described; prints the Markdown table.</summary>
    public static int Run(CompareRequest request)
    {
        var experiment = request.Experiment;
        var steps = experiment.Train.Steps;
        var runs = PatchDescent.Search.Compare.run(experiment, request.Methods, FuncConvert.FromAction<Method, StepLog>((method, log) =>
        {
            var terms = string.Join("  ", log.Terms.Select(t => $"{t.Item1} {t.Item2:G4}"));
            Console.WriteLine($"{MethodModule.name(method)}  step {log.Step + 1,5}/{steps}  {terms}  kept {log.ExpectedKeptFraction:P1}");
        }));
        foreach (var line in PatchDescent.Search.Compare.markdown(runs)) Console.WriteLine(line);
        Console.WriteLine($"wrote {Path.GetFullPath(experiment.OutDir)}");
        return 0;
    }
}
