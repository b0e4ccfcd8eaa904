using PatchDescent.Cli;
using PatchDescent.Model;
using PatchDescent.Search;
using PatchDescent.Search.Tasks;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent data ioi|greater-than|induction --out FILE.jsonl [--pairs N] [--seed S] [--model DIR] [--split train|test] [--corruption ...] [--prompt-type ...] [--bos]`: writes a task's generated pairs, readable where the tokens are GPT-2's.</summary>
public static class Data
{
    /// <summary>Runs the verb: the task's pairs, written atomically in the JSONL form `Dataset.load` reads back, with each pair's text beside its ids where the tokens are GPT-2's (IOI, greater-than); prints the first pairs.</summary>
    public static int Run(DataRequest request)
    {
        var modelDir = string.IsNullOrEmpty(request.ModelDir) ? null : request.ModelDir;
        var outFile = AtomicFile.Claim("--out", request.OutFile, [("--model", modelDir)]);
        var resolved = TaskRequestModule.resolve(request.ModelDir, request.Request);
        if (resolved.IsError) throw new InvalidOperationException(resolved.ErrorValue);
        var dataset = resolved.ResultValue;
        var metric = TaskRequestModule.metric(request.Request);
        // Induction's tokens are the model's own vocabulary (task.json), which GPT-2's text would misname.
        var gpt2Text = !request.Request.IsInductionPairs;
        if (gpt2Text) Dataset.writeWithText(outFile, dataset);
        else Dataset.write(outFile, dataset);
        var form = gpt2Text ? "text beside token ids" : "token ids only: induction's tokens are the model's own vocabulary, not GPT-2 text";
        Console.WriteLine($"wrote {dataset.Pairs.Length:N0} pairs of {dataset.Source}, scored with {MetricModule.name(metric)}, to {outFile} ({form})");
        foreach (var pair in dataset.Pairs.Take(3))
        {
            if (gpt2Text)
            {
                var wrong = pair.Wrong is null ? "" : $" / wrong '{Tokenizer.Gpt2.Decode([pair.Wrong.Value])}'";
                Console.WriteLine($"  clean '{Tokenizer.Gpt2.Decode(pair.Clean)}' -> '{Tokenizer.Gpt2.Decode([pair.Answer])}'{wrong}");
                Console.WriteLine($"  corrupted '{Tokenizer.Gpt2.Decode(pair.Corrupted)}'");
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
