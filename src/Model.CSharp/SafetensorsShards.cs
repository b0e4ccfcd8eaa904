using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace PatchDescent.Model;

/// <summary>A model folder's weights: one model.safetensors, or the shards model.safetensors.index.json maps each tensor to.</summary>
public sealed class SafetensorsShards : IDisposable
{
    /// <summary>The single-file name.</summary>
    public const string SingleFile = "model.safetensors";
    /// <summary>The shard index's name.</summary>
    public const string IndexFile = "model.safetensors.index.json";

    readonly List<SafetensorsFile> _files;

    /// <summary>Every tensor, by name, with the file that holds it.</summary>
    public IReadOnlyDictionary<string, (SafetensorsFile File, SafetensorsEntry Entry)> Entries { get; }

    SafetensorsShards(List<SafetensorsFile> files, Dictionary<string, (SafetensorsFile, SafetensorsEntry)> entries)
    {
        _files = files;
        Entries = entries;
    }

    /// <summary>Opens <paramref name="dir"/>'s weights, model.safetensors first as transformers does; every shard the index
    /// names must exist and hold exactly the tensors the index maps to it.</summary>
    public static SafetensorsShards Open(string dir)
    {
        var single = Path.Combine(dir, SingleFile);
        var index = Path.Combine(dir, IndexFile);
        if (File.Exists(single)) return FromFiles([SafetensorsFile.Open(single)], null);
        if (!File.Exists(index)) throw new ModelFormatException(dir, null, $"holds neither {SingleFile} nor {IndexFile}");
        var map = WeightMap(index);
        var files = new List<SafetensorsFile>();
        try
        {
            foreach (var shard in map.Values.Distinct().Order())
            {
                var path = Path.Combine(dir, shard);
                if (!File.Exists(path)) throw new ModelFormatException(index, shard, $"names a shard that is not in {dir}");
                files.Add(SafetensorsFile.Open(path));
            }
            return FromFiles(files, (index, map));
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    static Dictionary<string, string> WeightMap(string index)
    {
        JsonObject json;
        try
        {
            json = JsonNode.Parse(File.ReadAllText(index)) as JsonObject ?? throw new ModelFormatException(index, null, "is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(index, null, $"is not valid JSON: {e.Message}");
        }
        if (json["weight_map"] is not JsonObject map) throw new ModelFormatException(index, "weight_map", "required object is missing");
        var result = new Dictionary<string, string>();
        foreach (var (name, file) in map)
        {
            if (file is not JsonValue v || !v.TryGetValue<string>(out var shard) || shard.Contains('/') || shard.Contains('\\'))
                throw new ModelFormatException(index, name, $"must map to a shard file name in the folder, found {file?.ToJsonString() ?? "null"}");
            result[name] = shard;
        }
        if (result.Count == 0) throw new ModelFormatException(index, "weight_map", "maps no tensor");
        return result;
    }

    static SafetensorsShards FromFiles(List<SafetensorsFile> files, (string Path, Dictionary<string, string> Map)? index)
    {
        try
        {
            var entries = new Dictionary<string, (SafetensorsFile, SafetensorsEntry)>();
            foreach (var f in files)
                foreach (var (name, entry) in f.Entries)
                {
                    if (index is { } i && (!i.Map.TryGetValue(name, out var shard) || Path.GetFileName(f.Path) != shard))
                        throw new ModelFormatException(f.Path, name,
                            i.Map.TryGetValue(name, out var named) ? $"is in this shard, but {i.Path} maps it to {named}" : $"is in this shard, but {i.Path} does not list it");
                    if (!entries.TryAdd(name, (f, entry)))
                        throw new ModelFormatException(f.Path, name, $"is also in {entries[name].Item1.Path}");
                }
            if (index is { } idx && idx.Map.Keys.FirstOrDefault(n => !entries.ContainsKey(n)) is { } lost)
                throw new ModelFormatException(idx.Path, lost, $"is mapped to {idx.Map[lost]}, which does not hold it");
            return new SafetensorsShards(files, entries);
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    /// <summary>The tensor <paramref name="name"/> on the CPU, in the dtype its file stores.</summary>
    public Tensor Read(string name) => Entries[name].File.Read(name);

    /// <summary>Unmaps every file.</summary>
    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
