using System.Text.Json;
using System.Text.Json.Nodes;

namespace PatchDescent.Model;

/// <summary>Llama 3's rotary frequency scaling (config.json's rope_scaling with rope_type "llama3").</summary>
public sealed record Llama3RopeScaling(double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositions);

/// <summary>The shape of a Llama-family decoder (model_type llama or qwen2), as Hugging Face's config.json gives it.</summary>
public sealed record LlamaConfig(
    string ModelType, int Layers, int Heads, int KvHeads, int DModel, int DHead, int DMlp, int VocabSize, int Positions,
    double RmsNormEpsilon, double RopeTheta, Llama3RopeScaling? RopeScaling, bool QkvBias, bool OutputBias, bool TiedEmbeddings)
{
    /// <summary>The model types this config describes.</summary>
    public static IReadOnlyList<string> ModelTypes { get; } = ["llama", "qwen2"];

    /// <summary>Query heads that share one key and value head.</summary>
    public int Group => Heads / KvHeads;

    /// <summary>The shape of Qwen2.5-0.5B.</summary>
    public static LlamaConfig Qwen25_05B { get; } =
        new("qwen2", 24, 14, 2, 896, 64, 4864, 151936, 32768, 1e-6, 1e6, null, true, false, true);

    /// <summary>The shape of Llama-3.1-8B.</summary>
    public static LlamaConfig Llama31_8B { get; } =
        new("llama", 32, 32, 8, 4096, 128, 14336, 128256, 131072, 1e-5, 500000, new Llama3RopeScaling(8, 1, 4, 8192), false, false, false);

    /// <summary>Checks that the numbers describe a buildable model; <paramref name="source"/> names where they came from.</summary>
    public LlamaConfig Validate(string source)
    {
        void Positive(string name, double value)
        {
            if (!(value > 0)) throw new ModelFormatException(source, name, $"must be positive, found {value}");
        }
        if (!ModelTypes.Contains(ModelType))
            throw new ModelFormatException(source, "model_type", $"'{ModelType}' is not a Llama-family type ({string.Join(", ", ModelTypes)})");
        Positive("num_hidden_layers", Layers);
        Positive("num_attention_heads", Heads);
        Positive("num_key_value_heads", KvHeads);
        Positive("hidden_size", DModel);
        Positive("head_dim", DHead);
        Positive("intermediate_size", DMlp);
        Positive("vocab_size", VocabSize);
        Positive("max_position_embeddings", Positions);
        Positive("rms_norm_eps", RmsNormEpsilon);
        Positive("rope_theta", RopeTheta);
        if (Heads % KvHeads != 0)
            throw new ModelFormatException(source, "num_key_value_heads", $"{KvHeads} does not divide num_attention_heads = {Heads}");
        if (DHead % 2 != 0)
            throw new ModelFormatException(source, "head_dim", $"{DHead} is odd; rotary embeddings rotate pairs of dimensions");
        if ((long)Heads * DHead > int.MaxValue)
            throw new ModelFormatException(source, "head_dim", $"{Heads} heads of {DHead} overflow the projection width");
        if (RopeScaling is { } r)
        {
            Positive("rope_scaling.factor", r.Factor);
            Positive("rope_scaling.low_freq_factor", r.LowFreqFactor);
            Positive("rope_scaling.original_max_position_embeddings", r.OriginalMaxPositions);
            if (!(r.HighFreqFactor > r.LowFreqFactor))
                throw new ModelFormatException(source, "rope_scaling.high_freq_factor",
                    $"{r.HighFreqFactor} must exceed low_freq_factor = {r.LowFreqFactor}");
        }
        return this;
    }

    /// <summary>Reads a Hugging Face llama or qwen2 config.json. Fields the math needs are required; those with a
    /// documented default in transformers' LlamaConfig or Qwen2Config take it; settings PatchDescent does not
    /// implement (another activation, MLP biases, other rope scalings, sliding windows) are refused by name.</summary>
    public static LlamaConfig Load(string path)
    {
        var json = ConfigJson.Read(path);
        var modelType = json.String("model_type");
        if (!ModelTypes.Contains(modelType))
            throw new ModelFormatException(path, "model_type", $"'{modelType}' is not a Llama-family type ({string.Join(", ", ModelTypes)})");
        var activation = json.OptionalString("hidden_act") ?? "silu";
        if (activation != "silu")
            throw new ModelFormatException(path, "hidden_act", $"'{activation}' is not supported; the Llama family's SwiGLU uses silu");
        if (json.OptionalBool("mlp_bias") == true)
            throw new ModelFormatException(path, "mlp_bias", "true is not supported: PatchDescent's SwiGLU has no MLP biases");
        if (json.OptionalBool("use_sliding_window") == true)
            throw new ModelFormatException(path, "use_sliding_window", "true is not supported: attention here is full causal attention");
        var heads = json.Int("num_attention_heads");
        var dModel = json.Int("hidden_size");
        var attentionBias = json.OptionalBool("attention_bias") ?? false;
        return new LlamaConfig(
            modelType, json.Int("num_hidden_layers"), heads, json.OptionalInt("num_key_value_heads") ?? heads, dModel,
            json.OptionalInt("head_dim") ?? (heads > 0 && dModel % heads == 0 ? dModel / heads
                : throw new ModelFormatException(path, "hidden_size", $"{dModel} is not a multiple of num_attention_heads = {heads}, and no head_dim is given")),
            json.Int("intermediate_size"), json.Int("vocab_size"), json.Int("max_position_embeddings"),
            json.Number("rms_norm_eps"), json.OptionalNumber("rope_theta") ?? 10000.0, RopeScalingOf(path, json["rope_scaling"]),
            // Qwen2's q, k and v projections always have biases and its output projection none; Llama's attention_bias sets all four.
            QkvBias: modelType == "qwen2" || attentionBias, OutputBias: modelType == "llama" && attentionBias,
            TiedEmbeddings: json.OptionalBool("tie_word_embeddings") ?? false).Validate(path);
    }

    static Llama3RopeScaling? RopeScalingOf(string path, JsonNode? node)
    {
        if (node is null) return null;
        if (node is not JsonObject o) throw new ModelFormatException(path, "rope_scaling", $"must be an object or null, found {node.ToJsonString()}");
        var scaling = new ConfigJson(path, o, "rope_scaling.");
        var type = scaling.OptionalString("rope_type") ?? scaling.OptionalString("type")
                   ?? throw new ModelFormatException(path, "rope_scaling.rope_type", "required field is missing");
        if (type == "default") return null;
        if (type != "llama3")
            throw new ModelFormatException(path, "rope_scaling.rope_type", $"'{type}' is not supported (supported: llama3, default)");
        return new Llama3RopeScaling(scaling.Number("factor"), scaling.Number("low_freq_factor"), scaling.Number("high_freq_factor"),
            scaling.Int("original_max_position_embeddings"));
    }

    /// <summary>The config.json text Hugging Face transformers reads for this shape.</summary>
    public string ToJson()
    {
        var json = new JsonObject
        {
            ["architectures"] = new JsonArray(ModelType == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"),
            ["model_type"] = ModelType,
            ["hidden_act"] = "silu",
            ["num_hidden_layers"] = Layers,
            ["num_attention_heads"] = Heads,
            ["num_key_value_heads"] = KvHeads,
            ["hidden_size"] = DModel,
            ["head_dim"] = DHead,
            ["intermediate_size"] = DMlp,
            ["vocab_size"] = VocabSize,
            ["max_position_embeddings"] = Positions,
            ["rms_norm_eps"] = RmsNormEpsilon,
            ["rope_theta"] = RopeTheta,
            ["rope_scaling"] = RopeScaling is { } r
                ? new JsonObject
                {
                    ["rope_type"] = "llama3", ["factor"] = r.Factor, ["low_freq_factor"] = r.LowFreqFactor,
                    ["high_freq_factor"] = r.HighFreqFactor, ["original_max_position_embeddings"] = r.OriginalMaxPositions,
                }
                : null,
            ["tie_word_embeddings"] = TiedEmbeddings,
        };
        if (ModelType == "llama")
        {
            if (QkvBias != OutputBias) throw new InvalidOperationException("a llama config sets its q, k, v and output biases together (attention_bias)");
            json["attention_bias"] = QkvBias;
            json["mlp_bias"] = false;
        }
        else if (!QkvBias || OutputBias)
            throw new InvalidOperationException("a qwen2 config has q, k and v biases and no output bias");
        return json.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
