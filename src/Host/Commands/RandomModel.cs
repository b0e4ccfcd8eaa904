using PatchDescent.Cli;
using PatchDescent.Model;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent random-model --shape tiny|gpt2-small|tiny-llama|qwen2.5-0.5b --out DIR [--seed S]`: a seeded random checkpoint in Hugging Face's layout, for benchmarks and dry runs.</summary>
public static class RandomModel
{
    /// <summary>Named GPT-2 shapes: GPT-2 small, and a tiny model with the real vocabulary.</summary>
    public static Gpt2Config Shape(ShapeName name) =>
        name.IsGpt2_Small ? Gpt2Config.Gpt2Small : new Gpt2Config(2, 4, 64, 128, Tokenizer.VocabSize, 1e-5);

    /// <summary>Named Llama-family shapes: a tiny Llama with grouped keys and values and GPT-2's vocabulary size (so
    /// GPT-2-tokenized pairs fit it), and Qwen2.5-0.5B's.</summary>
    public static LlamaConfig? LlamaShape(ShapeName name) =>
        name.IsTiny_Llama ? new LlamaConfig("llama", 2, 4, 2, 64, 16, 256, Tokenizer.VocabSize, 128, 1e-5, 10000, null, false, false, false)
        : name.IsQwen25_05B ? LlamaConfig.Qwen25_05B
        : null;

    /// <summary>Runs the verb.</summary>
    public static int Run(RandomModelRequest request)
    {
        var seed = request.Seed;
        var folder = OutputFolder.Claim("--out", request.OutDir, "random-model", [], request.Force);
        var metadata = new Dictionary<string, string> { ["patchdescent"] = $"random seed {seed}" };
        if (LlamaShape(request.Shape) is { } llama)
        {
            // A half-billion-parameter model is written in bfloat16, as Qwen2.5's own checkpoint is.
            var dtype = llama.Layers > 4 ? TorchSharp.torch.ScalarType.BFloat16 : TorchSharp.torch.ScalarType.Float32;
            using var model = Llama.Random(llama, seed, dtype: dtype);
            folder.Write(dir =>
            {
                LlamaCheckpoint.Save(model, dir, metadata: metadata);
                return dir;
            });
            Console.WriteLine($"wrote a random {llama.Layers}-layer {llama.ModelType} ({model.ParameterCount:N0} parameters, {dtype}, seed {seed}) to {folder.FullPath}; it has no tokenizer.json, so give it token-id pairs");
            return 0;
        }
        var config = Shape(request.Shape);
        using var gpt2 = Gpt2.Random(config, seed);
        folder.Write(dir =>
        {
            Checkpoint.Save(gpt2, dir, metadata);
            return dir;
        });
        Console.WriteLine($"wrote a random {config.Layers}-layer GPT-2 ({gpt2.ParameterCount:N0} parameters, seed {seed}) to {folder.FullPath}");
        return 0;
    }
}
