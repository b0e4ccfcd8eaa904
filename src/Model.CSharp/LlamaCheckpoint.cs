using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace PatchDescent.Model;

/// <summary>Hugging Face Llama and Qwen2 model folders (config.json + model.safetensors or its shards), read and written.</summary>
public static class LlamaCheckpoint
{
    const string ConfigFile = "config.json";

    /// <summary>Loads <paramref name="dir"/> in <paramref name="dtype"/>; every tensor's dtype and shape is checked against config.json.</summary>
    public static Llama Load(string dir, Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        if (!Directory.Exists(dir)) throw new ModelFormatException(dir, null, "model folder not found");
        var configPath = Path.Combine(dir, ConfigFile);
        var config = LlamaConfig.Load(configPath);
        using var weights = SafetensorsShards.Open(dir);
        device ??= CPU;
        CheckLayerCount(config, weights, configPath);
        var expected = ExpectedShapes(config);
        var present = weights.Entries.Keys.Where(k => !k.EndsWith(".rotary_emb.inv_freq")).ToHashSet();
        // A tied head may still be stored; it must then equal the embedding (checked below).
        if (config.TiedEmbeddings) present.Remove("lm_head.weight");
        if (expected.Keys.Where(k => !present.Contains(k)).Order().ToList() is { Count: > 0 } missing)
            throw new ModelFormatException(MissingFrom(weights, dir), missing[0],
                $"required tensor is missing{(missing.Count > 1 ? $" (and {missing.Count - 1} more: {string.Join(", ", missing.Skip(1).Take(5))})" : "")}");
        if (present.Where(k => !expected.ContainsKey(k)).Order().FirstOrDefault() is { } extra)
            throw new ModelFormatException(weights.Entries[extra].File.Path, extra,
                $"is not part of a {config.ModelType} of the shape {configPath} describes (is config.json from another model?)");
        var loaded = new List<Tensor>();
        try
        {
            Tensor Get(string name)
            {
                var t = Checkpoint.ReadWeight(weights.Entries[name].File, name, expected[name], dtype, device);
                loaded.Add(t);
                return t;
            }
            Tensor? Maybe(string name, bool present) => present ? Get(name) : null;
            var (h, e, d) = ((long)config.Heads, (long)config.DHead, (long)config.DModel);
            var blocks = Enumerable.Range(0, config.Layers).Select(l =>
            {
                var p = $"model.layers.{l}.";
                var wo = Get(p + "self_attn.o_proj.weight");                                            // [d_model, head * d_head]
                var perHead = wo.t().contiguous().view(h, e, d).DetachFromDisposeScope();             // [head, d_head, d_model]
                loaded.Add(perHead);
                wo.Dispose();
                return new LlamaBlock
                {
                    Ln1W = Get(p + "input_layernorm.weight"),
                    WQ = Get(p + "self_attn.q_proj.weight"), BQ = Maybe(p + "self_attn.q_proj.bias", config.QkvBias),
                    WK = Get(p + "self_attn.k_proj.weight"), BK = Maybe(p + "self_attn.k_proj.bias", config.QkvBias),
                    WV = Get(p + "self_attn.v_proj.weight"), BV = Maybe(p + "self_attn.v_proj.bias", config.QkvBias),
                    WO = perHead, BO = Maybe(p + "self_attn.o_proj.bias", config.OutputBias),
                    Ln2W = Get(p + "post_attention_layernorm.weight"),
                    WGate = Get(p + "mlp.gate_proj.weight"), WUp = Get(p + "mlp.up_proj.weight"), WDown = Get(p + "mlp.down_proj.weight"),
                };
            }).ToList();
            var embed = Get("model.embed_tokens.weight");
            var model = new Llama(config, embed, blocks, Get("model.norm.weight"), config.TiedEmbeddings ? null : Get("lm_head.weight"));
            if (config.TiedEmbeddings && weights.Entries.TryGetValue("lm_head.weight", out var head))
            {
                using var scope = NewDisposeScope();
                var stored = head.File.Read("lm_head.weight").to(dtype, device);
                if (!stored.shape.SequenceEqual(embed.shape) || !stored.eq(embed).all().item<bool>())
                    throw new ModelFormatException(head.File.Path, "lm_head.weight", "differs from model.embed_tokens.weight, but config.json says tie_word_embeddings");
            }
            return model;
        }
        catch
        {
            foreach (var t in loaded) t.Dispose();
            throw;
        }
    }

    /// <summary>Where a missing tensor should have been: the one weights file, or the index that maps the shards.</summary>
    static string MissingFrom(SafetensorsShards weights, string dir) =>
        weights.Entries.Values.Select(v => v.File.Path).Distinct().Count() == 1
            ? weights.Entries.Values.First().File.Path
            : Path.Combine(dir, SafetensorsShards.IndexFile);

    /// <summary>Writes config.json and the weights into <paramref name="dir"/> in Hugging Face's layout: one
    /// model.safetensors, or with <paramref name="shards"/> above 1 that many files and model.safetensors.index.json.</summary>
    public static void Save(Llama model, string dir, int shards = 1, IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (shards < 1) throw new ArgumentOutOfRangeException(nameof(shards), shards, "at least one shard");
        using var scope = NewDisposeScope();
        Directory.CreateDirectory(dir);
        var c = model.Config;
        var tensors = new List<(string Name, Tensor Tensor)> { ("model.embed_tokens.weight", model.Embed) };
        for (var l = 0; l < model.Blocks.Count; l++)
        {
            var b = model.Blocks[l];
            var p = $"model.layers.{l}.";
            tensors.Add((p + "input_layernorm.weight", b.Ln1W));
            tensors.Add((p + "self_attn.q_proj.weight", b.WQ));
            tensors.Add((p + "self_attn.k_proj.weight", b.WK));
            tensors.Add((p + "self_attn.v_proj.weight", b.WV));
            if (b.BQ is not null) tensors.AddRange([(p + "self_attn.q_proj.bias", b.BQ), (p + "self_attn.k_proj.bias", b.BK!), (p + "self_attn.v_proj.bias", b.BV!)]);
            tensors.Add((p + "self_attn.o_proj.weight", b.WO.reshape((long)c.Heads * c.DHead, c.DModel).t()));
            if (b.BO is not null) tensors.Add((p + "self_attn.o_proj.bias", b.BO));
            tensors.AddRange([
                (p + "post_attention_layernorm.weight", b.Ln2W), (p + "mlp.gate_proj.weight", b.WGate),
                (p + "mlp.up_proj.weight", b.WUp), (p + "mlp.down_proj.weight", b.WDown)]);
        }
        tensors.Add(("model.norm.weight", model.NormW));
        if (!c.TiedEmbeddings) tensors.Add(("lm_head.weight", model.LmHead));
        var meta = new Dictionary<string, string> { ["format"] = "pt" };
        foreach (var (k, v) in metadata ?? new Dictionary<string, string>()) meta[k] = v;
        if (shards == 1) SafetensorsFile.Write(Path.Combine(dir, SafetensorsShards.SingleFile), tensors, meta);
        else
        {
            var map = new JsonObject();
            var size = (tensors.Count + shards - 1) / shards;
            for (var s = 0; s < shards; s++)
            {
                var name = $"model-{s + 1:D5}-of-{shards:D5}.safetensors";
                var part = tensors.Skip(s * size).Take(size).ToList();
                SafetensorsFile.Write(Path.Combine(dir, name), part, meta);
                foreach (var (n, _) in part) map[n] = name;
            }
            var index = new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map };
            AtomicFile.WriteText(Path.Combine(dir, SafetensorsShards.IndexFile), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }
        AtomicFile.WriteText(Path.Combine(dir, ConfigFile), c.ToJson());
    }

    /// <summary>The shape config.json implies for every Hugging Face tensor name.</summary>
    public static IReadOnlyDictionary<string, long[]> ExpectedShapes(LlamaConfig c)
    {
        var (d, q, kv, m) = ((long)c.DModel, (long)c.Heads * c.DHead, (long)c.KvHeads * c.DHead, (long)c.DMlp);
        var shapes = new Dictionary<string, long[]>
        {
            ["model.embed_tokens.weight"] = [c.VocabSize, d],
            ["model.norm.weight"] = [d],
        };
        if (!c.TiedEmbeddings) shapes["lm_head.weight"] = [c.VocabSize, d];
        for (var l = 0; l < c.Layers; l++)
        {
            var p = $"model.layers.{l}.";
            shapes[p + "input_layernorm.weight"] = [d];
            shapes[p + "self_attn.q_proj.weight"] = [q, d];
            shapes[p + "self_attn.k_proj.weight"] = [kv, d];
            shapes[p + "self_attn.v_proj.weight"] = [kv, d];
            if (c.QkvBias)
            {
                shapes[p + "self_attn.q_proj.bias"] = [q];
                shapes[p + "self_attn.k_proj.bias"] = [kv];
                shapes[p + "self_attn.v_proj.bias"] = [kv];
            }
            shapes[p + "self_attn.o_proj.weight"] = [d, q];
            if (c.OutputBias) shapes[p + "self_attn.o_proj.bias"] = [d];
            shapes[p + "post_attention_layernorm.weight"] = [d];
            shapes[p + "mlp.gate_proj.weight"] = [m, d];
            shapes[p + "mlp.up_proj.weight"] = [m, d];
            shapes[p + "mlp.down_proj.weight"] = [d, m];
        }
        return shapes;
    }

    /// <summary>Compares num_hidden_layers with the blocks the files hold before anything is sized by it.</summary>
    static void CheckLayerCount(LlamaConfig config, SafetensorsShards weights, string configPath)
    {
        var layers = Checkpoint.BlockCount(weights.Entries.Keys, @"^model\.layers\.(\d+)\.");
        if (layers != config.Layers)
            throw new ModelFormatException(configPath, "num_hidden_layers",
                $"is {config.Layers}, but the weights hold {(layers == 0 ? "no blocks" : $"{layers} blocks (model.layers.0 .. model.layers.{layers - 1})")}; is config.json from another model?");
    }
}
