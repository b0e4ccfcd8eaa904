module PatchDescent.Tests.Main

open Expecto
open Expecto.Impl

/// Chooses the libtorch named by PATCHDESCENT_LIBTORCH, if any, before any test touches a tensor; says which it
/// loaded, so a run on an external libtorch shows it used that one.
let private chooseLibTorch () =
    try
        PatchDescent.Model.LibTorchChoice.Choose null
        match PatchDescent.Model.LibTorchChoice.Directory with
        | null -> true
        | _ ->
            use t = TorchSharp.torch.zeros(1L)
            printfn "libtorch: %s" (PatchDescent.Model.LibTorchChoice.LoadedPath "libtorch_cpu.so" |> Option.ofObj |> Option.defaultValue "?")
            true
    with :? PatchDescent.Model.LibTorchException as e ->
        eprintfn "error: %s" e.Message
        false

[<EntryPoint>]
let main argv =
    if not (chooseLibTorch ()) then exit 2
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
