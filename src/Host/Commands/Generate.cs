using PatchDescent.Model;
using static TorchSharp.torch;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent generate --model DIR --prompt TEXT|--prompt-ids 1,2,3 --tokens N [--ids]`: greedy continuation.</summary>
public static class Generate
{
    /// <summary>Runs the verb.</summary>
    public static int Run(CommandLine args)
    {
        var dir = args.Required("--model");
        var text = args.Optional("--prompt");
        var idsText = args.Optional("--prompt-ids");
        var count = args.Int("--tokens", 20);
        var printIds = args.Flag("--ids");
        var device = DeviceChoice.Resolve(args.Optional("--device") ?? "auto");
        var dtype = DeviceChoice.ResolveDType(args.Optional("--dtype") ?? "float32");
        args.CheckAllRead();
        if ((text is null) == (idsText is null)) throw new UsageException("generate: give exactly one of --prompt and --prompt-ids");
        if (count < 0) throw new UsageException("generate: --tokens must be zero or more");

        using var model = Checkpoint.Load(dir, device, dtype);
        var prompt = text is not null ? Tokenizer.Gpt2.Encode(text) : ParseIds(idsText!);
        if (prompt.Length == 0) throw new UsageException("generate: the prompt has no tokens");
        var ids = prompt.ToList();
        using (no_grad())
            for (var i = 0; i < count && ids.Count < model.Config.Positions; i++)
            {
                using var scope = NewDisposeScope();
                var logits = model.Forward(tensor(ids.Select(t => (long)t).ToArray()).view(1, -1));  // [1, pos, vocab]
                ids.Add((int)logits[0, -1].argmax().item<long>());
            }
        var generated = ids.Skip(prompt.Length).ToList();
        if (model.Config.VocabSize == Tokenizer.VocabSize)
            Console.WriteLine(Tokenizer.Gpt2.Decode(ids));
        if (printIds || model.Config.VocabSize != Tokenizer.VocabSize)
            Console.WriteLine(string.Join(",", generated));
        return 0;
    }

    static int[] ParseIds(string text) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.TryParse(s, out var v) ? v : throw new UsageException($"generate: --prompt-ids: '{s}' is not a token id"))
            .ToArray();
}
