// The discovery-quality benchmark of issue 16: every method on every shipped model and on three fresh seeds of the
// MLP recipe, at MIB's edge budgets, with descent at prune's edge count. Run through `dotnet fsi build.fsx quality`,
// which builds first. Fresh models are trained once into out/quality/models (outside git) and reused.
// `-- --dtype bfloat16` computes every run in bfloat16 (issue 19) into out/quality-bfloat16, and re-scores each
// method's circuit in float32, the figure a bfloat16 default would have to keep.
open System
open System.Diagnostics
open System.Globalization
open System.IO

let root = Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, ".."))
let host = Path.Combine(root, "src/Host/bin/Release/net10.0/patchdescent.dll")
let dtype =
    match fsi.CommandLineArgs |> Array.skip 1 |> List.ofArray with
    | [] -> "float32"
    | [ "--dtype"; ("float32" | "bfloat16") as d ] -> d
    | other -> failwithf "quality.fsx: unknown arguments %A; the only one is --dtype float32|bfloat16" other
/// The float32 table's folder, which also holds the fresh seeds every dtype's table reads.
let float32Out = Path.Combine(root, "out", "quality")
let out = if dtype = "float32" then float32Out else Path.Combine(root, "out", $"quality-{dtype}")
let methods = [ "descent"; "eap"; "eap-ig"; "acdc"; "prune" ]
let baselines = [ "eap"; "eap-ig"; "acdc" ]
let budgets = [ 0.05; 0.1; 0.2; 0.5; 1.0 ]
let inv = CultureInfo.InvariantCulture

/// Runs the host with arguments and returns its output; stops the script on failure.
let output (arguments: string list) =
    let info = ProcessStartInfo("dotnet", host :: arguments, WorkingDirectory = root, UseShellExecute = false, RedirectStandardOutput = true)
    use p = Process.Start info
    let text = p.StandardOutput.ReadToEnd()
    p.WaitForExit()
    if p.ExitCode <> 0 then
        eprintfn "quality.fsx: 'patchdescent %s' exited with %d:\n%s" (String.Join(" ", arguments)) p.ExitCode text
        exit p.ExitCode
    text

/// Runs the host with arguments; stops the script on failure.
let run (arguments: string list) = output arguments |> ignore

/// The fresh seeds: the recipe of models/induction-trigger-2l4h (MODEL.md) with another seed, 2 or 3 layers.
let fresh = [ "mlp-2l-seed2", 2, 2; "mlp-2l-seed3", 2, 3; "mlp-3l-seed2", 3, 2 ]
let freshDir name = Path.Combine(float32Out, "models", name)
for name, layers, seed in fresh do
    if not (File.Exists(Path.Combine(freshDir name, "model.safetensors"))) then
        let clock = Stopwatch.StartNew()
        run [ "toy"; "train-induction"; "--out"; freshDir name; "--seed"; string seed; "--mlp"; "--layers"; string layers
              "--heads"; "4"; "--d-model"; "64"; "--vocab"; "64"; "--triggers"; "6"; "--seq-len"; "64"; "--steps"; "5000"
              "--batch-size"; "64"; "--learning-rate"; "0.003"; "--head-sparsity"; "0"; "--force" ]
        printfn "quality.fsx: trained %s in %.0f s" name clock.Elapsed.TotalSeconds
    else printfn "quality.fsx: %s is cached in %s" name (freshDir name)

let models =
    [ for m in [ "induction-trigger-attn-2l4h"; "induction-trigger-2l4h"; "induction-compiled" ] -> m, Path.Combine(root, "models", m) ]
    @ [ for name, _, _ in fresh -> name, freshDir name ]

/// curve.csv's faithfulness and edge count at each level.
let curve (dir: string) =
    File.ReadAllLines(Path.Combine(dir, "curve.csv"))
    |> Array.skip 1
    |> Array.map (fun line ->
        let f = line.Split ','
        Double.Parse(f[0], inv), (Double.Parse(f[4], inv), int f[2]))
    |> Map.ofArray

/// comparison.csv's row of each method: edges, faithfulness, cpr, cmd, seconds.
let comparison (dir: string) =
    File.ReadAllLines(Path.Combine(dir, "comparison.csv"))
    |> Array.skip 1
    |> Array.map (fun line ->
        let f = line.Split ','
        f[0], (int f[2], Double.Parse(f[3], inv), Double.Parse(f[5], inv), Double.Parse(f[6], inv), Double.Parse(f[7], inv)))
    |> Map.ofArray

/// circuit.json's figure of a name.
let figure (dir: string) (name: string) =
    use doc = Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "circuit.json")))
    doc.RootElement.GetProperty("metrics").GetProperty(name).GetDouble()

let lines = Collections.Generic.List<string>()
let say (line: string) =
    printfn "%s" line
    lines.Add line

/// The faithfulness of a circuit.json re-scored in float32 on the run's pairs.
let inFloat32 (model: string) (circuit: string) =
    use doc = Text.Json.JsonDocument.Parse(output [ "evaluate"; "--model"; model; "--circuit"; circuit; "--task"; "induction"; "--json" ])
    doc.RootElement.GetProperty("faithfulness").GetDouble()

let rescored = dtype <> "float32"
let extraHeader, extraRule = if rescored then " float32 re-score |", "---:|" else "", ""
say $"| model | method | edges | faithfulness |{extraHeader} CPR | CMD | f at 5%% | 10%% | 20%% | 50%% | 100%% | wall s |"
say $"|---|---|---:|---:|{extraRule}---:|---:|---:|---:|---:|---:|---:|---:|"
let verdicts = Collections.Generic.List<string>()
for name, dir in models do
    let runDir = Path.Combine(out, "runs", name)
    run [ "compare"; "--model"; dir; "--task"; "induction"; "--methods"; String.Join(",", methods); "--out"; runDir; "--dtype"; dtype; "--force" ]
    let rows = comparison runDir
    let curves = Map.ofList [ for m in methods -> m, curve (Path.Combine(runDir, m)) ]
    for m in methods do
        let edges, f, cpr, cmd, seconds = rows[m]
        let at level = let f, e = curves[m].[level] in $"{f:F3} ({e})"
        let extra = if rescored then (let g = inFloat32 dir (Path.Combine(runDir, m, "circuit.json")) in $" {g:F3} |") else ""
        say $"| {name} | {m} | {edges} | {f:F3} |{extra} {cpr:F3} | {cmd:F3} | {at 0.05} | {at 0.1} | {at 0.2} | {at 0.5} | {at 1.0} | {seconds:F1} |"
    // Per budget: descent against the best baseline, both as raw faithfulness and as closeness to 1; differences
    // within 0.001 are the figures' own rounding.
    for level in budgets do
        let at m = fst curves[m].[level]
        let d = at "descent"
        let best = baselines |> List.map at |> List.max
        let closest = baselines |> List.map (fun b -> abs (1.0 - at b)) |> List.min
        if d < best - 1e-3 then verdicts.Add $"{name} at {level * 100.0:F0}%%: descent's faithfulness {d:F3} is below the best baseline's {best:F3}"
        if abs (1.0 - d) > closest + 1e-3 then verdicts.Add $"{name} at {level * 100.0:F0}%%: descent's |1 - f| {abs (1.0 - d):F3} is above the closest baseline's {closest:F3}"
    let _, _, dCpr, dCmd, _ = rows["descent"]
    for b in baselines do
        let _, _, cpr, cmd, _ = rows[b]
        if dCpr < cpr - 1e-3 then verdicts.Add $"{name}: descent's CPR {dCpr:F3} is below {b}'s {cpr:F3}"
        if dCmd > cmd + 1e-3 then verdicts.Add $"{name}: descent's CMD {dCmd:F3} is above {b}'s {cmd:F3}"
    // Descent asked for prune's edge count.
    let k, pruneF, _, _, _ = rows["prune"]
    let targetDir = Path.Combine(out, "runs", name + "-target")
    run [ "discover"; "--model"; dir; "--task"; "induction"; "--target-edges"; string k; "--out"; targetDir; "--dtype"; dtype; "--force" ]
    let edges, f = int (figure targetDir "edges"), figure targetDir "faithfulness"
    let ratio = f / pruneF
    let verdict = if edges <= k && ratio >= 0.95 then "meets" else "misses"
    let again = if rescored then (let g = inFloat32 dir (Path.Combine(targetDir, "circuit.json")) in $" (re-scored in float32: {g:F3})") else ""
    verdicts.Add $"{name}: --target-edges {k} (prune's count) keeps {edges} edges at faithfulness {f:F3}{again}, {ratio:F3} x prune's {pruneF:F3}: {verdict} the target (at most {k}, at least 0.95 x)"

say ""
for v in verdicts do say $"- {v}"
File.WriteAllLines(Path.Combine(out, "quality.md"), lines)
printfn "quality.fsx: the table is in %s" (Path.Combine(out, "quality.md"))
