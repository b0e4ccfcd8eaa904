/// The mutation harness (`scripts/mutate.fsx`, behind `build.fsx mutate`) refuses a list it cannot apply exactly,
/// before it copies or builds anything.
module PatchDescent.Tests.MutateTests

open System.Diagnostics
open System.IO
open System.Security.Cryptography
open Expecto
open PatchDescent.Tests.Fixtures

let private root = Path.GetFullPath(Path.Combine(System.AppContext.BaseDirectory, "../../../.."))

let private digest (path: string) = System.Convert.ToHexString(SHA256.HashData(File.ReadAllBytes path))

[<Tests>]
let tests =
    testList "Mutate" [
        test "a mutation whose snippet is not in its file exactly once, or whose file is missing, is refused naming both, and nothing is touched" {
            use dir = new TempDir()
            let list = dir.File "mutations.json"
            let entry id file original = $"""{{ "id": "{id}", "file": "{file}", "original": "{original}", "mutant": "x", "tests": "Graph", "mistake": "-" }}"""
            let entries =
                [ entry "twice" "src/Search.FSharp/Graph.fs" "let "
                  entry "absent" "src/Search.FSharp/Schedule.fs" "no such snippet"
                  entry "nofile" "src/Nope.fs" "a" ]
            File.WriteAllText(list, "[" + String.concat ", " entries + "]")
            let files = [ "src/Search.FSharp/Graph.fs"; "src/Search.FSharp/Schedule.fs" ] |> List.map (fun f -> Path.Combine(root, f))
            let before = files |> List.map digest
            let scratches () = Directory.GetDirectories(Path.GetTempPath(), "patchdescent-mutate-*").Length
            let scratchesBefore = scratches ()
            let info = ProcessStartInfo("dotnet", [ "fsi"; Path.Combine(root, "scripts", "mutate.fsx"); "--list"; list ], RedirectStandardOutput = true, RedirectStandardError = true)
            use p = nonNull (Process.Start info)
            let out = p.StandardOutput.ReadToEndAsync()
            let err = p.StandardError.ReadToEnd()
            p.WaitForExit()
            Expect.equal p.ExitCode 1 $"exit code; stdout {out.Result}"
            Expect.stringContains err "mutation twice: src/Search.FSharp/Graph.fs: the original snippet occurs" "names the mutation and the file"
            Expect.stringContains err "mutation absent: src/Search.FSharp/Schedule.fs: the original snippet occurs 0 times" "a snippet not found"
            Expect.stringContains err "mutation nofile: src/Nope.fs: no such file" "a missing file"
            Expect.stringContains err "nothing was run" "says it ran nothing"
            Expect.equal (files |> List.map digest) before "the checkout's files are unchanged"
            Expect.equal (scratches ()) scratchesBefore "no scratch copy was made"
        }
    ]
