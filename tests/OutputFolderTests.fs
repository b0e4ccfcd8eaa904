module PatchDescent.Tests.OutputFolderTests

open System
open System.IO
open System.Text.Json
open Expecto
open PatchDescent.Model
open PatchDescent.Tests.Fixtures

/// Every file under a folder, relative, with its bytes: what "left byte-identical" compares.
let snapshot (dir: string) =
    if not (Directory.Exists dir) then Map.empty
    else
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
        |> Seq.map (fun f -> Path.GetRelativePath(dir, f), Convert.ToBase64String(File.ReadAllBytes f))
        |> Map.ofSeq

/// The files a mark lists, read with a plain JSON reader.
let markedFiles (dir: string) =
    use doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, OutputFolder.MarkFile)))
    [ for f in doc.RootElement.GetProperty("files").EnumerateArray() -> f.GetString() ] |> List.sort

/// What a failed or refused write may not leave beside the destination: temporary or old folders.
let leftovers (parent: string) (name: string) =
    Directory.EnumerateFileSystemEntries parent
    |> Seq.map (Path.GetFileName >> nonNull)
    |> Seq.filter (fun n -> n <> name && n.StartsWith name)
    |> List.ofSeq

let private write (folder: OutputFolder) (files: (string * string) list) =
    folder.Write(fun dir ->
        for name, text in files do
            let path = Path.Combine(dir, name)
            Directory.CreateDirectory(nonNull (Path.GetDirectoryName path)) |> ignore
            File.WriteAllText(path, text)
        dir)
    |> ignore

let private refused (f: unit -> unit) (fragments: string list) =
    Expect.throwsC f (fun e ->
        Expect.isTrue (e :? OutputException) $"an OutputException, got {e.GetType().Name}: {e.Message}"
        for s in fragments do Expect.stringContains e.Message s "says what and why")

[<Tests>]
let tests =
    testList "OutputFolder" [
        test "a new folder appears with a mark listing every file it holds, and nothing beside it" {
            use tmp = new TempDir()
            let out = tmp.File "run"
            write (OutputFolder.Claim("--out", out, "discover", [])) [ "a.txt", "1"; "sub/b.txt", "2" ]
            Expect.equal (markedFiles out) [ "a.txt"; OutputFolder.MarkFile; "sub/b.txt" ] "the mark lists the files"
            use doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(out, OutputFolder.MarkFile)))
            Expect.equal (doc.RootElement.GetProperty("verb").GetString()) "discover" "the verb"
            Expect.isEmpty (leftovers tmp.Path "run") "no temporary folder"
        }
        test "an existing folder without the mark is refused before any work and left byte-identical" {
            use tmp = new TempDir()
            let out = tmp.File "mine"
            Directory.CreateDirectory out |> ignore
            File.WriteAllText(Path.Combine(out, "model.safetensors"), "weights")
            let before = snapshot out
            refused (fun () -> OutputFolder.Claim("--out", out, "discover", [], true) |> ignore) [ "--out"; out; OutputFolder.MarkFile ]
            Expect.equal (snapshot out) before "untouched"
        }
        test "an empty existing folder is taken" {
            use tmp = new TempDir()
            let out = tmp.File "empty"
            Directory.CreateDirectory out |> ignore
            write (OutputFolder.Claim("--out", out, "discover", [])) [ "a.txt", "1" ]
            Expect.equal (File.ReadAllText(Path.Combine(out, "a.txt"))) "1" "written"
        }
        test "a folder that is or holds an input is refused, with --force too, and left byte-identical" {
            use tmp = new TempDir()
            let model = tmp.File "model"
            Directory.CreateDirectory model |> ignore
            File.WriteAllText(Path.Combine(model, "config.json"), "{}")
            let data = tmp.File "data/pairs.jsonl"
            Directory.CreateDirectory(tmp.File "data") |> ignore
            File.WriteAllText(data, "{}")
            let before = snapshot tmp.Path
            refused (fun () -> OutputFolder.Claim("--out", model, "discover", [ struct ("--model", model); struct ("--data", data) ], true) |> ignore) [ "--out"; "is the --model input" ]
            refused (fun () -> OutputFolder.Claim("--out", tmp.File "data", "discover", [ struct ("--model", model); struct ("--data", data) ], true) |> ignore) [ "holds the --data input"; data ]
            refused (fun () -> OutputFolder.Claim("--out", tmp.Path, "discover", [ struct ("--model", model) ], true) |> ignore) [ "holds the --model input" ]
            Expect.equal (snapshot tmp.Path) before "nothing touched"
        }
        test "a marked folder loses only the files its mark lists; the user's files and folders are kept byte-identical" {
            use tmp = new TempDir()
            let out = tmp.File "run"
            write (OutputFolder.Claim("--out", out, "compare", [])) [ "comparison.csv", "old"; "descent/circuit.json", "old"; "eap/circuit.json", "old" ]
            File.WriteAllText(Path.Combine(out, "notes.txt"), "mine")
            Directory.CreateDirectory(Path.Combine(out, "mydata")) |> ignore
            File.WriteAllText(Path.Combine(out, "mydata", "x.jsonl"), "my data")
            File.WriteAllText(Path.Combine(out, "descent", "remark.txt"), "mine too")
            write (OutputFolder.Claim("--out", out, "compare", [])) [ "comparison.csv", "new"; "descent/circuit.json", "new" ]
            Expect.isFalse (Directory.Exists(Path.Combine(out, "eap"))) "the stale method folder is gone"
            Expect.equal (File.ReadAllText(Path.Combine(out, "comparison.csv"))) "new" "replaced"
            Expect.equal (File.ReadAllText(Path.Combine(out, "notes.txt"))) "mine" "the user's file"
            Expect.equal (File.ReadAllText(Path.Combine(out, "mydata", "x.jsonl"))) "my data" "the user's folder"
            Expect.equal (File.ReadAllText(Path.Combine(out, "descent", "remark.txt"))) "mine too" "the user's file in a run's subfolder"
            Expect.isFalse ((markedFiles out) |> List.contains "notes.txt") "the user's file is not the program's"
            Expect.isEmpty (leftovers tmp.Path "run") "no temporary or old folder"
        }
        test "another verb's marked folder is refused without --force and replaced with it" {
            use tmp = new TempDir()
            let out = tmp.File "model"
            write (OutputFolder.Claim("--out", out, "toy train-induction", [])) [ "model.safetensors", "trained" ]
            refused (fun () -> OutputFolder.Claim("--out", out, "random-model", []) |> ignore) [ "toy train-induction"; "--force" ]
            Expect.equal (File.ReadAllText(Path.Combine(out, "model.safetensors"))) "trained" "kept"
            write (OutputFolder.Claim("--out", out, "random-model", [], true)) [ "model.safetensors", "random" ]
            Expect.equal (File.ReadAllText(Path.Combine(out, "model.safetensors"))) "random" "replaced"
        }
        test "a failing run leaves nothing behind: no temporary folder, no parent made for it, the old folder as it was" {
            use tmp = new TempDir()
            let fresh = tmp.File "a/b/run"
            let folder = OutputFolder.Claim("--out", fresh, "discover", [])
            Expect.throwsC (fun () -> folder.Write(fun dir -> File.WriteAllText(Path.Combine(dir, "x"), ""); failwith "training failed") |> ignore) (fun e ->
                Expect.equal e.Message "training failed" "the run's own error")
            Expect.isFalse (Directory.Exists(tmp.File "a")) "no parent folder left"
            let out = tmp.File "run"
            write (OutputFolder.Claim("--out", out, "discover", [])) [ "circuit.json", "first" ]
            let before = snapshot out
            let again = OutputFolder.Claim("--out", out, "discover", [])
            Expect.throws (fun () -> again.Write(fun _ -> failwith "stopped") |> ignore) "fails"
            Expect.equal (snapshot out) before "the old run as it was"
            Expect.isEmpty (leftovers tmp.Path "run") "no temporary folder"
        }
        test "a user's file where the new run writes one is refused at the swap and both stay" {
            use tmp = new TempDir()
            let out = tmp.File "run"
            write (OutputFolder.Claim("--out", out, "discover", [])) [ "circuit.json", "first" ]
            File.WriteAllText(Path.Combine(out, "report.html"), "the user's page")
            let before = snapshot out
            let folder = OutputFolder.Claim("--out", out, "discover", [])
            refused (fun () -> write folder [ "circuit.json", "second"; "report.html", "generated" ]) [ "report.html"; "no run wrote" ]
            Expect.equal (snapshot out) before "as it was"
            Expect.isEmpty (leftovers tmp.Path "run") "no temporary folder"
        }
        test "a destination that is a file, empty, or under a folder that takes nothing is refused naming the flag and the real path" {
            use tmp = new TempDir()
            let file = tmp.File "file.txt"
            File.WriteAllText(file, "x")
            refused (fun () -> OutputFolder.Claim("--out", file, "discover", []) |> ignore) [ "--out"; file; "is a file" ]
            refused (fun () -> OutputFolder.Claim("--out", "", "discover", []) |> ignore) [ "--out"; "empty" ]
            refused (fun () -> OutputFolder.Claim("--out", Path.Combine(file, "run"), "discover", []) |> ignore) [ file; "is a file" ]
            Expect.throwsC (fun () -> OutputFolder.Claim("--out", "/proc/patchdescent-x", "discover", []) |> ignore) (fun e ->
                Expect.stringContains e.Message "--out /proc/patchdescent-x" "names the flag and the path"
                Expect.isFalse (e.Message.Contains "probe") "no temporary path the user never gave")
            Expect.equal (Directory.GetFileSystemEntries tmp.Path) [| file |] "nothing made"
        }
        test "AtomicFile.Claim refuses a missing folder, a folder, and an input, naming the flag and the path" {
            use tmp = new TempDir()
            let missing = tmp.File "missing/dir/x.jsonl"
            refused (fun () -> AtomicFile.Claim("--out", missing, []) |> ignore) [ "--out"; missing; "does not exist" ]
            refused (fun () -> AtomicFile.Claim("--out", tmp.Path, []) |> ignore) [ "is a folder" ]
            let data = tmp.File "pairs.jsonl"
            File.WriteAllText(data, "mine")
            refused (fun () -> AtomicFile.Claim("--out", data, [ struct ("--data", data) ]) |> ignore) [ "is the --data input" ]
            let model = tmp.File "model"
            Directory.CreateDirectory model |> ignore
            refused (fun () -> AtomicFile.Claim("--out", Path.Combine(model, "task.json"), [ struct ("--model", model) ]) |> ignore) [ "lies in the --model folder" ]
            Expect.equal (File.ReadAllText data) "mine" "the input as it was"
            Expect.equal (AtomicFile.Claim("--out", tmp.File "new.jsonl", [])) (tmp.File "new.jsonl") "a new file in an existing folder is fine"
            Expect.isEmpty (Directory.GetFileSystemEntries model) "no probe left"
        }
    ]
