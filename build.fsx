// PatchDescent's build entry point: dotnet fsi build.fsx <target> [-- args for the target]
// Targets: build, test, run, bench, publish, clean.
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
| "run" ->
    timed "build" build
    if extra.Length > 0 then host (List.ofArray extra)
    else
        timed "discovery on the shipped model" (fun () -> dotnet [ "fsi"; "examples/induction.fsx" ])
| "bench" ->
    timed "build" build
    host ("bench" :: List.ofArray extra)
| "publish" ->
    dotnet [ "publish"; "src/Host"; "-c"; configuration; "-o"; "artifacts/patchdescent"; "-nologo" ]
| "clean" ->
    for dir in [ "src/Model.CSharp"; "src/Search.FSharp"; "src/Host"; "tests" ] do
        for sub in [ "bin"; "obj" ] do
            let path = Path.Combine(root, dir, sub)
            if Directory.Exists path then Directory.Delete(path, true)
    for dir in [ "out"; "artifacts" ] do
        let path = Path.Combine(root, dir)
        if Directory.Exists path then Directory.Delete(path, true)
| other ->
    eprintfn "build.fsx: unknown target '%s'; targets: build, test, run, bench, publish, clean" other
    exit 2
