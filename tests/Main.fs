module PatchDescent.Tests.Main

open Expecto
open Expecto.Impl

[<EntryPoint>]
let main argv =
    let mutable counts = None
    let inner = TestPrinters.defaultPrinter
    let printer =
        { inner with
            summary = fun config s -> async {
                counts <- Some(s.passed.Length, s.failed.Length + s.errored.Length)
                do! inner.summary config s } }
    let exitCode = runTestsInAssemblyWithCLIArgs [ CLIArguments.Printer printer; CLIArguments.No_Spinner ] argv
    let passed, failed = defaultArg counts (0, 1)
    // Expecto's console writer colours and pads its lines; CI reads this one plain, straight to stdout.
    use stdout = new System.IO.StreamWriter(System.Console.OpenStandardOutput())
    stdout.Write(sprintf "\n%d passed, %d failed\n" passed failed)
    exitCode
