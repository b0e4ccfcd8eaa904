using System.Text.Json;
using System.Text.Json.Nodes;

namespace PatchDescent.Model;

/// <summary>A Hugging Face config.json read field by field: a missing required field or one of the wrong type is a
/// <see cref="ModelFormatException"/> naming the file and the field.</summary>
public sealed class ConfigJson(string path, JsonObject json, string prefix = "")
{
    /// <summary>Parses <paramref name="path"/>, which must hold one JSON object.</summary>
    public static ConfigJson Read(string path)
    {
        if (!File.Exists(path)) throw new ModelFormatException(path, null, "file not found");
        try
        {
            return new ConfigJson(path, JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                                        ?? throw new ModelFormatException(path, null, "is not a JSON object"));
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(path, null, $"is not valid JSON: {e.Message}");
        }
    }

    /// <summary>The field's node, null when absent or JSON null.</summary>
    public JsonNode? this[string name] => json[name];

    JsonNode Required(string name) => json[name] ?? throw new ModelFormatException(path, prefix + name, "required field is missing");

    T Typed<T>(string name, JsonNode node, string what)
    {
        try
        {
            return node.GetValue<T>();
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or OverflowException)
        {
            throw new ModelFormatException(path, prefix + name, $"must be {what}, found {node.ToJsonString()}");
        }
    }

    /// <summary>A required integer.</summary>
    public int Int(string name) => Typed<int>(name, Required(name), "an integer");
    /// <summary>A required number.</summary>
    public double Number(string name) => Typed<double>(name, Required(name), "a number");
    /// <summary>A required string.</summary>
    public string String(string name) => Typed<string>(name, Required(name), "a string");
    /// <summary>An integer, null when absent.</summary>
    public int? OptionalInt(string name) => json[name] is { } n ? Typed<int>(name, n, "an integer or null") : null;
    /// <summary>A number, null when absent.</summary>
    public double? OptionalNumber(string name) => json[name] is { } n ? Typed<double>(name, n, "a number or null") : null;
    /// <summary>A string, null when absent.</summary>
    public string? OptionalString(string name) => json[name] is { } n ? Typed<string>(name, n, "a string or null") : null;
    /// <summary>A boolean, null when absent.</summary>
    public bool? OptionalBool(string name) => json[name] is { } n ? Typed<bool>(name, n, "true or false") : null;
}
