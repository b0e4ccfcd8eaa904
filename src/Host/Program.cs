using PatchDescent.Host;
using PatchDescent.Host.Commands;
using PatchDescent.Model;

var verbose = args.Contains("--verbose");
var rest = args.Where(a => a != "--verbose").ToList();
const string usage = """
    usage: patchdescent <verb> [options] [--verbose]
      info          --model DIR                                  check a checkpoint loads; print its card
      generate      --model DIR (--prompt TEXT | --prompt-ids 1,2,3) [--tokens N] [--ids] [--device auto|cpu|cuda] [--dtype float32|bfloat16]
      random-model  --out DIR [--shape tiny|gpt2-small] [--seed S]  write a seeded random checkpoint
      discover      --model DIR --data FILE.jsonl --out DIR [--granularity full|heads] [--steps N] [--seed S | --seeds 1,2,3] [--batch-size B]
      evaluate      --model DIR --circuit FILE --data FILE.jsonl [--ablation patching|zero] [--json]
                                                                 re-score a circuit.json or MIB graph JSON
      bench         [--quick]                                    print benchmark figures
    """;

try
{
    if (rest.Count == 0 || rest[0] is "help" or "--help" or "-h")
    {
        Console.WriteLine($"PatchDescent {PatchDescent.Search.Version.current}");
        Console.WriteLine(usage);
        return 0;
    }
    var verb = rest[0];
    var options = new CommandLine(verb, rest.Skip(1), "--ids", "--quick", "--json");
    return verb switch
    {
        "info" => Info.Run(options),
        "generate" => Generate.Run(options),
        "random-model" => RandomModel.Run(options),
        "discover" => Discover.Run(options),
        "evaluate" => Evaluate.Run(options),
        "bench" => Bench.Run(options),
        _ => throw new UsageException($"unknown verb '{verb}'\n{usage}"),
    };
}
catch (UsageException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
catch (Exception e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    if (verbose) Console.Error.WriteLine(e);
    else Console.Error.WriteLine("(run with --verbose for the stack trace)");
    return 1;
}
