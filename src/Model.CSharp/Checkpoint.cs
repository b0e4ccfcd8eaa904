using static TorchSharp.torch;

namespace PatchDescent.Model;

/// <summary>Hugging Face GPT-2 model folders (config.json + model.safetensors), read and written.</summary>
public static class Checkpoint
{
    const string ConfigFile = "config.json";
    const string WeightsFile = "model.safetensors";
    const string Prefix = "transformer.";

    /// <summary>Loads <paramref name="dir"/>; every tensor's dtype and shape is checked against config.json.</summary>
    public static Gpt2 Load(string dir, Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        if (File.Exists(dir)) throw new ModelFormatException(dir, null, "is a file; a model is a Hugging Face folder (config.json + model.safetensors)");
        if (!Directory.Exists(dir)) throw new ModelFormatException(dir, null, "model folder not found");
        var config = Gpt2Config.Load(Path.Combine(dir, ConfigFile));
        using var file = SafetensorsFile.Open(Path.Combine(dir, WeightsFile));
        device ??= CPU;
        CheckLayerCount(config, file, Path.Combine(dir, ConfigFile));
        var expected = ExpectedShapes(config);
        var keys = ResolveKeys(file, expected.Keys);
        var loaded = new List<Tensor>();
        try
        {
            Tensor Get(string name)
            {
                var t = ReadWeight(file, keys[name], expected[name], dtype, device);
                loaded.Add(t);
                return t;
            }
            var (d, h, e) = (config.DModel, config.Heads, config.DHead);
            var blocks = Enumerable.Range(0, config.Layers).Select(l =>
            {
                var p = $"h.{l}.";
                var mlp = !config.AttnOnly;
                return new Gpt2Block
                {
                    Ln1W = Get(p + "ln_1.weight"), Ln1B = Get(p + "ln_1.bias"),
                    WQkv = Get(p + "attn.c_attn.weight").view(d, 3, h, e),         // Conv1D stores [in, out]
                    BQkv = Get(p + "attn.c_attn.bias").view(3, h, e),
                    WO = Get(p + "attn.c_proj.weight").view(h, e, d),
                    BO = Get(p + "attn.c_proj.bias"),
                    Ln2W = mlp ? Get(p + "ln_2.weight") : null, Ln2B = mlp ? Get(p + "ln_2.bias") : null,
                    WIn = mlp ? Get(p + "mlp.c_fc.weight") : null, BIn = mlp ? Get(p + "mlp.c_fc.bias") : null,
                    WOut = mlp ? Get(p + "mlp.c_proj.weight") : null, BOut = mlp ? Get(p + "mlp.c_proj.bias") : null,
                };
            }).ToList();
            var model = new Gpt2(config, Get("wte.weight"), Get("wpe.weight"), blocks, Get("ln_f.weight"), Get("ln_f.bias"));
            CheckTiedHead(file, model);
            return model;
        }
        catch
        {
            foreach (var t in loaded) t.Dispose();
            throw;
        }
    }

    /// <summary>Writes config.json and model.safetensors into <paramref name="dir"/> in Hugging Face's layout (unprefixed keys, Conv1D [in, out] weights, tied lm_head).</summary>
    public static void Save(Gpt2 model, string dir, IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var scope = NewDisposeScope();
        Directory.CreateDirectory(dir);
        var tensors = new List<(string, Tensor)>
        {
            ("wte.weight", model.WE), ("wpe.weight", model.WPos),
        };
        var (d, h, e) = (model.Config.DModel, model.Config.Heads, model.Config.DHead);
        for (var l = 0; l < model.Blocks.Count; l++)
        {
            var b = model.Blocks[l];
            var p = $"h.{l}.";
            tensors.AddRange([
                (p + "ln_1.weight", b.Ln1W), (p + "ln_1.bias", b.Ln1B),
                (p + "attn.c_attn.weight", b.WQkv.reshape(d, 3 * d)), (p + "attn.c_attn.bias", b.BQkv.reshape(3 * d)),
                (p + "attn.c_proj.weight", b.WO.reshape(h * e, d)), (p + "attn.c_proj.bias", b.BO)]);
            if (b.HasMlp)
                tensors.AddRange([
                    (p + "ln_2.weight", b.Ln2W!), (p + "ln_2.bias", b.Ln2B!),
                    (p + "mlp.c_fc.weight", b.WIn!), (p + "mlp.c_fc.bias", b.BIn!),
                    (p + "mlp.c_proj.weight", b.WOut!), (p + "mlp.c_proj.bias", b.BOut!)]);
        }
        tensors.AddRange([("ln_f.weight", model.LnFW), ("ln_f.bias", model.LnFB)]);
        var meta = new Dictionary<string, string> { ["format"] = "pt" };
        foreach (var (k, v) in metadata ?? new Dictionary<string, string>()) meta[k] = v;
        SafetensorsFile.Write(Path.Combine(dir, WeightsFile), tensors, meta);
        AtomicFile.WriteText(Path.Combine(dir, ConfigFile), model.Config.ToJson());
    }

    /// <summary>The shape config.json implies for every Hugging Face tensor name (unprefixed).</summary>
    public static IReadOnlyDictionary<string, long[]> ExpectedShapes(Gpt2Config c)
    {
        var shapes = new Dictionary<string, long[]>
        {
            ["wte.weight"] = [c.VocabSize, c.DModel],
            ["wpe.weight"] = [c.Positions, c.DModel],
            ["ln_f.weight"] = [c.DModel],
            ["ln_f.bias"] = [c.DModel],
        };
        for (var l = 0; l < c.Layers; l++)
        {
            var p = $"h.{l}.";
            shapes[p + "ln_1.weight"] = [c.DModel];
            shapes[p + "ln_1.bias"] = [c.DModel];
            shapes[p + "attn.c_attn.weight"] = [c.DModel, 3 * c.DModel];
            shapes[p + "attn.c_attn.bias"] = [3 * c.DModel];
            shapes[p + "attn.c_proj.weight"] = [c.DModel, c.DModel];
            shapes[p + "attn.c_proj.bias"] = [c.DModel];
            if (c.AttnOnly) continue;
            shapes[p + "ln_2.weight"] = [c.DModel];
            shapes[p + "ln_2.bias"] = [c.DModel];
            shapes[p + "mlp.c_fc.weight"] = [c.DModel, c.DMlp];
            shapes[p + "mlp.c_fc.bias"] = [c.DMlp];
            shapes[p + "mlp.c_proj.weight"] = [c.DMlp, c.DModel];
            shapes[p + "mlp.c_proj.bias"] = [c.DModel];
        }
        return shapes;
    }

    /// <summary>Maps each expected name to the file's key (with or without the "transformer." prefix); extra keys other than GPT-2's buffers and the tied lm_head are an error.</summary>
    static Dictionary<string, string> ResolveKeys(SafetensorsFile file, IEnumerable<string> expected)
    {
        var byName = new Dictionary<string, string>();
        foreach (var key in file.Entries.Keys)
        {
            var name = key.StartsWith(Prefix) ? key[Prefix.Length..] : key;
            if (name.EndsWith(".attn.bias") || name.EndsWith(".attn.masked_bias") || name == "lm_head.weight") continue;
            if (!byName.TryAdd(name, key))
                throw new ModelFormatException(file.Path, key, $"appears both with and without the '{Prefix}' prefix");
        }
        var wanted = expected.ToHashSet();
        var missing = wanted.Where(n => !byName.ContainsKey(n)).OrderBy(n => n).ToList();
        if (missing.Count > 0)
            throw new ModelFormatException(file.Path, missing[0],
                $"required tensor is missing{(missing.Count > 1 ? $" (and {missing.Count - 1} more: {string.Join(", ", missing.Skip(1).Take(5))})" : "")}");
        var extra = byName.Keys.Where(n => !wanted.Contains(n)).OrderBy(n => n).ToList();
        if (extra.Count > 0)
            throw new ModelFormatException(file.Path, byName[extra[0]],
                "is not part of a GPT-2 of the shape config.json describes (is config.json from another model?)");
        return byName;
    }

    /// <summary>Compares n_layer with the blocks the file holds before anything is sized by it, so that a huge n_layer fails at once instead of allocating.</summary>
    static void CheckLayerCount(Gpt2Config config, SafetensorsFile file, string configPath)
    {
        var layers = BlockCount(file.Entries.Keys, @"^(?:transformer\.)?h\.(\d+)\.");
        if (layers != config.Layers)
            throw new ModelFormatException(configPath, "n_layer",
                $"is {config.Layers}, but {file.Path} holds {(layers == 0 ? "no blocks" : $"{layers} blocks (h.0 .. h.{layers - 1})")}; is config.json from another model?");
    }

    /// <summary>Tensor <paramref name="key"/> of <paramref name="file"/> in <paramref name="dtype"/> on <paramref name="device"/>, once its
    /// stored dtype is found to be a float and its shape the one config.json implies; the caller owns it.</summary>
    internal static Tensor ReadWeight(SafetensorsFile file, string key, long[] expected, ScalarType dtype, Device device)
    {
        var entry = file.Entries[key];
        if (entry.DType is not ("F32" or "F16" or "BF16"))
            throw new ModelFormatException(file.Path, key, $"dtype {entry.DType} is not a float type (F32, F16 or BF16)");
        if (!entry.Shape.SequenceEqual(expected))
            throw new ModelFormatException(file.Path, key,
                $"shape [{string.Join(", ", entry.Shape)}] disagrees with config.json, which implies [{string.Join(", ", expected)}]");
        using var scope = NewDisposeScope();
        return file.Read(key).to(dtype, device).contiguous().DetachFromDisposeScope();
    }

    /// <summary>One more than the largest block index <paramref name="pattern"/>'s first group finds in the tensor names; 0 for none.</summary>
    internal static int BlockCount(IEnumerable<string> names, string pattern) =>
        names.Select(k => System.Text.RegularExpressions.Regex.Match(k, pattern))
            .Where(m => m.Success && int.TryParse(m.Groups[1].Value, out _))
            .Select(m => int.Parse(m.Groups[1].Value) + 1)
            .DefaultIfEmpty(0)
            .Max();

    static void CheckTiedHead(SafetensorsFile file, Gpt2 model)
    {
        var key = file.Entries.ContainsKey("lm_head.weight") ? "lm_head.weight" : null;
        if (key is null) return;
        using var scope = NewDisposeScope();
        var head = file.Read(key).to(model.DType, model.Device);
        if (!head.shape.SequenceEqual(model.WE.shape) || !head.eq(model.WE).all().item<bool>())
            throw new ModelFormatException(file.Path, key, "differs from wte.weight; PatchDescent supports GPT-2's tied unembedding only");
    }
}
