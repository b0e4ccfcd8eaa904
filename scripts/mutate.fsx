// The mutation harness behind `dotnet fsi build.fsx mutate [-- [--list FILE] ID ...]` (issue 23; not in CI, it takes about a
// minute a mutation). Each mutation of tests/mutations.json (a file, an exact snippet of it, its replacement, the
// test list that should catch it) is applied in turn to a scratch copy of the working tree, built, and run against
// that list: killed (the list fails), survived (it passes) or build-failed. The checkout is only read, so an
// interrupted run leaves it as it was; the scratch copy is deleted at the end.
open System
open System.Diagnostics
open System.IO
open System.Text.Json

type Mutation = { Id: string; File: string; Original: string; Mutant: string; Tests: string; Mistake: string }

type Verdict =
    | Killed of detail: string
    | Survived
    | BuildFailed of firstError: string

/// Ends the run with a message; the scratch copy is still removed.
exception Stop of string

let root = Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, ".."))
let arguments = fsi.CommandLineArgs |> Array.skip 1 |> List.ofArray
/// `--list FILE` reads another list (the tests use it); the other arguments are ids to run alone.
let listPath, wanted =
    match arguments with
    | "--list" :: file :: ids -> Path.GetFullPath file, Set.ofList ids
    | ids -> Path.Combine(root, "tests", "mutations.json"), Set.ofList ids

/// The mutations the file lists, or the errors that make it unusable, each naming the entry and the field.
let parse (text: string) =
    use doc = JsonDocument.Parse text
    if doc.RootElement.ValueKind <> JsonValueKind.Array then Error [ $"{listPath}: not a JSON array of mutations" ]
    else
        let entries =
            [ for i, e in Seq.indexed (doc.RootElement.EnumerateArray()) ->
                let field (name: string) =
                    match e.TryGetProperty name with
                    | true, v when v.ValueKind = JsonValueKind.String -> Ok(nonNull (v.GetString()))
                    | _ -> Error $"{listPath}: mutation {i + 1} lacks the string \"{name}\""
                match field "id", field "file", field "original", field "mutant", field "tests", field "mistake" with
                | Ok id, Ok file, Ok original, Ok mutant, Ok tests, Ok mistake ->
                    Ok { Id = id; File = file; Original = original; Mutant = mutant; Tests = tests; Mistake = mistake }
                | results ->
                    let (a, b, c, d, e, f) = results
                    Error ([ a; b; c; d; e; f ] |> List.pick (function Error m -> Some m | Ok _ -> None)) ]
        match entries |> List.choose (function Error m -> Some m | Ok _ -> None) with
        | [] -> Ok(entries |> List.choose (function Ok m -> Some m | Error _ -> None))
        | errors -> Error errors

let occurrences (text: string) (snippet: string) =
    let rec count from n =
        match text.IndexOf(snippet, from, StringComparison.Ordinal) with
        | -1 -> n
        | i -> count (i + 1) (n + 1)
    if snippet = "" then 0 else count 0 0

/// What makes a mutation unusable, naming it and its file: a missing file, a snippet not found exactly once, no change.
let problems (mutations: Mutation list) =
    [ for id, group in mutations |> List.groupBy (fun m -> m.Id) do
        if group.Length > 1 then yield $"mutation {id}: the id is used {group.Length} times"
      for m in mutations do
        let path = Path.Combine(root, m.File)
        if not (File.Exists path) then yield $"mutation {m.Id}: {m.File}: no such file"
        else
            match occurrences (File.ReadAllText path) m.Original with
            | 1 -> if m.Original = m.Mutant then yield $"mutation {m.Id}: {m.File}: the mutant is the original"
            | n -> yield $"mutation {m.Id}: {m.File}: the original snippet occurs {n} times; it must occur exactly once" ]

/// Runs a command in `dir`, output captured; a run past `timeout` is killed and returns None.
let run (dir: string) (timeout: TimeSpan) (exe: string) (arguments: string list) =
    let info = ProcessStartInfo(exe, arguments, WorkingDirectory = dir, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true)
    info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] <- "1"
    info.Environment["DOTNET_NOLOGO"] <- "1"
    use p = Process.Start info
    let out = p.StandardOutput.ReadToEndAsync()
    let err = p.StandardError.ReadToEndAsync()
    if p.WaitForExit timeout then
        p.WaitForExit()
        Some(p.ExitCode, out.Result + err.Result)
    else
        p.Kill true
        p.WaitForExit()
        None

/// The working tree's files (tracked, and untracked ones git does not ignore), as paths relative to the root.
let workingTree () =
    match run root (TimeSpan.FromMinutes 1.0) "git" [ "ls-files"; "-z"; "--cached"; "--others"; "--exclude-standard" ] with
    | Some(0, out) -> out.Split('\000', StringSplitOptions.RemoveEmptyEntries) |> Array.filter (fun f -> File.Exists(Path.Combine(root, f)))
    | _ -> failwith "git ls-files failed; the harness copies the working tree that git lists"

let build scratch =
    run scratch (TimeSpan.FromMinutes 15.0) "dotnet" [ "build"; "tests/Tests.fsproj"; "-c"; "Release"; "-nologo"; "-v"; "q" ]

let firstError (output: string) =
    output.Split('\n') |> Array.tryFind (fun l -> l.Contains " error ") |> Option.defaultValue "(no error line)" |> fun l -> l.Trim()

/// "N passed, N failed", the suite's last line, as numbers.
let counts (output: string) =
    output.Split('\n')
    |> Array.rev
    |> Array.tryPick (fun l ->
        let m = Text.RegularExpressions.Regex.Match(l, @"^(\d+) passed, (\d+) failed")
        if m.Success then Some(int m.Groups[1].Value, int m.Groups[2].Value) else None)

let testRun scratch timeout list =
    let dll = Path.Combine(scratch, "tests", "bin", "Release", "net10.0", "PatchDescent.Tests.dll")
    run scratch timeout "dotnet" [ dll; "--filter-test-list"; list ]

let main () =
    let text =
        try File.ReadAllText listPath
        with e -> raise (Stop $"{listPath}: {e.Message}")
    let parsed =
        try parse text
        with :? JsonException as e -> raise (Stop $"{listPath}: not valid JSON: {e.Message}")
    let mutations =
        match parsed with
        | Error errors -> raise (Stop (String.Join("\nmutate: ", errors)))
        | Ok all -> all
    match problems mutations with
    | [] -> ()
    | errors -> raise (Stop (String.Join("\nmutate: ", errors @ [ $"nothing was run; fix {listPath}" ])))
    let unknown = wanted - (mutations |> List.map (fun m -> m.Id) |> Set.ofList)
    if not unknown.IsEmpty then raise (Stop $"""no mutation is called {String.Join(", ", unknown)}""")
    let chosen = if wanted.IsEmpty then mutations else mutations |> List.filter (fun m -> wanted.Contains m.Id)
    let scratch = Path.Combine(Path.GetTempPath(), $"patchdescent-mutate-{Environment.ProcessId}")
    // Only a folder this run made is deleted at the end: one left by an interrupted run of the same id is refused.
    if Directory.Exists scratch then raise (Stop $"{scratch} exists already (an interrupted run's copy?); remove it and run again")
    let clock = Stopwatch.StartNew()
    try
        for f in workingTree () do
            let target = Path.Combine(scratch, f)
            Directory.CreateDirectory(nonNull (Path.GetDirectoryName target)) |> ignore
            File.Copy(Path.Combine(root, f), target)
        printfn "mutate: %d mutations; the scratch copy is %s" chosen.Length scratch
        match build scratch with
        | Some(0, _) -> ()
        | Some(_, out) -> raise (Stop $"the unmutated copy does not build: {firstError out}")
        | None -> raise (Stop "the unmutated copy's build timed out")
        // Each list must pass, and select some test, on the unmutated code, or its verdicts would mean nothing; its
        // time there bounds a mutant's run (an infinite loop is killed, and counts as killed).
        let limits =
            [ for list in chosen |> List.map (fun m -> m.Tests) |> List.distinct ->
                let t = Stopwatch.StartNew()
                match testRun scratch (TimeSpan.FromMinutes 20.0) list with
                | Some(0, out) when (counts out |> Option.map fst |> Option.defaultValue 0) > 0 ->
                    printfn "mutate: test list %s passes unmutated in %.0f s" list t.Elapsed.TotalSeconds
                    list, TimeSpan.FromSeconds(max 120.0 (10.0 * t.Elapsed.TotalSeconds))
                | Some(0, _) -> raise (Stop $"test list {list} selects no test")
                | Some(code, out) ->
                    let tail = out.Split('\n') |> Array.filter (fun l -> l.Trim() <> "") |> Array.rev |> Array.truncate 3 |> Array.rev
                    raise (Stop $"""test list {list} fails on the unmutated code (exit {code}); no mutation can be judged by it; its output ended: {String.Join(" | ", tail)}""")
                | None -> raise (Stop $"test list {list} timed out on the unmutated code") ]
            |> Map.ofList
        let verdicts =
            [ for m in chosen ->
                let path = Path.Combine(scratch, m.File)
                let original = File.ReadAllText path
                let t = Stopwatch.StartNew()
                let verdict =
                    try
                        File.WriteAllText(path, original.Replace(m.Original, m.Mutant))
                        match build scratch with
                        | Some(0, _) ->
                            match testRun scratch limits[m.Tests] m.Tests with
                            | Some(0, _) -> Survived
                            | Some(_, out) ->
                                match counts out with
                                | Some(_, failed) -> Killed $"{failed} failed"
                                | None -> Killed "the test run crashed"
                            | None -> Killed "timed out"
                        | Some(_, out) -> BuildFailed(firstError out)
                        | None -> BuildFailed "the build timed out"
                    finally
                        File.WriteAllText(path, original)
                let word, detail =
                    match verdict with
                    | Killed d -> "killed", d
                    | Survived -> "SURVIVED", "every test passed"
                    | BuildFailed e -> "BUILD-FAILED", e
                printfn "%-12s %-44s %s (%s: %s, %.0f s)" word m.Id m.File m.Tests detail t.Elapsed.TotalSeconds
                m, verdict ]
        let count f = verdicts |> List.filter (snd >> f) |> List.length
        let killed = count (function Killed _ -> true | _ -> false)
        let survived = count ((=) Survived)
        let failed = count (function BuildFailed _ -> true | _ -> false)
        for language, ext in [ "F#", ".fs"; "C#", ".cs" ] do
            let mine = verdicts |> List.filter (fun (m, _) -> m.File.EndsWith ext)
            if not mine.IsEmpty then
                let k = mine |> List.filter (function _, Killed _ -> true | _ -> false) |> List.length
                printfn "mutate: %s: %d of %d killed (%.0f %%)" language k mine.Length (100.0 * float k / float mine.Length)
        for m, v in verdicts do
            if v = Survived then printfn "mutate: survived: %s (%s, %s)" m.Id m.File m.Mistake
        printfn "mutate: %d mutations: %d killed, %d survived, %d build-failed, in %.0f s" verdicts.Length killed survived failed clock.Elapsed.TotalSeconds
        if survived + failed > 0 then 1 else 0
    finally
        if Directory.Exists scratch then Directory.Delete(scratch, true)

exit (try main () with Stop message -> eprintfn "mutate: %s" message; 1)
