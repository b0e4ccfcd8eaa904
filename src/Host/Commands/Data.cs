using PatchDescent.Cli;
using PatchDescent.Model;
using PatchDescent.Search;
using PatchDescent.Search.Tasks;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent data ioi|greater-than|induction --out FILE.jsonl [--pairs N] [--seed S] [--model DIR] [--split train|test] [--corruption ...] [--prompt-type ...] [--bos]`: writes a task's generated pairs.</summary>
public static class Data
{
    /// <summary>Runs the verb: the task's pairs, written atomically in the token-id JSONL form `Dataset.load` reads back; prints the first pairs as text.</summary>
    public static int Run(DataRequest request)
    {
        var modelDir = string.IsNullOrEmpty(request.ModelDir) ? null : request.ModelDir;
        var outFile = AtomicFile.Claim("--out", request.OutFile, [("--model", modelDir)]);
        var resolved = TaskRequestModule.resolve(request.ModelDir, request.Request);
        if (resolved.IsError) throw new InvalidOperationException(resolved.ErrorValue);
        var dataset = resolved.ResultValue;
        var metric = TaskRequestModule.metric(request.Request);
        Dataset.write(outFile, dataset);
        Console.WriteLine($"wrote {dataset.Pairs.Length:N0} pairs of {dataset.Source}, scored with {MetricModule.name(metric)}, to {outFile}");
        foreach (var pair in dataset.Pairs.Take(3))
        {
            var wrong = pair.Wrong is null ? "" : $" / wrong '{Tokenizer.Gpt2.Decode([pair.Wrong.Value])}'";
            Console.WriteLine($"  clean '{Tokenizer.Gpt2.Decode(pair.Clean)}' -> '{Tokenizer.Gpt2.Decode([pair.Answer])}'{wrong}");
            Console.WriteLine($"  corrupted '{Tokenizer.Gpt2.Decode(pair.Corrupted)}'");
        }
        return 0;
    }
}
