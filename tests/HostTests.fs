module PatchDescent.Tests.HostTests

open System.Diagnostics
open System.IO
open System.Text.Json
open Expecto
open PatchDescent.Model
open PatchDescent.Search
open PatchDescent.Tests.Fixtures
open PatchDescent.Tests.Reference

/// The built `patchdescent` host beside this test program's build (the solution builds both).
let hostDll =
    Path.GetFullPath(Path.Combine(System.AppContext.BaseDirectory, "../../../../src/Host/bin/Release/net10.0/patchdescent.dll"))

/// Runs the host with arguments; returns exit code, stdout and stderr.
let runHost (args: string list) =
    let info = ProcessStartInfo("dotnet", hostDll :: args, RedirectStandardOutput = true, RedirectStandardError = true)
    use p = nonNull (Process.Start info)
    let out = p.StandardOutput.ReadToEndAsync()
    let err = p.StandardError.ReadToEnd()
    p.WaitForExit()
    p.ExitCode, out.Result, err

let private tiny = Gpt2Config(2, 2, 8, 16, 23, 1e-5)

/// Writes a tiny checkpoint and two pairs of two lengths into `dir`, and runs `discover` for `steps` steps on them
/// into `dir/out`.
let private discoverTiny (dir: TempDir) (steps: int) =
    writeCheckpoint (dir.File "model") tiny (randomHfWeights tiny 5) false
    let line (clean: int list) (corrupted: int list) answer wrong =
        let ids (xs: int list) = xs |> List.map string |> String.concat ", "
        $"{{\"clean_ids\": [{ids clean}], \"corrupted_ids\": [{ids corrupted}], \"answer_id\": {answer}, \"wrong_id\": {wrong}}}"
    File.WriteAllLines(dir.File "pairs.jsonl", [ line [ 1; 2; 3; 4 ] [ 5; 6; 7; 8 ] 3 9; line [ 4; 3; 2 ] [ 8; 7; 6 ] 2 10 ])
    runHost [ "discover"; "--model"; dir.File "model"; "--data"; dir.File "pairs.jsonl"; "--out"; dir.File "out"; "--steps"; string steps; "--seed"; "2" ]

/// The faithfulness and edge count `discover` wrote into circuit.json, read straight from the file.
let private savedFigures (path: string) =
    use doc = JsonDocument.Parse(File.ReadAllText path)
    let metrics = doc.RootElement.GetProperty "metrics"
    metrics.GetProperty("faithfulness").GetDouble(), metrics.GetProperty("edges").GetDouble()

[<Tests>]
let tests =
    testSequenced <| testList "Host" [
        test "info prints the parameter count the config implies" {
            use dir = new TempDir()
            writeCheckpoint dir.Path tiny (randomHfWeights tiny 1) false
            let code, out, err = runHost [ "info"; "--model"; dir.Path ]
            Expect.equal code 0 err
            // wte + wpe + ln_f + per layer (2 norms, c_attn, c_proj, c_fc, mlp c_proj), d = 8, d_mlp = 32
            let d, m = 8, 32
            let perLayer = 4 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * m + m) + (m * d + d)
            let expected = 23 * d + 16 * d + 2 * d + 2 * perLayer
            Expect.stringContains out (expected.ToString("N0")) "parameter count"
        }
        test "generate --prompt-ids --ids continues greedily exactly as the independent reference does" {
            use dir = new TempDir()
            let weights = randomHfWeights tiny 4
            writeCheckpoint dir.Path tiny weights true
            let w = weights |> List.map (fun (n, v, _) -> n, Array.map float v) |> Map.ofList
            let shape : Gpt2Reference.Shape = { Layers = 2; Heads = 2; DModel = 8; DMlp = 32; Vocab = 23; Eps = 1e-5; AttnOnly = false }
            let mutable ids = [ 3; 1; 4 ]
            for _ in 1 .. 6 do
                let last = Gpt2Reference.forward shape (fun n -> w[n]) (Array.ofList ids) |> Array.last
                ids <- ids @ [ Array.findIndex ((=) (Array.max last)) last ]
            let code, out, err = runHost [ "generate"; "--model"; dir.Path; "--prompt-ids"; "3,1,4"; "--tokens"; "6"; "--ids"; "--device"; "cpu" ]
            Expect.equal code 0 err
            Expect.equal (out.Trim()) (ids |> List.skip 3 |> List.map string |> String.concat ",") "generated ids"
        }
        test "a truncated checkpoint exits 1 naming file and tensor, without a stack trace unless --verbose" {
            use dir = new TempDir()
            writeCheckpoint dir.Path tiny (randomHfWeights tiny 1) false
            let weights = dir.File "model.safetensors"
            let bytes = File.ReadAllBytes weights
            File.WriteAllBytes(weights, bytes[.. bytes.Length - 100])
            let code, _, err = runHost [ "info"; "--model"; dir.Path ]
            Expect.equal code 1 "exit code"
            Expect.stringContains err "model.safetensors" "names the file"
            Expect.stringContains err "truncated" "says what is wrong"
            Expect.isFalse (err.Contains "   at ") "no stack trace"
            let _, _, verbose = runHost [ "info"; "--model"; dir.Path; "--verbose" ]
            Expect.stringContains verbose "   at " "stack trace with --verbose"
        }
        test "discover runs end to end from the command line and writes every output file" {
            use dir = new TempDir()
            let code, out, err = discoverTiny dir 10
            Expect.equal code 0 err
            Expect.stringContains out "faithfulness" "prints the figures"
            for f in [ "circuit.json"; "graph.mib.json"; "circuit.dot"; "circuit.svg"; "circuit.png"; "report.html"; "curve.csv"; "curve.png"; "curve.svg"; "run.log" ] do
                Expect.isTrue (File.Exists(Path.Combine(dir.File "out", f))) f
        }
        test "discover with output redirected prints a plain progress line per log: steps, loss terms, edges, elapsed time and ETA" {
            use dir = new TempDir()
            let code, out, err = discoverTiny dir 20
            Expect.equal code 0 err
            Expect.isFalse (out.Contains '\r') "no carriage returns in a redirected log"
            let lines = out.Split('\n') |> Array.filter (fun l -> l.StartsWith "step ")
            // A log every 10 steps (the default LogEvery).
            Expect.equal [ for l in lines -> l.Split(' ', System.StringSplitOptions.RemoveEmptyEntries)[1] ] [ "10/20"; "20/20" ] "one line per log"
            let pattern = @"^step 20/20  eta 0:00  elapsed \d+:\d\d  edges \d+ \(expected \d+\.\d\)  kl \S+  sparsity \S+  total \S+  target sparsity 0\.950$"
            Expect.isMatch (lines[1].TrimEnd()) pattern "the last line"
        }
        test "a Qwen2 folder in shards runs end to end: info reads it, discover finds a circuit, and evaluate's m(full) is the float64 reference's logit difference" {
            use dir = new TempDir()
            let c = LlamaConfig("qwen2", 2, 4, 2, 8, 4, 12, 23, 8, 1e-6, 1e6, null, true, false, true)
            let weights = randomLlamaWeights c 5
            writeLlamaCheckpoint (dir.File "model") c weights 3
            let line (ids: string) (corrupt: string) answer wrong = $"{{\"clean_ids\": [{ids}], \"corrupted_ids\": [{corrupt}], \"answer_id\": {answer}, \"wrong_id\": {wrong}}}"
            File.WriteAllLines(dir.File "pairs.jsonl", [ line "1, 2, 3, 4" "5, 6, 7, 8" 3 9; line "4, 3, 2" "9, 10, 11" 2 7 ])
            let code, out, err = runHost [ "info"; "--model"; dir.File "model" ]
            Expect.equal code 0 err
            for fragment in [ "model_type     qwen2"; "4 query heads over 2 key-value heads"; "in 3 shards" ] do Expect.stringContains out fragment "info"
            let code, _, err = runHost [ "discover"; "--model"; dir.File "model"; "--data"; dir.File "pairs.jsonl"; "--out"; dir.File "out"; "--steps"; "5" ]
            Expect.equal code 0 err
            let code, out, err =
                runHost [ "evaluate"; "--model"; dir.File "model"; "--circuit"; Path.Combine(dir.File "out", "circuit.json"); "--data"; dir.File "pairs.jsonl"; "--json"; "--device"; "cpu" ]
            Expect.equal code 0 err
            let w = weights |> List.map (fun (n, v, _) -> n, Array.map float v) |> Map.ofList
            let shape : LlamaReference.Shape =
                { Layers = 2; Heads = 4; KvHeads = 2; DModel = 8; DHead = 4; DMlp = 12; Vocab = 23; Eps = 1e-6; Theta = 1e6; Scaling = None
                  QkvBias = true; OutputBias = false; Tied = true }
            let last ids = LlamaReference.forward shape (fun n -> w[n]) ids |> Array.last
            let logitDiff = [ [| 1; 2; 3; 4 |], 3, 9; [| 4; 3; 2 |], 2, 7 ] |> List.averageBy (fun (ids, a, b) -> let l = last ids in l[a] - l[b])
            use doc = JsonDocument.Parse out
            Expect.floatClose { absolute = 1e-4; relative = 1e-4 } (doc.RootElement.GetProperty("full").GetDouble()) logitDiff "m(full) as the reference computes it"
            let mib = File.ReadAllText(Path.Combine(dir.File "out", "graph.mib.json"))
            Expect.stringContains mib "\"a1.h3->logits\"" "MIB names: query heads are nodes"
            Expect.stringContains mib "\"d_model\": 8" "the cfg's d_model"
        }
        test "discover --resume without a checkpoint exits 1 naming OUT.checkpoint" {
            use dir = new TempDir()
            writeCheckpoint (dir.File "model") tiny (randomHfWeights tiny 5) false
            File.WriteAllText(dir.File "pairs.jsonl", "{\"clean_ids\": [1, 2, 3], \"corrupted_ids\": [4, 5, 6], \"answer_id\": 7}")
            let code, _, err =
                runHost [ "discover"; "--model"; dir.File "model"; "--data"; dir.File "pairs.jsonl"; "--out"; dir.File "out"; "--steps"; "5"; "--resume" ]
            Expect.equal code 1 err
            Expect.stringContains err (dir.File "out.checkpoint") "names the folder"
        }
        test "evaluate --metric scores with the metric asked for, as an independent forward computes it; discover refuses one the data lacks a field for" {
            use dir = new TempDir()
            discoverTiny dir 1 |> ignore
            let w = randomHfWeights tiny 5 |> List.map (fun (n, v, _) -> n, Array.map float v) |> Map.ofList
            let shape : Gpt2Reference.Shape = { Layers = 2; Heads = 2; DModel = 8; DMlp = 32; Vocab = 23; Eps = 1e-5; AttnOnly = false }
            // discoverTiny's pairs: clean prompts and answers.
            let last ids = Gpt2Reference.forward shape (fun n -> w[n]) ids |> Array.last
            let prompts = [ [| 1; 2; 3; 4 |], 3; [| 4; 3; 2 |], 2 ]
            let answerLogit = prompts |> List.averageBy (fun (ids, a) -> (last ids)[a])
            let minusCe = prompts |> List.averageBy (fun (ids, a) -> let l = last ids in l[a] - log (Array.sumBy exp l))
            for name, recorded, expected in [ "answer-logit", "answer_logit", answerLogit; "minus-cross-entropy", "minus_cross_entropy", minusCe ] do
                let code, out, err =
                    runHost [ "evaluate"; "--model"; dir.File "model"; "--circuit"; Path.Combine(dir.File "out", "circuit.json"); "--data"; dir.File "pairs.jsonl"; "--metric"; name; "--json"; "--device"; "cpu" ]
                Expect.equal code 0 err
                use doc = JsonDocument.Parse out
                Expect.equal (doc.RootElement.GetProperty("metric").GetString()) recorded name
                Expect.floatClose { absolute = 1e-4; relative = 1e-4 } (doc.RootElement.GetProperty("full").GetDouble()) expected $"{name}: m(full) as the reference computes it"
            let code, _, err =
                runHost [ "discover"; "--model"; dir.File "model"; "--data"; dir.File "pairs.jsonl"; "--out"; dir.File "pd"; "--steps"; "1"; "--metric"; "prob-diff" ]
            Expect.equal code 1 "refused"
            for fragment in [ "pairs.jsonl"; "prob_diff"; "\"above\" and \"at_or_below\""; "pair 1" ] do Expect.stringContains err fragment "names the file, metric, field and pair"
            Expect.isFalse (Directory.Exists(dir.File "pd")) "nothing written"
            let code, _, err =
                runHost [ "discover"; "--model"; dir.File "model"; "--data"; dir.File "pairs.jsonl"; "--out"; dir.File "ml"; "--steps"; "1"; "--metric"; "minus-cross-entropy" ]
            Expect.equal code 0 err
            Expect.stringContains (File.ReadAllText(Path.Combine(dir.File "ml", "circuit.json"))) "\"minus_cross_entropy\"" "discover records the metric asked for"
        }
        test "discover and evaluate take --ablation mean, over the data's clean prompts or --mean-data's; evaluate warns when faithfulness means nothing" {
            use dir = new TempDir()
            writeCheckpoint (dir.File "model") tiny (randomHfWeights tiny 5) false
            // Clean and corrupted prompts alike: patching changes nothing, so m(full) = m(empty).
            let line (ids: string) answer = $"{{\"clean_ids\": [{ids}], \"corrupted_ids\": [{ids}], \"answer_id\": {answer}, \"wrong_id\": 9}}"
            File.WriteAllLines(dir.File "pairs.jsonl", [ line "1, 2, 3" 7; line "4, 5, 6, 7" 8 ])
            File.WriteAllLines(dir.File "reference.jsonl", [ line "10, 11" 3 ])
            let code, _, err =
                runHost [ "discover"; "--model"; dir.File "model"; "--data"; dir.File "pairs.jsonl"; "--out"; dir.File "out"; "--steps"; "5"; "--ablation"; "mean" ]
            Expect.equal code 0 err
            let evaluate extra =
                runHost ([ "evaluate"; "--model"; dir.File "model"; "--circuit"; Path.Combine(dir.File "out", "circuit.json"); "--data"; dir.File "pairs.jsonl" ] @ extra)
            let code, out, err = evaluate [ "--ablation"; "mean"; "--mean-data"; dir.File "reference.jsonl"; "--json" ]
            Expect.equal code 0 err
            use doc = JsonDocument.Parse out
            Expect.equal (doc.RootElement.GetProperty("warnings").GetArrayLength()) 0 "a mean differs from the clean run: no warning"
            let code, out, err = evaluate [ "--json" ]
            Expect.equal code 0 err
            use doc = JsonDocument.Parse out
            let warning = doc.RootElement.GetProperty("warnings").Item(0).GetString()
            Expect.stringContains (nonNull warning) "meaningless" "patching identical prompts: warned in the JSON"
            let code, _, err = evaluate []
            Expect.equal code 0 err
            Expect.stringContains err "warning: m(full)" "and on stderr"
        }
        test "compare runs every method into its folder and writes the table and one plot of all curves" {
            use dir = new TempDir()
            discoverTiny dir 1 |> ignore
            let out = dir.File "cmp"
            let code, stdout, err =
                runHost [ "compare"; "--model"; dir.File "model"; "--data"; dir.File "pairs.jsonl"; "--out"; out; "--steps"; "5"; "--ig-steps"; "2" ]
            Expect.equal code 0 err
            for m in [ "descent"; "eap"; "eap-ig"; "acdc" ] do
                Expect.isTrue (File.Exists(Path.Combine(out, m, "circuit.json"))) $"{m}'s circuit.json"
                Expect.stringContains stdout $"| {m} |" $"{m}'s table row"
            for f in [ "comparison.csv"; "comparison.md"; "curves.png"; "curves.svg" ] do
                Expect.isTrue (File.Exists(Path.Combine(out, f))) f
            let code, _, err = runHost [ "compare"; "--model"; dir.File "model"; "--data"; dir.File "pairs.jsonl"; "--out"; dir.File "bad"; "--methods"; "eap,ppo" ]
            Expect.equal code 2 "usage error"
            Expect.stringContains err "ppo" "names the bad method"
            Expect.isFalse (Directory.Exists(dir.File "bad")) "nothing written"
        }
        test "discover with a missing data file exits 1 naming it and writes no output folder" {
            use dir = new TempDir()
            writeCheckpoint (dir.File "model") tiny (randomHfWeights tiny 5) false
            let code, _, err = runHost [ "discover"; "--model"; dir.File "model"; "--data"; dir.File "absent.jsonl"; "--out"; dir.File "out" ]
            Expect.equal code 1 "exit code"
            Expect.stringContains err "absent.jsonl" "names the file"
            Expect.isFalse (Directory.Exists(dir.File "out")) "no output folder"
        }
        test "evaluate re-scores discover's circuit.json and graph.mib.json to the faithfulness discover wrote" {
            use dir = new TempDir()
            // Long enough that the circuit is neither empty nor full, so its faithfulness is not 0 or 1 by construction.
            let code, _, err = discoverTiny dir 150
            Expect.equal code 0 err
            let expected, edges = savedFigures (Path.Combine(dir.File "out", "circuit.json"))
            Expect.isTrue (edges > 0.0 && edges < float (Graph.edgeCount { Layers = 2; Heads = 2; HasMlp = true })) $"a partial circuit, got {edges} edges"
            for file in [ "circuit.json"; "graph.mib.json" ] do
                let code, out, err =
                    runHost [ "evaluate"; "--model"; dir.File "model"; "--circuit"; Path.Combine(dir.File "out", file); "--data"; dir.File "pairs.jsonl"; "--json" ]
                Expect.equal code 0 err
                use doc = JsonDocument.Parse out
                let root = doc.RootElement
                Expect.equal (root.GetProperty("metric").GetString()) "logit_diff" file
                Expect.equal (root.GetProperty("edges").GetDouble()) edges file
                Expect.floatClose { absolute = 1e-6; relative = 0.0 } (root.GetProperty("faithfulness").GetDouble()) expected file
        }
        test "evaluate says which format it read" {
            use dir = new TempDir()
            let code, _, err = discoverTiny dir 10
            Expect.equal code 0 err
            let run file = runHost [ "evaluate"; "--model"; dir.File "model"; "--circuit"; Path.Combine(dir.File "out", file); "--data"; dir.File "pairs.jsonl"; "--ablation"; "zero" ]
            let code, out, err = run "graph.mib.json"
            Expect.equal code 0 err
            Expect.stringContains out "MIB graph JSON" "MIB"
            let code, out, err = run "circuit.json"
            Expect.equal code 0 err
            Expect.stringContains out "PatchDescent circuit.json" "report"
        }
        test "evaluate with a folder for --circuit, or a file for --model, says which and what it wants" {
            use dir = new TempDir()
            let code, _, err = discoverTiny dir 1
            Expect.equal code 0 err
            let evaluate model circuit = runHost [ "evaluate"; "--model"; model; "--circuit"; circuit; "--data"; dir.File "pairs.jsonl" ]
            let code, _, err = evaluate (dir.File "model") (dir.File "out")
            Expect.equal code 1 "a folder for the circuit"
            let folder = dir.File "out"
            Expect.stringContains err $"{folder}: is a folder; --circuit takes" "names the folder and the flag"
            let code, _, err = evaluate (dir.File "pairs.jsonl") (Path.Combine(dir.File "out", "circuit.json"))
            Expect.equal code 1 "a file for the model"
            Expect.stringContains err "pairs.jsonl: is a file; a model is a Hugging Face folder" "says what a model is"
        }
        test "evaluate with a malformed circuit file exits 1 naming it" {
            use dir = new TempDir()
            writeCheckpoint (dir.File "model") tiny (randomHfWeights tiny 5) false
            File.WriteAllText(dir.File "pairs.jsonl", "{\"clean_ids\": [1, 2], \"corrupted_ids\": [3, 4], \"answer_id\": 5}")
            File.WriteAllText(dir.File "broken.json", "{\"edges\": [")
            let code, _, err = runHost [ "evaluate"; "--model"; dir.File "model"; "--circuit"; dir.File "broken.json"; "--data"; dir.File "pairs.jsonl" ]
            Expect.equal code 1 "exit code"
            Expect.stringContains err "broken.json" "names the file"
        }
        test "discover --seeds runs each seed into its folder and writes every seed pair's overlap and the mean per level" {
            use dir = new TempDir()
            writeCheckpoint (dir.File "model") tiny (randomHfWeights tiny 5) false
            File.WriteAllText(dir.File "pairs.jsonl", "{\"clean_ids\": [1, 2, 3], \"corrupted_ids\": [4, 5, 6], \"answer_id\": 7}")
            let code, _, err =
                runHost [ "discover"; "--model"; dir.File "model"; "--data"; dir.File "pairs.jsonl"; "--out"; dir.File "out"; "--steps"; "5"; "--seeds"; "1,2,3" ]
            Expect.equal code 0 err
            for seed in 1 .. 3 do
                Expect.isTrue (File.Exists(Path.Combine(dir.File "out", $"seed-{seed}", "circuit.json"))) $"seed {seed}"
            let lines = File.ReadAllLines(Path.Combine(dir.File "out", "stability.csv"))
            Expect.equal lines[0] "level,seed_a,seed_b,jaccard" "header"
            // MIB's ten levels, each with three seed pairs and a mean.
            Expect.equal lines.Length (1 + 10 * 4) "rows"
            Expect.equal [ for l in lines[1..4] -> l.Split(',')[1..2] |> String.concat "," ] [ "1,2"; "1,3"; "2,3"; "mean,mean" ] "seed columns"
        }
        test "toy train-induction writes the model, its task.json and loss curve, and prints the mechanism check" {
            use dir = new TempDir()
            let out = dir.File "induction"
            let code, stdout, err = runHost [ "toy"; "train-induction"; "--out"; out; "--steps"; "3"; "--batch-size"; "2"; "--seed"; "4" ]
            Expect.equal code 0 err
            for file in [ "config.json"; "model.safetensors"; "task.json"; "loss.csv" ] do
                Expect.isTrue (File.Exists(Path.Combine(out, file))) file
            Expect.equal (File.ReadAllLines(Path.Combine(out, "loss.csv"))).Length 2 "header and the last step (logs every 50)"
            Expect.stringContains stdout "mechanism check" "prints the check"
            use model = Checkpoint.Load out
            Expect.equal model.Config PatchDescent.Toys.InductionRecipe.Default.Config "the recipe's shape"
            let code, stdout, _ = runHost [ "toy"; "check"; "--model"; out ]
            Expect.equal code 1 "three steps of training do not pass the check"
            Expect.stringContains stdout "mechanism check: FAIL" "says so"
        }
        test "toy check on a folder without task.json exits 1 naming the file" {
            use dir = new TempDir()
            writeCheckpoint dir.Path tiny (randomHfWeights tiny 5) false
            let code, _, err = runHost [ "toy"; "check"; "--model"; dir.Path ]
            Expect.equal code 1 "exit code"
            Expect.stringContains err "task.json" "names the file"
        }
        test "an unknown option exits 2 naming it" {
            let code, _, err = runHost [ "info"; "--mdl"; "x" ]
            Expect.equal code 2 "usage error"
            Expect.stringContains err "--mdl" "names the option"
        }
        test "the full GPT-2 path: discover --task ioi on a random checkpoint with the real vocabulary writes every file, finite losses, full circuit 1 and empty 0" {
            use dir = new TempDir()
            // The real 50,257-token vocabulary, so the generated IOI prompts are GPT-2's own token ids.
            let shape = Gpt2Config(2, 2, 16, 64, Tokenizer.VocabSize, 1e-5)
            writeCheckpoint (dir.File "model") shape (randomHfWeights shape 7) false
            let out = dir.File "out"
            let code, stdout, err = runHost [ "discover"; "--model"; dir.File "model"; "--task"; "ioi"; "--pairs"; "8"; "--batch-size"; "8"; "--steps"; "4"; "--out"; out ]
            Expect.equal code 0 err
            Expect.stringContains stdout "faithfulness" "prints the figures"
            for f in [ "circuit.json"; "graph.mib.json"; "circuit.dot"; "circuit.svg"; "circuit.png"; "report.html"; "curve.csv"; "curve.png"; "curve.svg"; "run.log" ] do
                Expect.isTrue (File.Exists(Path.Combine(out, f))) f
            let steps = File.ReadAllLines(Path.Combine(out, "run.log")) |> Array.filter (fun l -> l.StartsWith "step ")
            Expect.isNonEmpty steps "step lines"
            for line in steps do
                let numbers = line.Split("  ") |> Array.map (fun part -> part.Split(' ') |> Array.last |> float)
                Expect.isTrue (numbers |> Array.forall System.Double.IsFinite) $"finite: {line}"
            use report = JsonDocument.Parse(File.ReadAllText(Path.Combine(out, "circuit.json")))
            Expect.stringContains (report.RootElement.ToString()) "logit_diff" "IOI's metric"
            let curve = File.ReadAllLines(Path.Combine(out, "curve.csv"))
            Expect.equal (curve |> Array.last |> fun l -> l.Split(',')[4]) "1" "the curve's level 1 keeps every edge: faithfulness 1"
            // The full and empty circuits, scored again on the same pairs through the host.
            let graph = { Layers = 2; Heads = 2; HasMlp = true }
            for name, circuit, expected in [ "full", Circuit.full graph, 1.0; "empty", Circuit.empty graph, 0.0 ] do
                let file = dir.File $"{name}.mib.json"
                File.WriteAllText(file, CircuitJson.exportMib 8 circuit None)
                let code, stdout, err =
                    runHost [ "evaluate"; "--model"; dir.File "model"; "--circuit"; file; "--task"; "ioi"; "--pairs"; "8"; "--split"; "train"; "--json" ]
                Expect.equal code 0 err
                use doc = JsonDocument.Parse stdout
                let root = doc.RootElement
                Expect.equal (root.GetProperty("metric").GetString()) "logit_diff" name
                Expect.isTrue (System.Double.IsFinite(root.GetProperty("full").GetDouble()) && root.GetProperty("full").GetDouble() <> root.GetProperty("empty").GetDouble()) $"{name}: full and empty differ"
                Expect.floatClose { absolute = 1e-6; relative = 0.0 } (root.GetProperty("faithfulness").GetDouble()) expected name
        }
        test "data greater-than writes pairs that discover --data scores with the per-pair prob_diff" {
            use dir = new TempDir()
            let shape = Gpt2Config(1, 2, 16, 32, Tokenizer.VocabSize, 1e-5)
            writeCheckpoint (dir.File "model") shape (randomHfWeights shape 8) false
            let code, stdout, err = runHost [ "data"; "greater-than"; "--pairs"; "6"; "--seed"; "2"; "--out"; dir.File "gt.jsonl" ]
            Expect.equal code 0 err
            Expect.stringContains stdout "prob_diff" "names the metric"
            Expect.stringContains (File.ReadLines(dir.File "gt.jsonl") |> Seq.head) "\"clean\": \"The " "the text beside the ids"
            Expect.equal (Dataset.load (dir.File "gt.jsonl") Tokenizer.VocabSize 1024 (lazy Tokenizer.Gpt2) |> Result.map (fun d -> d.Pairs))
                (Ok (Tasks.GreaterThan.generate Tokenizer.Gpt2 { Tasks.GreaterThan.defaults with Size = 6; Seed = 2 }).Pairs) "the generator's pairs"
            let code, _, err = runHost [ "discover"; "--model"; dir.File "model"; "--data"; dir.File "gt.jsonl"; "--steps"; "2"; "--out"; dir.File "out" ]
            Expect.equal code 0 err
            use report = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.File "out", "circuit.json")))
            Expect.stringContains (report.RootElement.ToString()) "\"prob_diff\"" "greater-than's metric"
        }
        test "no verb writes into its input's folder or an unmarked folder: each is refused before any work and left byte-identical" {
            use dir = new TempDir()
            discoverTiny dir 1 |> ignore
            let model, data = dir.File "model", dir.File "pairs.jsonl"
            let mine = dir.File "mine"
            Directory.CreateDirectory(Path.Combine(mine, "mydata")) |> ignore
            File.WriteAllText(Path.Combine(mine, "notes.txt"), "my notes")
            let before = OutputFolderTests.snapshot dir.Path
            let refused (args: string list) (fragments: string list) =
                let code, out, err = runHost args
                Expect.notEqual code 0 $"%A{args} exits non-zero"
                Expect.isFalse (out.Contains "step ") $"%A{args}: refused before any work"
                for f in fragments do Expect.stringContains err f $"%A{args} says why"
            let discover out = [ "discover"; "--model"; model; "--data"; data; "--steps"; "2"; "--out"; out ]
            refused (discover model) [ "--out"; model; "is the --model input" ]
            refused (discover model @ [ "--force" ]) [ "is the --model input" ]
            refused (discover dir.Path) [ "holds the --model input" ]
            refused (discover mine) [ mine; "not written by patchdescent" ]
            refused [ "compare"; "--model"; model; "--data"; data; "--steps"; "2"; "--out"; model ] [ "is the --model input" ]
            refused [ "random-model"; "--out"; model ] [ model; "not written by patchdescent" ]
            refused [ "random-model"; "--out"; dir.File "out" ] [ "holds a `discover` run"; "--force" ]
            refused [ "toy"; "compile-induction"; "--out"; mine ] [ "not written by patchdescent" ]
            refused [ "discover"; "--model"; model; "--data"; data; "--out"; dir.File "new"; "--ablation"; "mean"; "--mean-data"; Path.Combine(mine, "notes.txt") ] [ "not JSON" ]
            Expect.equal (OutputFolderTests.snapshot dir.Path) before "every file as it was"
            Expect.isFalse (Directory.Exists(dir.File "new")) "no folder for a failed run"
        }
        test "a rerun replaces, it does not mix: compare with fewer methods, --seeds 1,3 after 1,2, compare into a discover folder" {
            use dir = new TempDir()
            discoverTiny dir 1 |> ignore
            let model, data = dir.File "model", dir.File "pairs.jsonl"
            let compare (methods: string) extra =
                runHost ([ "compare"; "--model"; model; "--data"; data; "--steps"; "2"; "--methods"; methods; "--out"; dir.File "cmp" ] @ extra)
            let code, _, err = compare "descent,eap" []
            Expect.equal code 0 err
            File.WriteAllText(Path.Combine(dir.File "cmp", "notes.txt"), "mine")
            let code, _, err = compare "eap" []
            Expect.equal code 0 err
            Expect.isFalse (Directory.Exists(Path.Combine(dir.File "cmp", "descent"))) "no stale method folder"
            Expect.equal (File.ReadAllText(Path.Combine(dir.File "cmp", "notes.txt"))) "mine" "the user's file kept"
            let seeds s = runHost [ "discover"; "--model"; model; "--data"; data; "--steps"; "2"; "--seeds"; s; "--out"; dir.File "seeds" ]
            let code, _, err = seeds "1,2"
            Expect.equal code 0 err
            let code, _, err = seeds "1,3"
            Expect.equal code 0 err
            Expect.equal (Directory.GetDirectories(dir.File "seeds") |> Array.map Path.GetFileName |> Array.sort) [| "seed-1"; "seed-3" |] "no stale seed folder"
            let intoDiscover extra = runHost ([ "compare"; "--model"; model; "--data"; data; "--steps"; "2"; "--methods"; "eap"; "--out"; dir.File "out" ] @ extra)
            let code, _, err = intoDiscover []
            Expect.equal code 2 "another verb's folder needs --force"
            Expect.stringContains err "holds a `discover` run" "says whose"
            let code, _, err = intoDiscover [ "--force" ]
            Expect.equal code 0 err
            Expect.isFalse (File.Exists(Path.Combine(dir.File "out", "circuit.json"))) "no stale circuit.json beside the table"
            Expect.isTrue (File.Exists(Path.Combine(dir.File "out", "comparison.csv"))) "the table"
        }
        test "a failing run leaves nothing behind: no OUT folder, no temporary folder" {
            use dir = new TempDir()
            discoverTiny dir 1 |> ignore
            File.WriteAllText(dir.File "bad.jsonl", "{\"clean_ids\": [1, 2], \"corrupted_ids\": [3], \"answer_id\": 5}")
            let before = Directory.GetFileSystemEntries dir.Path |> Array.sort
            for args in [ [ "compare"; "--methods"; "eap"; "--out"; dir.File "x/cmp" ]; [ "discover"; "--seeds"; "1,2"; "--out"; dir.File "x/seeds" ]; [ "discover"; "--out"; dir.File "x/one" ] ] do
                let code, _, err = runHost (args @ [ "--model"; dir.File "model"; "--data"; dir.File "bad.jsonl"; "--steps"; "2" ])
                Expect.equal code 1 $"%A{args} fails"
                Expect.stringContains err "bad.jsonl:1:" "names the file and line"
                Expect.equal (Directory.GetFileSystemEntries dir.Path |> Array.sort) before $"%A{args} left nothing, not even the parent x"
        }
        test "--out is checked before any work: a file, an unwritable place, an empty path, a missing folder for data" {
            use dir = new TempDir()
            discoverTiny dir 1 |> ignore
            let model, data = dir.File "model", dir.File "pairs.jsonl"
            let check (args: string list) (fragments: string list) =
                let code, out, err = runHost args
                Expect.equal code 2 $"%A{args}"
                Expect.isFalse (out.Contains "wrote") "nothing written"
                for f in fragments do Expect.stringContains err f $"%A{args} names the flag, the path and why"
                Expect.isFalse (err.Contains ".tmp") "no temporary path the user never gave"
            check [ "discover"; "--model"; model; "--data"; data; "--out"; data ] [ "--out"; data; "is the --data input" ]
            check [ "discover"; "--model"; model; "--data"; data; "--out"; Path.Combine(model, "config.json") ] [ "is a file" ]
            check [ "discover"; "--model"; model; "--data"; data; "--out"; "/proc/patchdescent-out" ] [ "--out /proc/patchdescent-out"; "cannot be written" ]
            check [ "discover"; "--model"; model; "--data"; data; "--out"; "" ] [ "--out"; "is empty" ]
            check [ "data"; "ioi"; "--out"; dir.File "missing/dir/x.jsonl" ] [ "--out"; dir.File "missing/dir/x.jsonl"; "does not exist" ]
            check [ "data"; "ioi"; "--out"; dir.Path ] [ "is a folder" ]
            Expect.isFalse (Directory.Exists(dir.File "missing")) "no folder made"
        }
        test "generate refuses a prompt at or past the positions, and more tokens than fit" {
            use dir = new TempDir()
            writeCheckpoint dir.Path tiny (randomHfWeights tiny 4) true
            let ids n = String.concat "," [ for i in 1 .. n -> string (i % 20) ]
            let code, _, err = runHost [ "generate"; "--model"; dir.Path; "--prompt-ids"; ids 16; "--tokens"; "1" ]
            Expect.equal code 2 "at the positions"
            Expect.stringContains err "the prompt is 16 tokens, and the model has 16 positions" "says so"
            let code, _, err = runHost [ "generate"; "--model"; dir.Path; "--prompt-ids"; ids 10; "--tokens"; "9" ]
            Expect.equal code 2 "past the positions"
            Expect.stringContains err "--tokens can be at most 6, not 9" "the most that fit"
        }
        test "info names the tensors that hold NaN or infinities and exits 1; evaluate refuses such a model instead of printing nulls" {
            use dir = new TempDir()
            discoverTiny dir 1 |> ignore
            let broken = dir.File "broken"
            let weights = randomHfWeights tiny 5 |> List.map (fun (n, v, s) -> n, (if n = "h.1.mlp.c_fc.weight" then Array.map (fun _ -> nanf) v else v), s)
            writeCheckpoint broken tiny weights false
            let code, out, err = runHost [ "info"; "--model"; broken ]
            Expect.equal code 1 "exit code"
            Expect.stringContains out "non-finite     h.1.mlp.c_fc.weight (256)" "names the tensor and the count"
            Expect.stringContains err "h.1.mlp.c_fc.weight" "says so on stderr"
            let code, out, _ = runHost [ "info"; "--model"; dir.File "model" ]
            Expect.equal code 0 "a sound model"
            Expect.stringContains out "non-finite     none" "says none"
            let code, _, err = runHost [ "evaluate"; "--model"; broken; "--circuit"; Path.Combine(dir.File "out", "circuit.json"); "--data"; dir.File "pairs.jsonl" ]
            Expect.equal code 1 "refused"
            Expect.stringContains err "the full model's metric (logit_diff) is NaN" "says why"
        }
        test "evaluate warns when the circuit records another model, and scores an MIB graph that has only edges" {
            use dir = new TempDir()
            let code, _, err = discoverTiny dir 5
            Expect.equal code 0 err
            let copy = dir.File "copy"
            Directory.CreateDirectory copy |> ignore
            for f in [ "config.json"; "model.safetensors" ] do File.Copy(Path.Combine(dir.File "model", f), Path.Combine(copy, f))
            let evaluate circuit = runHost [ "evaluate"; "--model"; copy; "--circuit"; circuit; "--data"; dir.File "pairs.jsonl"; "--json" ]
            let code, out, err = evaluate (Path.Combine(dir.File "out", "circuit.json"))
            Expect.equal code 0 err
            let original = dir.File "model"
            use result = JsonDocument.Parse out
            let warnings = [ for w in result.RootElement.GetProperty("warnings").EnumerateArray() -> w.GetString() ]
            Expect.exists warnings (fun w -> w.Contains $"records the model {original}, but it is scored on --model {copy}") "names both"
            use doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.File "out", "graph.mib.json")))
            let edgesText = doc.RootElement.GetProperty("edges").GetRawText()
            File.WriteAllText(dir.File "edges.json", $"{{\"edges\": {edgesText}}}")
            let code, fromEdges, err = evaluate (dir.File "edges.json")
            Expect.equal code 0 err
            let _, full, _ = evaluate (Path.Combine(dir.File "out", "graph.mib.json"))
            Expect.equal fromEdges full "the same figures as the whole graph file"
        }
    ]
