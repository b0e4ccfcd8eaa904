namespace PatchDescent.Model;

/// <summary>A Hugging Face model folder loaded as the decoder its config.json's model_type names.</summary>
public static class ModelFolder
{
    /// <summary>The model types PatchDescent loads.</summary>
    public static IReadOnlyList<string> ModelTypes { get; } = ["gpt2", .. LlamaConfig.ModelTypes];

    /// <summary>The model_type of <paramref name="dir"/>'s config.json.</summary>
    public static string ModelType(string dir)
    {
        if (File.Exists(dir)) throw new ModelFormatException(dir, null, "is a file; a model is a Hugging Face folder (config.json + model.safetensors)");
        if (!Directory.Exists(dir)) throw new ModelFormatException(dir, null, "model folder not found");
        var path = Path.Combine(dir, "config.json");
        var type = ConfigJson.Read(path).OptionalString("model_type")
                   ?? throw new ModelFormatException(path, "model_type", $"required field is missing (supported: {string.Join(", ", ModelTypes)})");
        if (!ModelTypes.Contains(type))
            throw new ModelFormatException(path, "model_type", $"'{type}' is not supported (supported: {string.Join(", ", ModelTypes)})");
        return type;
    }

    /// <summary>Loads <paramref name="dir"/> as GPT-2 or as a Llama-family model, by its model_type.</summary>
    public static Decoder Load(string dir, TorchSharp.torch.Device? device = null, TorchSharp.torch.ScalarType dtype = TorchSharp.torch.ScalarType.Float32) =>
        ModelType(dir) == "gpt2" ? Checkpoint.Load(dir, device, dtype) : LlamaCheckpoint.Load(dir, device, dtype);
}
