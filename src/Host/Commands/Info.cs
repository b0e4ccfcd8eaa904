using PatchDescent.Cli;
using PatchDescent.Model;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent info --model DIR`: checks that a checkpoint loads and prints its card.</summary>
public static class Info
{
    /// <summary>Runs the verb.</summary>
    public static int Run(InfoRequest request)
    {
        var dir = request.ModelDir;
        var weights = Path.Combine(dir, "model.safetensors");
        using var model = Checkpoint.Load(dir);
        using var file = SafetensorsFile.Open(weights);
        var c = model.Config;
        var dtypes = file.Entries.Values.GroupBy(e => e.DType).Select(g => $"{g.Key} x {g.Count()}");
        Console.WriteLine($"model          {Path.GetFullPath(dir)}");
        Console.WriteLine($"layers         {c.Layers}{(c.AttnOnly ? " (attention only)" : "")}");
        Console.WriteLine($"heads          {c.Heads} x d_head {c.DHead}");
        Console.WriteLine($"d_model        {c.DModel}");
        Console.WriteLine($"d_mlp          {(c.AttnOnly ? "-" : c.DMlp.ToString())}");
        Console.WriteLine($"positions      {c.Positions}");
        Console.WriteLine($"vocabulary     {c.VocabSize:N0}");
        Console.WriteLine($"parameters     {model.ParameterCount:N0}");
        Console.WriteLine($"stored dtypes  {string.Join(", ", dtypes)}");
        Console.WriteLine($"file size      {new FileInfo(weights).Length:N0} bytes");
        return 0;
    }
}
