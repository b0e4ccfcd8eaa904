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
        using var model = ModelFolder.Load(dir);
        using var weights = SafetensorsShards.Open(dir);
        var files = weights.Entries.Values.Select(v => v.File.Path).Distinct().Order().ToList();
        var dtypes = weights.Entries.Values.GroupBy(e => e.Entry.DType).Select(g => $"{g.Key} x {g.Count()}");
        var heads = model is Llama llama && llama.Config.KvHeads != llama.Heads
            ? $"{model.Heads} query heads over {llama.Config.KvHeads} key-value heads x d_head {model.DHead}"
            : $"{model.Heads} x d_head {model.DHead}";
        var mlp = model switch
        {
            Gpt2 g => g.HasMlp ? g.Config.DMlp.ToString() : "-",
            Llama l => $"{l.Config.DMlp} (SwiGLU)",
            _ => throw new InvalidOperationException($"no MLP width for {model.GetType().Name}"),
        };
        Console.WriteLine($"model          {Path.GetFullPath(dir)}");
        Console.WriteLine($"model_type     {model.ModelType}");
        Console.WriteLine($"layers         {model.Layers}{(model.HasMlp ? "" : " (attention only)")}");
        Console.WriteLine($"heads          {heads}");
        Console.WriteLine($"d_model        {model.DModel}");
        Console.WriteLine($"d_mlp          {mlp}");
        Console.WriteLine($"positions      {model.Positions}");
        Console.WriteLine($"vocabulary     {model.VocabSize:N0}");
        Console.WriteLine($"parameters     {model.ParameterCount:N0}");
        Console.WriteLine($"stored dtypes  {string.Join(", ", dtypes)}");
        Console.WriteLine($"file size      {files.Sum(f => new FileInfo(f).Length):N0} bytes{(files.Count > 1 ? $" in {files.Count} shards" : "")}");
        var nonFinite = NonFinite(weights);
        Console.WriteLine($"non-finite     {(nonFinite.Count == 0 ? "none" : string.Join(", ", nonFinite.Select(t => $"{t.Name} ({t.Count:N0})")))}");
        if (nonFinite.Count == 0) return 0;
        Console.Error.WriteLine($"error: {weights.Entries[nonFinite[0].Name].File.Path}: {nonFinite.Count} tensors hold NaN or infinite values (first '{nonFinite[0].Name}'); every figure computed with this model would be NaN");
        return 1;
    }

    /// <summary>The tensors of the weights that hold NaN or an infinity, with how many such elements each.</summary>
    static List<(string Name, long Count)> NonFinite(SafetensorsShards weights)
    {
        var found = new List<(string, long)>();
        foreach (var name in weights.Entries.Keys.Order(StringComparer.Ordinal))
        {
            using var scope = TorchSharp.torch.NewDisposeScope();
            var count = weights.Read(name).isfinite().logical_not().sum().item<long>();
            if (count > 0) found.Add((name, count));
        }
        return found;
    }
}
