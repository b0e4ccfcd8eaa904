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
        var nonFinite = NonFinite(file);
        Console.WriteLine($"non-finite     {(nonFinite.Count == 0 ? "none" : string.Join(", ", nonFinite.Select(t => $"{t.Name} ({t.Count:N0})")))}");
        if (nonFinite.Count == 0) return 0;
        Console.Error.WriteLine($"error: {weights}: {nonFinite.Count} tensors hold NaN or infinite values (first '{nonFinite[0].Name}'); every figure computed with this model would be NaN");
        return 1;
    }

    /// <summary>The tensors of the file that hold NaN or an infinity, with how many such elements each.</summary>
    static List<(string Name, long Count)> NonFinite(SafetensorsFile file)
    {
        var found = new List<(string, long)>();
        foreach (var name in file.Entries.Keys.Order(StringComparer.Ordinal))
        {
            using var scope = TorchSharp.torch.NewDisposeScope();
            var count = file.Read(name).isfinite().logical_not().sum().item<long>();
            if (count > 0) found.Add((name, count));
        }
        return found;
    }
}
