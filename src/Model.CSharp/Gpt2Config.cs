using System.Text.Json;
using System.Text.Json.Nodes;

namespace PatchDescent.Model;

/// <summary>The shape of a GPT-2, as Hugging Face's config.json gives it.</summary>
/// <remarks>One extension for the small models PatchDescent trains: <c>"attn_only": true</c> means blocks have no MLP.</remarks>
public sealed record Gpt2Config(
    int Layers, int Heads, int DModel, int Positions, int VocabSize, double LayerNormEpsilon, bool AttnOnly = false, int? DMlpOverride = null)
{
    /// <summary>Width of one attention head.</summary>
    public int DHead => DModel / Heads;

    /// <summary>Width of the MLP's hidden layer (config's n_inner, else 4 * n_embd).</summary>
    public int DMlp => DMlpOverride ?? 4 * DModel;

    /// <summary>The shape of GPT-2 small (124M).</summary>
    public static Gpt2Config Gpt2Small { get; } = new(12, 12, 768, 1024, 50257, 1e-5);

    /// <summary>Checks that the numbers describe a buildable model; <paramref name="source"/> names where they came from.</summary>
    public Gpt2Config Validate(string source)
    {
        void Positive(string name, int value)
        {
            if (value <= 0) throw new ModelFormatException(source, name, $"must be positive, found {value}");
        }
        Positive("n_layer", Layers);
        Positive("n_head", Heads);
        Positive("n_embd", DModel);
        Positive("n_positions", Positions);
        Positive("vocab_size", VocabSize);
        if (DMlpOverride is null && 4L * DModel > int.MaxValue)
            throw new ModelFormatException(source, "n_embd", $"{DModel} is too large: the MLP width 4 x n_embd would overflow");
        if (3L * DModel > int.MaxValue)
            throw new ModelFormatException(source, "n_embd", $"{DModel} is too large: the q, k, v width 3 x n_embd would overflow");
        Positive("n_inner", DMlp);
        if (DModel % Heads != 0)
            throw new ModelFormatException(source, "n_embd", $"{DModel} is not a multiple of n_head = {Heads}");
        if (!(LayerNormEpsilon > 0))
            throw new ModelFormatException(source, "layer_norm_epsilon", $"must be positive, found {LayerNormEpsilon}");
        return this;
    }

    /// <summary>Reads a Hugging Face GPT-2 config.json; unknown fields are ignored, missing required ones are an error.</summary>
    public static Gpt2Config Load(string path)
    {
        var json = ConfigJson.Read(path);
        if (json.OptionalString("model_type") is { } type && type != "gpt2")
            throw new ModelFormatException(path, "model_type", $"'{type}' is not GPT-2; load the folder as a model of its own type");
        var activation = json.String("activation_function");
        if (activation is not ("gelu_new" or "gelu_pytorch_tanh"))
            throw new ModelFormatException(path, "activation_function", $"'{activation}' is not supported; GPT-2 uses gelu_new");
        return new Gpt2Config(
            json.Int("n_layer"), json.Int("n_head"), json.Int("n_embd"), json.Int("n_positions"), json.Int("vocab_size"),
            json.Number("layer_norm_epsilon"), json.OptionalBool("attn_only") ?? false, json.OptionalInt("n_inner")).Validate(path);
    }

    /// <summary>The config.json text Hugging Face transformers reads for this shape.</summary>
    public string ToJson()
    {
        var json = new JsonObject
        {
            ["architectures"] = new JsonArray("GPT2LMHeadModel"),
            ["model_type"] = "gpt2",
            ["activation_function"] = "gelu_new",
            ["n_layer"] = Layers,
            ["n_head"] = Heads,
            ["n_embd"] = DModel,
            ["n_positions"] = Positions,
            ["n_ctx"] = Positions,
            ["n_inner"] = DMlpOverride,
            ["vocab_size"] = VocabSize,
            ["layer_norm_epsilon"] = LayerNormEpsilon,
            ["bos_token_id"] = Tokenizer.EndOfText,
            ["eos_token_id"] = Tokenizer.EndOfText,
            ["tie_word_embeddings"] = true,
        };
        if (AttnOnly) json["attn_only"] = true;
        return json.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
