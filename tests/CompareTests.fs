module PatchDescent.Tests.CompareTests

open System.IO
open System.Text.Json
open Expecto
open PatchDescent.Model
open PatchDescent.Search
open PatchDescent.Tests.Fixtures

let private tiny = Gpt2Config(2, 2, 8, 8, 17, 1e-5)

/// Writes a tiny checkpoint and pairs with wrong answers into `dir`; the experiment compares into `dir/cmp`.
let setup (dir: TempDir) =
    writeCheckpoint (dir.File "model") tiny (randomHfWeights tiny 3) false
    let rng = System.Random 4
    let row () = Array.init 5 (fun _ -> rng.Next 17)
    let pairs = { Source = "tiny"; Pairs = Array.init 6 (fun i -> { Clean = row (); Corrupted = row (); Answer = i; Wrong = Some(i + 1); Threshold = None }) }
    let e = Experiment.defaults (dir.File "model") (Pairs pairs) (dir.File "cmp") |> Experiment.withSteps 10
    { e with Levels = [ 0.0; 0.1; 0.5; 1.0 ] }

/// A figure of a method's circuit.json, read straight from the file.
let private saved (dir: string) (name: string) =
    use doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "circuit.json")))
    doc.RootElement.GetProperty("metrics").GetProperty(name).GetDouble()

[<Tests>]
let tests =
    testSequenced <| testList "Compare" [
        test "each method writes its folder, and the table's rows are those folders' figures" {
            use dir = new TempDir()
            let e = setup dir
            let methods = [ Descent; Eap; EapIg 3; Acdc 0.001 ]
            let runs = Compare.run e methods (fun _ _ -> ())
            Expect.equal [ for r in runs -> r.Method ] methods "one run per method, in order"
            let csv = File.ReadAllLines(Path.Combine(e.OutDir, "comparison.csv"))
            Expect.equal csv[0] "method,settings,edges,faithfulness,kl,cpr,cmd,seconds,peak_rss_delta_mib" "header"
            for line, m in Seq.zip csv[1..] methods do
                let cells = line.Split ','
                let folder = Path.Combine(e.OutDir, Method.name m)
                Expect.equal cells[0] (Method.name m) "method column"
                Expect.equal (float cells[2]) (saved folder "edges") $"{Method.name m} edges"
                Expect.equal (float cells[3]) (saved folder "faithfulness") $"{Method.name m} faithfulness"
                Expect.equal (float cells[5]) (saved folder "cpr") $"{Method.name m} CPR"
                Expect.isGreaterThan (float cells[7]) 0.0 "a wall time"
                if File.Exists "/proc/self/clear_refs" then Expect.isGreaterThanOrEqual (float cells[8]) 0.0 "a memory figure on Linux"
            let md = File.ReadAllLines(Path.Combine(e.OutDir, "comparison.md"))
            Expect.equal md.Length (2 + methods.Length) "a Markdown row per method"
            for f in [ "curves.png"; "curves.svg" ] do Expect.isTrue (File.Exists(Path.Combine(e.OutDir, f))) f
            let svg = File.ReadAllText(Path.Combine(e.OutDir, "curves.svg"))
            for m in methods do Expect.stringContains svg (Method.name m) "every method in the legend"
        }
        test "two methods of one name, or none, are refused before anything runs" {
            use dir = new TempDir()
            let e = setup dir
            Expect.throwsC (fun () -> Compare.run e [ EapIg 2; EapIg 4 ] (fun _ _ -> ()) |> ignore) (fun ex ->
                Expect.stringContains ex.Message "repeat" "says why")
            Expect.throws (fun () -> Compare.run e [] (fun _ _ -> ()) |> ignore) "no methods"
            Expect.isFalse (Directory.Exists e.OutDir) "nothing written"
        }
    ]
