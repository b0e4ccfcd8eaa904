using PatchDescent.Cli;
using PatchDescent.Model;
using PatchDescent.Search;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent export-mib --run DIR --out DIR [--task-name NAME] [--force]`: a run's or a comparison's edge scores as MIB's submission folder.</summary>
public static class ExportMib
{
    /// <summary>Runs the verb: <see cref="MibSubmission.files"/> of the run, written into `--out` at once (<see cref="OutputFolder"/>); prints each file and the MIB command that evaluates it.</summary>
    public static int Run(ExportMibRequest request)
    {
        var folder = OutputFolder.Claim("--out", request.OutDir, "export-mib", [("--run", request.RunDir)], request.Force);
        var files = MibSubmission.files(request.RunDir, request.TaskName);
        if (files.IsError) throw new InvalidOperationException(files.ErrorValue);
        folder.Write(dir =>
        {
            foreach (var f in files.ResultValue)
            {
                var path = Path.Combine(dir, f.Path);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                AtomicFile.WriteText(path, f.Text);
            }
            return 0;
        });
        foreach (var f in files.ResultValue)
        {
            Console.WriteLine($"{Path.Combine(folder.FullPath, f.Path)}: {f.Edges:N0} edge scores of {f.Run} ({f.Task} on {f.Model}, the model told by the graph's shape)");
            Console.WriteLine($"  MIB evaluates it with: python run_evaluation.py --circuit-dir {folder.FullPath} --method {f.Method} --ablation {f.Ablation} --models {f.Model} --tasks {f.Task.Replace('-', '_')}");
        }
        return 0;
    }
}
