module PatchDescent.Tests.MibSubmissionTests

open System.IO
open System.Text.Json
open Expecto
open PatchDescent.Search
open PatchDescent.Tests.Fixtures
open PatchDescent.Tests.HostTests

let private gpt2 = { Layers = 12; Heads = 12; HasMlp = true }

/// A finished run's two files, written by hand for a graph of this shape and d_model; the scores are all distinct.
let private writeRun (dir: string) (shape: GraphShape) (dModel: int) (task: string) (method: string) (ablation: string) =
    Directory.CreateDirectory dir |> ignore
    let n = Graph.edgeCount shape
    let scores = Array.init n (fun id -> float ((id * 7919) % n) / float n)
    CircuitJson.writeReport (Path.Combine(dir, "circuit.json"))
        { LibraryVersion = "test"; Model = "gpt2"; Task = task; Granularity = "Full"; Seed = 1
          Hyperparameters = [ "method", method; "ablation", ablation ]; Edges = []; Metrics = []; Warnings = [] }
    File.WriteAllText(Path.Combine(dir, "graph.mib.json"), CircuitJson.exportMib dModel { Shape = shape; Edges = set [ 0 .. 9 ] } (Some scores))
    scores

/// EAP-IG's edges of a GPT-2 graph, spelt out from its Graph.from_model: each layer's heads read q, k and v from
/// every earlier sender, its MLP reads those and the layer's heads, and the logits read every sender.
let private mibEdgeNames (layers: int) (heads: int) =
    [ let mutable residual = [ "input" ]
      for l in 0 .. layers - 1 do
          let hs = [ for h in 0 .. heads - 1 -> $"a{l}.h{h}" ]
          for s in residual do
              for h in hs do
                  for port in [ "q"; "k"; "v" ] -> $"{s}->{h}<{port}>"
          residual <- residual @ hs
          for s in residual -> $"{s}->m{l}"
          residual <- residual @ [ $"m{l}" ]
      for s in residual -> $"{s}->logits" ]

let private refusal runDir task =
    match MibSubmission.files runDir task with
    | Ok files -> failtest $"expected a refusal, got {files.Length} files"
    | Error e -> e

[<Tests>]
let tests =
    testList "MibSubmission" [
        test "export-mib writes METHOD_ABLATION_edge/ioi_gpt2/importances.json, which reads as MIB's graph JSON with every edge's score" {
            use dir = new TempDir()
            let run = dir.File "run"
            let scores = writeRun run gpt2 768 "ioi (n 8, seed 1, train split, mixed, abc corruption, bos false)" "descent" "Patching"
            let code, out, err = runHost [ "export-mib"; "--run"; run; "--out"; dir.File "submission" ]
            Expect.equal code 0 err
            Expect.stringContains out "--method descent --ablation patching --models gpt2 --tasks ioi" "the MIB command"
            let file = Path.Combine(dir.File "submission", "descent_patching_edge", "ioi_gpt2", "importances.json")
            use doc = JsonDocument.Parse(File.ReadAllText file)
            let root = doc.RootElement
            Expect.equal (set [ for p in root.EnumerateObject() -> p.Name ]) (set [ "cfg"; "nodes"; "edges" ]) "the three keys MIB's loader asserts"
            let cfg = root.GetProperty "cfg"
            Expect.equal (cfg.GetProperty("n_layers").GetInt32(), cfg.GetProperty("n_heads").GetInt32(), cfg.GetProperty("d_model").GetInt32()) (12, 12, 768) "cfg"
            Expect.isFalse (cfg.GetProperty("parallel_attn_mlp").GetBoolean()) "GPT-2 is sequential"
            let nodes = [ for p in root.GetProperty("nodes").EnumerateObject() -> p.Name, [ for f in p.Value.EnumerateObject() -> f.Name, f.Value.ValueKind ] ]
            // MIB's own example, circuits/ioi-eap-ig.json, has 158 nodes and 32,491 edges on gpt2-small.
            Expect.equal nodes.Length 158 "input, 144 heads, 12 MLPs, logits"
            for name, fields in nodes do Expect.equal fields [ "in_graph", JsonValueKind.False ] $"{name}: in_graph only"
            let edges = [ for p in root.GetProperty("edges").EnumerateObject() -> p.Name, p.Value.GetProperty("score").GetDouble(), p.Value.GetProperty("in_graph").GetBoolean() ]
            Expect.equal edges.Length 32491 "MIB's edge count for gpt2-small"
            Expect.equal (set [ for n, _, _ in edges -> n ]) (set (mibEdgeNames 12 12)) "EAP-IG's edges, by name"
            let byName = Map.ofList [ for e in Graph.edges gpt2 -> Edge.name e, scores[Graph.edgeId gpt2 e] ]
            for n, score, inGraph in edges do
                Expect.equal score byName[n] $"{n}: the run's score"
                Expect.isFalse inGraph "MIB cuts the scores itself"
        }
        test "a comparison gives one method folder each; --task-name names the task; the ablation is MIB's name" {
            use dir = new TempDir()
            let cmp = dir.File "cmp"
            writeRun (Path.Combine(cmp, "descent")) gpt2 768 "pairs.jsonl" "descent" "Mean None" |> ignore
            writeRun (Path.Combine(cmp, "eap-ig")) gpt2 768 "pairs.jsonl" "eap-ig" "Zero" |> ignore
            File.WriteAllLines(Path.Combine(cmp, "comparison.csv"), [ "method,settings"; "descent,300 steps"; "eap-ig,5 steps" ])
            match MibSubmission.files cmp (Some "mcqa") with
            | Error e -> failtest e
            | Ok files ->
                Expect.equal [ for f in files -> f.Path ]
                    [ Path.Combine("descent_mean_edge", "mcqa_gpt2", "importances.json"); Path.Combine("eap-ig_zero_edge", "mcqa_gpt2", "importances.json") ] "paths"
            Expect.stringContains (refusal cmp None) "--task-name" "a task MIB does not know is not guessed"
            Expect.stringContains (refusal cmp (Some "greater-than")) "none of MIB's tasks" "MIB has no greater-than"
        }
        test "a run MIB cannot take is refused naming the file and why, and nothing is written" {
            use dir = new TempDir()
            let tiny = dir.File "tiny"
            writeRun tiny { Layers = 2; Heads = 2; HasMlp = true } 8 "ioi (n 8)" "descent" "Patching" |> ignore
            Expect.stringContains (refusal tiny None) "none of MIB's models (gpt2: 12 layers, 12 heads, d_model 768" "the shape"
            let attnOnly = dir.File "attn"
            writeRun attnOnly { gpt2 with HasMlp = false } 768 "ioi (n 8)" "descent" "Patching" |> ignore
            Expect.stringContains (refusal attnOnly None) "MLPs" "an attention-only graph"
            let run = dir.File "run"
            writeRun run gpt2 768 "ioi (n 8)" "descent" "Patching" |> ignore
            let graph = Path.Combine(run, "graph.mib.json")
            File.WriteAllText(graph, File.ReadAllText(graph).Replace("\"d_model\": 768", "\"d_model\": null"))
            Expect.stringContains (refusal run None) $"{graph}: cfg has no number d_model" "an old graph.mib.json"
            File.Delete graph
            Expect.stringContains (refusal run None) $"{graph}: missing" "a missing file"
            File.WriteAllText(Path.Combine(run, "stability.csv"), "level,seed_a,seed_b,jaccard")
            Expect.stringContains (refusal run None) "seed-N" "a seed sweep"
            let code, _, err = runHost [ "export-mib"; "--run"; tiny; "--out"; dir.File "submission" ]
            Expect.equal code 1 "exit 1"
            Expect.stringContains err "none of MIB's models" "the host says why"
            Expect.isFalse (Directory.Exists(dir.File "submission")) "no folder"
        }
    ]
