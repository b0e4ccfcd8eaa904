using PatchDescent.Cli;
using PatchDescent.Host.Commands;
using PatchDescent.Model;

var verbose = args.Contains("--verbose");
var rest = args.Where(a => a != "--verbose").ToList();
// --libtorch is the process's, like --verbose: it must act before any verb touches a tensor.
var libtorchAt = rest.IndexOf("--libtorch");
string? libtorch = null;
if (libtorchAt >= 0)
{
    if (libtorchAt + 1 >= rest.Count)
    {
        Console.Error.WriteLine("error: --libtorch needs a folder, e.g. a Python environment's torch/lib");
        return 2;
    }
    libtorch = rest[libtorchAt + 1];
    rest.RemoveRange(libtorchAt, 2);
}

try
{
    var invocation = CommandLine.parse(rest.ToArray());
    if (invocation is not Invocation.Help) LibTorchChoice.Choose(libtorch);
    return invocation switch
    {
        Invocation.Help help => PrintHelp(help.text),
        Invocation.Info info => Info.Run(info.Item),
        Invocation.Generate generate => Generate.Run(generate.Item),
        Invocation.RandomModel randomModel => RandomModel.Run(randomModel.Item),
        Invocation.Discover discover => Discover.Run(discover.Item),
        Invocation.Evaluate evaluate => Evaluate.Run(evaluate.Item),
        Invocation.Compare compare => Compare.Run(compare.Item),
        Invocation.Bench bench => Bench.Run(bench.Item),
        Invocation.Data data => Data.Run(data.Item),
        Invocation.Doctor doctor => Doctor.Run(doctor.Item),
        Invocation.ExportMib exportMib => ExportMib.Run(exportMib.Item),
        Invocation.Toy toy => Toy.Run(toy.Item),
        var other => throw new InvalidOperationException($"the host has no command for {other}"),
    };
}
catch (Exception e) when (e is UsageException or OutputException)
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
    Console.WriteLine("Every verb takes --help; any verb takes --verbose for stack traces and --libtorch DIR to run on the libtorch in DIR " +
                      "(a Python environment's torch/lib, for CUDA; needs the build from `dotnet fsi build.fsx publish-external-libtorch`).");
    return 0;
}
