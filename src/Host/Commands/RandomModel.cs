using PatchDescent.Model;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent random-model --shape gpt2-small|tiny --out DIR [--seed S]`: a seeded random checkpoint in Hugging Face's layout, for benchmarks and dry runs.</summary>
public static class RandomModel
{
    /// <summary>Named shapes: GPT-2 small, and a tiny model with the real vocabulary.</summary>
    public static Gpt2Config Shape(string name) => name switch
    {
        "gpt2-small" => Gpt2Config.Gpt2Small,
        "tiny" => new Gpt2Config(2, 4, 64, 128, Tokenizer.VocabSize, 1e-5),
        _ => throw new UsageException($"random-model: --shape '{name}': expected gpt2-small or tiny"),
    };

    /// <summary>Runs the verb.</summary>
    public static int Run(CommandLine args)
    {
        var config = Shape(args.Optional("--shape") ?? "tiny");
        var outDir = args.Required("--out");
        var seed = args.Int("--seed", 0);
        args.CheckAllRead();
        using var model = Gpt2.Random(config, seed);
        Checkpoint.Save(model, outDir, new Dictionary<string, string> { ["patchdescent"] = $"random seed {seed}" });
        Console.WriteLine($"wrote a random {config.Layers}-layer GPT-2 ({model.ParameterCount:N0} parameters, seed {seed}) to {outDir}");
        return 0;
    }
}
