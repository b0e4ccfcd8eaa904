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
        using var model = Checkpoint.Load(request.ModelDir, device, dtype);
        var prompt = request.Prompt is PromptInput.Text text ? Tokenizer.Gpt2.Encode(text.Item) : ((PromptInput.TokenIds)request.Prompt).Item;
        if (prompt.Length == 0) throw new UsageException("generate: the prompt has no tokens");
        var positions = model.Config.Positions;
        if (prompt.Length + request.Tokens > positions)
            throw new UsageException(prompt.Length >= positions
                ? $"generate: the prompt is {prompt.Length} tokens, and the model has {positions} positions (n_positions), so no token can follow it"
                : $"generate: the prompt is {prompt.Length} tokens and the model has {positions} positions (n_positions), so --tokens can be at most {positions - prompt.Length}, not {request.Tokens}");
        var ids = prompt.ToList();
        using (no_grad())
            for (var i = 0; i < request.Tokens; i++)
            {
                using var scope = NewDisposeScope();
                var logits = model.Forward(tensor(ids.Select(t => (long)t).ToArray()).view(1, -1));  // [1, pos, vocab]
                ids.Add((int)logits[0, -1].argmax().item<long>());
            }
        var generated = ids.Skip(prompt.Length).ToList();
        if (model.Config.VocabSize == Tokenizer.VocabSize)
            Console.WriteLine(Tokenizer.Gpt2.Decode(ids));
        if (request.PrintIds || model.Config.VocabSize != Tokenizer.VocabSize)
            Console.WriteLine(string.Join(",", generated));
        return 0;
    }
}
