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
        if (!System.IO.File.Exists(path)) throw new ModelFormatException(path, null, "file not found");
        JsonObject json;
        try
        {
            json = JsonNode.Parse(System.IO.File.ReadAllText(path)) as JsonObject
                   ?? throw new ModelFormatException(path, null, "is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(path, null, $"is not valid JSON: {e.Message}");
        }

        JsonNode Required(string name) =>
            json[name] ?? throw new ModelFormatException(path, name, "required field is missing");
        // Each field's type is checked by name, so that "n_layer": "2" says which field and what it must be.
        T Typed<T>(string name, JsonNode node, string what)
        {
            try
            {
                return node.GetValue<T>();
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException or OverflowException)
            {
                throw new ModelFormatException(path, name, $"must be {what}, found {node.ToJsonString()}");
            }
        }
        int Int(string name) => Typed<int>(name, Required(name), "an integer");

        var activation = Typed<string>("activation_function", Required("activation_function"), "a string");
        if (activation is not ("gelu_new" or "gelu_pytorch_tanh"))
            throw new ModelFormatException(path, "activation_function", $"'{activation}' is not supported; GPT-2 uses gelu_new");
        int? inner = json["n_inner"] is JsonNode n ? Typed<int>("n_inner", n, "an integer or null") : null;
        return new Gpt2Config(
            Int("n_layer"), Int("n_head"), Int("n_embd"), Int("n_positions"), Int("vocab_size"),
            Typed<double>("layer_norm_epsilon", Required("layer_norm_epsilon"), "a number"),
            json["attn_only"] is JsonNode a && Typed<bool>("attn_only", a, "true or false"),
            inner).Validate(path);
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
