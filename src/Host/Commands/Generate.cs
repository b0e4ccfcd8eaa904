using PatchDescent.Cli;
using PatchDescent.Model;
using static TorchSharp.torch;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent generate --model DIR --prompt TEXT|--prompt-ids 1,2,3 --tokens N [--ids]`: greedy continuation.</summary>
public static class Generate
{
    /// <summary>Runs the verb.</summary>
    public static int Run(GenerateRequest request)
    {
        var device = DeviceChoice.Resolve(request.Device);
        var dtype = DeviceChoice.ResolveDType(request.DType);
        using var model = ModelFolder.Load(request.ModelDir, device, dtype);
        // The folder's own tokenizer: needed for a text prompt, used to print the text where there is one.
        var hasTokenizer = File.Exists(Path.Combine(request.ModelDir, "tokenizer.json")) || model.ModelType == "gpt2";
        using var tokenizer = hasTokenizer || request.Prompt is PromptInput.Text ? Tokenizer.ForModel(request.ModelDir) : null;
        var prompt = request.Prompt is PromptInput.Text text ? tokenizer!.Encode(text.Item) : ((PromptInput.TokenIds)request.Prompt).Item;
        if (prompt.Length == 0) throw new UsageException("generate: the prompt has no tokens");
        var positions = model.Positions;
        if (prompt.Length + request.Tokens > positions)
            throw new UsageException(prompt.Length >= positions
                ? $"generate: the prompt is {prompt.Length} tokens, and the model has {positions} positions (n_positions or max_position_embeddings), so no token can follow it"
                : $"generate: the prompt is {prompt.Length} tokens and the model has {positions} positions (n_positions or max_position_embeddings), so --tokens can be at most {positions - prompt.Length}, not {request.Tokens}");
        var ids = prompt.ToList();
        using (no_grad())
            for (var i = 0; i < request.Tokens; i++)
            {
                using var scope = NewDisposeScope();
                var logits = model.Forward(tensor(ids.Select(t => (long)t).ToArray()).view(1, -1));  // [1, pos, vocab]
                ids.Add((int)logits[0, -1].argmax().item<long>());
            }
        var generated = ids.Skip(prompt.Length).ToList();
        // A GPT-2 folder reads as GPT-2 text only where its vocabulary is GPT-2's (toy models have their own).
        var readable = tokenizer is not null && (model.ModelType != "gpt2" || model.VocabSize == Tokenizer.VocabSize);
        if (readable) Console.WriteLine(tokenizer!.Decode(ids));
        if (request.PrintIds || !readable)
            Console.WriteLine(string.Join(",", generated));
        return 0;
    }
}
