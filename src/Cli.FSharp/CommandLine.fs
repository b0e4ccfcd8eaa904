/// The whole command line: Argu parses it into one of the verbs' requests, which the C# host runs.
namespace PatchDescent.Cli

open Argu

/// The verbs.
[<RequireQualifiedAccess>]
type Verb =
    | [<CliPrefix(CliPrefix.None); SubCommand>] Info of ParseResults<InfoArguments>
    | [<CliPrefix(CliPrefix.None); SubCommand>] Generate of ParseResults<GenerateArguments>
    | [<CliPrefix(CliPrefix.None); SubCommand>] Random_Model of ParseResults<RandomModelArguments>
    | [<CliPrefix(CliPrefix.None); SubCommand>] Discover of ParseResults<DiscoverArguments>
    | [<CliPrefix(CliPrefix.None); SubCommand>] Evaluate of ParseResults<EvaluateArguments>
    | [<CliPrefix(CliPrefix.None); SubCommand>] Compare of ParseResults<CompareArguments>
    | [<CliPrefix(CliPrefix.None); SubCommand>] Bench of ParseResults<BenchArguments>
    | [<CliPrefix(CliPrefix.None); SubCommand>] Data of ParseResults<DataArguments>
    | [<CliPrefix(CliPrefix.None); SubCommand>] Doctor of ParseResults<DoctorArguments>
    | [<CliPrefix(CliPrefix.None); SubCommand>] Export_Mib of ParseResults<ExportMibArguments>
    | [<CliPrefix(CliPrefix.None); SubCommand>] Toy of ParseResults<ToyArguments>

    interface IArgParserTemplate with
        member v.Usage =
            match v with
            | Info _ -> "check a checkpoint loads; print its card"
            | Generate _ -> "greedy continuation of a prompt"
            | Random_Model _ -> "write a seeded random checkpoint"
            | Discover _ -> "find a circuit (gradient descent over edge coefficients, or --method eap, eap-ig, acdc)"
            | Evaluate _ -> "re-score a circuit.json or MIB graph JSON"
            | Compare _ -> "run several discovery methods on one model and data; a table and one plot of their curves"
            | Bench _ -> "print benchmark figures"
            | Data _ -> "write a task's generated pairs (ioi, greater-than, induction) as JSONL"
            | Doctor _ -> "which libtorch runs, CUDA, the GPUs, and the fix when something is missing"
            | Export_Mib _ -> "write a run's or a comparison's scores as MIB's circuit-localization submission folder"
            | Toy _ -> "build, train and check the small models whose circuits are known"

/// What the user asked the host to do.
type Invocation =
    /// Print this text and exit 0 (`--help`, or no verb at all).
    | Help of text: string
    | Info of InfoRequest
    | Generate of GenerateRequest
    | RandomModel of RandomModelRequest
    | Discover of DiscoverRequest
    | Evaluate of EvaluateRequest
    | Compare of CompareRequest
    | Bench of BenchRequest
    | Data of DataRequest
    | Doctor of DoctorRequest
    | ExportMib of ExportMibRequest
    | Toy of ToyRequest

/// Parsing command lines.
module CommandLine =
    let private parser = ArgumentParser.Create<Verb>(programName = "patchdescent")

    /// Argu says only that `--seed 99999999999` is not an <int>; a whole number Argu refuses can only be out of
    /// int's range (every integer option is an int), so it gets that range.
    let private outOfRange (message: string) =
        let m = System.Text.RegularExpressions.Regex.Match(message, @"parameter '(--[\w-]+)' must be followed by <[\w-]+>, but was '(-?\d+)'")
        if m.Success then
            Some $"{m.Groups[1].Value} must be an integer from {System.Int32.MinValue} to {System.Int32.MaxValue}, got {m.Groups[2].Value}"
        else None

    /// The invocation `argv` asks for; a wrong command line raises `UsageException` with Argu's message and the
    /// usage of the verb concerned.
    let parse (argv: string[]) =
        if argv.Length = 0 then Help(parser.PrintUsage())
        else
            try
                let results = parser.ParseCommandLine(argv, raiseOnUsage = true)
                match results.GetSubCommand() with
                | Verb.Info r -> Info(InfoArguments.request r)
                | Verb.Generate r -> Generate(GenerateArguments.request r)
                | Verb.Random_Model r -> RandomModel(RandomModelArguments.request r)
                | Verb.Discover r -> Discover(DiscoverArguments.request r)
                | Verb.Evaluate r -> Evaluate(EvaluateArguments.request r)
                | Verb.Compare r -> Compare(CompareArguments.request r)
                | Verb.Bench r -> Bench(BenchArguments.request r)
                | Verb.Data r -> Data(DataArguments.request r)
                | Verb.Doctor r -> Doctor(DoctorArguments.request r)
                | Verb.Export_Mib r -> ExportMib(ExportMibArguments.request r)
                | Verb.Toy r -> Toy(ToyArguments.request r)
            with
            | :? ArguParseException as e when e.ErrorCode = ErrorCode.HelpText -> Help e.Message
            // The host prefixes "error: " itself.
            | :? ArguParseException as e -> raise (UsageException(outOfRange e.Message |> Option.defaultValue (e.Message.Replace("ERROR: ", ""))))
