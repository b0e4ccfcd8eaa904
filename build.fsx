// PatchDescent's build entry point: dotnet fsi build.fsx <target> [-- args for the target]
// Targets: build, test, run, bench, quality, mutate, stress, stress-suite, publish, publish-external-libtorch, gpu-bundle, clean.
open System
open System.Diagnostics
open System.IO

let root = __SOURCE_DIRECTORY__
let configuration = "Release"

let args = fsi.CommandLineArgs |> Array.skip 1
let target, extra =
    match args |> Array.tryFindIndex ((=) "--") with
    | Some i -> (if i > 0 then args[0] else "build"), args[i + 1 ..]
    | None -> (if args.Length > 0 then args[0] else "build"), args[1..]

/// Runs dotnet with the given arguments in the repository root; stops the build on a non-zero exit.
let dotnet (arguments: string list) =
    let info = ProcessStartInfo("dotnet", arguments, WorkingDirectory = root, UseShellExecute = false)
    info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] <- "1"
    info.Environment["DOTNET_NOLOGO"] <- "1"
    use p = Process.Start info
    p.WaitForExit()
    if p.ExitCode <> 0 then
        eprintfn "build.fsx: 'dotnet %s' exited with %d" (String.Join(" ", arguments)) p.ExitCode
        exit p.ExitCode

let build () = dotnet [ "build"; "PatchDescent.sln"; "-c"; configuration; "-nologo"; "-v"; "minimal" ]

let host (verbArgs: string list) =
    dotnet ([ "run"; "--project"; "src/Host"; "-c"; configuration; "--no-build"; "--" ] @ verbArgs)

let timed name f =
    let sw = Stopwatch.StartNew()
    f ()
    printfn "build.fsx: %s took %.1f s" name sw.Elapsed.TotalSeconds

match target with
| "build" -> timed "build" build
| "test" ->
    timed "build" build
    dotnet ([ "run"; "--project"; "tests"; "-c"; configuration; "--no-build"; "--" ] @ List.ofArray extra)
| "stress" ->
    // Not in CI: the resume property that once failed about one full run in eight, 1,000 times in one process.
    timed "build" build
    timed "stress" (fun () ->
        dotnet [ "run"; "--project"; "tests"; "-c"; configuration; "--no-build"; "--"; "--repeat"; "1000"
                 "--filter-test-case"; "resumed from its checkpoint ends bit for bit" ])
| "stress-suite" ->
    // Not in CI: the whole suite 20 times, each in a fresh process as CI runs it; prints every run's count.
    timed "build" build
    let runs = 20
    let failedRuns =
        [ for i in 1 .. runs ->
            let info = ProcessStartInfo("dotnet", [ "run"; "--project"; "tests"; "-c"; configuration; "--no-build" ], WorkingDirectory = root, UseShellExecute = false, RedirectStandardOutput = true)
            use p = Process.Start info
            let output = p.StandardOutput.ReadToEnd()
            p.WaitForExit()
            let last = output.Split('\n', StringSplitOptions.RemoveEmptyEntries) |> Array.last
            printfn "build.fsx: suite run %d of %d: %s (exit %d)" i runs (last.Trim()) p.ExitCode
            if p.ExitCode <> 0 then
                File.WriteAllText(Path.Combine(root, $"stress-suite-{i}.log"), output)
                printfn "build.fsx: its output is in stress-suite-%d.log" i
            p.ExitCode <> 0 ]
        |> List.filter id
        |> List.length
    printfn "build.fsx: %d of %d suite runs failed" failedRuns runs
    if failedRuns > 0 then exit 1
| "run" ->
    timed "build" build
    if extra.Length > 0 then host (List.ofArray extra)
    else
        timed "discovery on the shipped model" (fun () -> dotnet [ "fsi"; "examples/induction.fsx" ])
| "quality" ->
    // Not in CI: every method on every shipped model and three fresh seeds (trained once into out/quality/models);
    // `-- --dtype bfloat16` runs the table in bfloat16.
    timed "build" build
    timed "quality" (fun () -> dotnet ([ "fsi"; "scripts/quality.fsx" ] @ List.ofArray extra))
| "mutate" ->
    // Not in CI: each mutation of tests/mutations.json on a scratch copy of the working tree (`-- ID ...` for some).
    timed "mutate" (fun () -> dotnet ([ "fsi"; "scripts/mutate.fsx" ] @ List.ofArray extra))
| "bench" ->
    timed "build" build
    host ("bench" :: List.ofArray extra)
| "publish" ->
    dotnet [ "publish"; "src/Host"; "-c"; configuration; "-o"; "artifacts/patchdescent"; "-nologo" ]
| "publish-external-libtorch" ->
    // For machines that bring their own libtorch (--libtorch DIR, e.g. a Python environment's torch/lib): the host
    // and the test program without the bundled CPU natives (see Directory.Build.props), in one folder so that the
    // libraries they share travel once.
    let dir = "artifacts/patchdescent-external"
    let size () = Directory.GetFiles(Path.Combine(root, dir), "*", SearchOption.AllDirectories) |> Array.sumBy (fun f -> FileInfo(f).Length)
    for project in [ "src/Host"; "tests" ] do
        dotnet [ "publish"; project; "-c"; configuration; "-p:ExternalLibTorch=true"; "-o"; dir; "-nologo"; "-v"; "minimal" ]
        printfn "build.fsx: %s after %s: %.1f MB" dir project (float (size ()) / 1e6)
| "gpu-bundle" ->
    // Everything scripts/gpu-check.sh needs on a GPU machine without .NET: the external-libtorch builds and this
    // machine's .NET runtime as a tarball (dotnet, host/fxr, shared/Microsoft.NETCore.App).
    dotnet [ "fsi"; "build.fsx"; "publish-external-libtorch" ]
    let dotnetRoot =
        let exe = Process.Start(ProcessStartInfo("bash", [ "-c"; "readlink -f $(command -v dotnet)" ], RedirectStandardOutput = true))
        Path.GetDirectoryName(exe.StandardOutput.ReadToEnd().Trim())
    let runtime = Directory.GetDirectories(Path.Combine(dotnetRoot, "shared", "Microsoft.NETCore.App")) |> Array.max |> Path.GetFileName
    let tarball = Path.Combine(root, "artifacts", "dotnet-runtime.tar.xz")
    let info = ProcessStartInfo("tar", [ "-cJf"; tarball; "-C"; dotnetRoot; "dotnet"; "host"; $"shared/Microsoft.NETCore.App/{runtime}" ])
    use p = Process.Start info
    p.WaitForExit()
    if p.ExitCode <> 0 then exit p.ExitCode
    printfn "build.fsx: %s (.NET runtime %s): %.1f MB" tarball runtime (float (FileInfo(tarball).Length) / 1e6)
| "clean" ->
    for dir in [ "src/Model.CSharp"; "src/Search.FSharp"; "src/Toys.CSharp"; "src/Toys.FSharp"; "src/Cli.FSharp"; "src/Host"; "tests" ] do
        for sub in [ "bin"; "obj"; "bin-external"; "obj-external" ] do
            let path = Path.Combine(root, dir, sub)
            if Directory.Exists path then Directory.Delete(path, true)
    for dir in [ "out"; "artifacts" ] do
        let path = Path.Combine(root, dir)
        if Directory.Exists path then Directory.Delete(path, true)
| other ->
    eprintfn "build.fsx: unknown target '%s'; targets: build, test, run, bench, quality, stress, stress-suite, publish, publish-external-libtorch, gpu-bundle, clean" other
    exit 2
