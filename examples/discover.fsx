// A whole discovery run as one value: a tiny random GPT-2 and twelve random clean/corrupted pairs, written to a
// temporary folder, then `Discovery.run` writes circuit.json, graph.mib.json, circuit.dot/svg, curve.csv, run.log.
// dotnet fsi build.fsx build && dotnet fsi examples/discover.fsx
#load "PatchDescent.fsx"

open System.IO
open PatchDescent.Model
open PatchDescent.Search

let dir = Path.Combine(Path.GetTempPath(), "patchdescent-discover")
let config = Gpt2Config(2, 4, 32, 16, 50257, 1e-5)
using (Gpt2.Random(config, seed = 1, std = 0.2)) (fun model -> Checkpoint.Save(model, Path.Combine(dir, "model")))

let rng = System.Random 1
let tokens () = Array.init 8 (fun _ -> rng.Next config.VocabSize)
let pairs = [| for _ in 1 .. 12 -> { Clean = tokens (); Corrupted = tokens (); Answer = rng.Next config.VocabSize; Wrong = None; Threshold = None } |]
Dataset.write (Path.Combine(dir, "pairs.jsonl")) { Source = "random"; Pairs = pairs }

let experiment =
    { Experiment.defaults (Path.Combine(dir, "model")) (JsonlFile(Path.Combine(dir, "pairs.jsonl"))) (Path.Combine(dir, "out")) with
        BatchSize = 4 }
    |> Experiment.withSteps 100

let result = Discovery.run experiment (fun log -> printfn "step %3d  kept %.3f" log.Step log.ExpectedKeptFraction)

printfn "%d edges kept (threshold 0.5), faithfulness %.3f, CPR %.3f, CMD %.3f; files in %s"
    (Circuit.edgeCount result.Circuit) result.Metrics.Faithfulness result.Curve.Cpr result.Curve.Cmd result.OutDir
for edge in Circuit.edges result.Circuit do
    printfn "  %-20s %.3f" (Edge.name edge) result.Scores[Graph.edgeId result.Circuit.Shape edge]
