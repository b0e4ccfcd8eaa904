using PatchDescent.Cli;
using PatchDescent.Model;
using PatchDescent.Search;
using PatchDescent.Search.Tasks;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent data ioi|greater-than|induction --out FILE.jsonl [--pairs N] [--seed S] [--model DIR] [--split train|test] [--corruption ...] [--prompt-type ...] [--bos]`: writes a task's generated pairs, readable where the tokens are text (IOI, greater-than).</summary>
public static class Data
{
    /// <summary>Runs the verb: the task's pairs, written atomically in the JSONL form `Dataset.load` reads back, with each pair's text beside its ids where the tokens are text (IOI and greater-than, in the model's tokenizer, GPT-2's without --model); prints the first pairs.</summary>
    public static int Run(DataRequest request)
    {
        var modelDir = string.IsNullOrEmpty(request.ModelDir) ? null : request.ModelDir;
        var outFile = AtomicFile.Claim("--out", request.OutFile, [("--model", modelDir)]);
        var resolved = TaskRequestModule.resolve(request.ModelDir, request.Request);
        if (resolved.IsError) throw new InvalidOperationException(resolved.ErrorValue);
        var dataset = resolved.ResultValue;
        var metric = TaskRequestModule.metric(request.Request);
        // Induction's tokens are the model's own vocabulary (task.json), which no tokenizer's text would name.
        var asText = !request.Request.IsInductionPairs;
        using var tokenizer = asText ? (modelDir is null ? Tokenizer.Gpt2 : Tokenizer.ForModel(modelDir)) : null;
        if (tokenizer is not null) Dataset.writeWithText(tokenizer, outFile, dataset);
        else Dataset.write(outFile, dataset);
        var form = asText ? "text beside token ids" : "token ids only: induction's tokens are the model's own vocabulary, not text";
        Console.WriteLine($"wrote {dataset.Pairs.Length:N0} pairs of {dataset.Source}, scored with {MetricModule.name(metric)}, to {outFile} ({form})");
        foreach (var pair in dataset.Pairs.Take(3))
        {
            if (tokenizer is not null)
            {
                var wrong = pair.Wrong is null ? "" : $" / wrong '{tokenizer.Decode([pair.Wrong.Value])}'";
                Console.WriteLine($"  clean '{tokenizer.Decode(pair.Clean)}' -> '{tokenizer.Decode([pair.Answer])}'{wrong}");
                Console.WriteLine($"  corrupted '{tokenizer.Decode(pair.Corrupted)}'");
            }
            else
            {
                Console.WriteLine($"  clean [{string.Join(", ", pair.Clean)}] -> {pair.Answer}");
                Console.WriteLine($"  corrupted [{string.Join(", ", pair.Corrupted)}]");
            }
        }
        return 0;
    }
}
