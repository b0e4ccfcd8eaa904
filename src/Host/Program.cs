using PatchDescent.Cli;
using PatchDescent.Host.Commands;

var verbose = args.Contains("--verbose");
var rest = args.Where(a => a != "--verbose").ToArray();

try
{
    return CommandLine.parse(rest) switch
    {
        Invocation.Help help => PrintHelp(help.text),
        Invocation.Info info => Info.Run(info.Item),
        Invocation.Generate generate => Generate.Run(generate.Item),
        Invocation.RandomModel randomModel => RandomModel.Run(randomModel.Item),
        Invocation.Discover discover => Discover.Run(discover.Item),
        Invocation.Evaluate evaluate => Evaluate.Run(evaluate.Item),
        Invocation.Bench bench => Bench.Run(bench.Item),
        Invocation.Toy toy => Toy.Run(toy.Item),
        var other => throw new InvalidOperationException($"the host has no command for {other}"),
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

static int PrintHelp(string text)
{
    Console.WriteLine($"PatchDescent {PatchDescent.Search.Version.current}");
    Console.WriteLine(text);
    Console.WriteLine("Every verb takes --help; any verb takes --verbose for stack traces.");
    return 0;
}
