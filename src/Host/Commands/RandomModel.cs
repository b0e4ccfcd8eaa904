using PatchDescent.Cli;
using PatchDescent.Model;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent random-model --shape gpt2-small|tiny --out DIR [--seed S]`: a seeded random checkpoint in Hugging Face's layout, for benchmarks and dry runs.</summary>
public static class RandomModel
{
    /// <summary>Named shapes: GPT-2 small, and a tiny model with the real vocabulary.</summary>
    public static Gpt2Config Shape(ShapeName name) =>
        name.IsGpt2_Small ? Gpt2Config.Gpt2Small : new Gpt2Config(2, 4, 64, 128, Tokenizer.VocabSize, 1e-5);

    /// <summary>Runs the verb.</summary>
    public static int Run(RandomModelRequest request)
    {
        var config = Shape(request.Shape);
        var seed = request.Seed;
        var folder = OutputFolder.Claim("--out", request.OutDir, "random-model", [], request.Force);
        using var model = Gpt2.Random(config, seed);
        folder.Write(dir =>
        {
            Checkpoint.Save(model, dir, new Dictionary<string, string> { ["patchdescent"] = $"random seed {seed}" });
            return dir;
        });
        Console.WriteLine($"wrote a random {config.Layers}-layer GPT-2 ({model.ParameterCount:N0} parameters, seed {seed}) to {folder.FullPath}");
        return 0;
    }
}
