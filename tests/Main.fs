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
                counts <- Some(s.passed.Length, s.failed.Length + s.errored.Length, [ for t, _ in s.ignored -> t.name |> String.concat "." ])
                do! inner.summary config s } }
    // `--repeat N` (ours, for `build.fsx stress`): every test N times over, one at a time, so that a rare failure of
    // one property can be sought with `--filter-test-case`; Expecto filters the repeated tree as it would the one.
    let repeat, argv =
        match Array.tryFindIndex ((=) "--repeat") argv with
        | Some i when i + 1 < argv.Length -> int argv[i + 1], Array.append argv[.. i - 1] argv[i + 2 ..]
        | _ -> 1, argv
    let options = [ CLIArguments.Printer printer; CLIArguments.No_Spinner ]
    let exitCode =
        if repeat = 1 then runTestsInAssemblyWithCLIArgs options argv
        else
            let all = testFromThisAssembly () |> Option.defaultWith (fun () -> failwith "no tests in this assembly")
            runTestsWithCLIArgs options argv (testSequenced (testList "repeat" [ for i in 1 .. repeat -> testLabel $"run {i}" all ]))
    let passed, failed, ignored = defaultArg counts (0, 1, [])
    // Expecto's console writer colours and pads its lines; CI reads this one plain, straight to stdout.
    use stdout = new System.IO.StreamWriter(System.Console.OpenStandardOutput())
    // A skipped test is neither passed nor failed; each is named, its reason printed where it was skipped.
    for name in ignored do stdout.Write(sprintf "\nskipped: %s" name)
    stdout.Write(sprintf "\n%d passed, %d failed\n" passed failed)
    exitCode
