module PatchDescent.Tests.ReportPageTests

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open System.Text.RegularExpressions
open Expecto
open PatchDescent.Model
open PatchDescent.Search
open PatchDescent.Tests.Fixtures

/// CompareTests' tiny checkpoint and six pairs with wrong answers; the experiment writes `dir/cmp`.
let private setup = CompareTests.setup

/// The `data-edge` names of the page's edge paths, in order.
let private drawnEdges (html: string) =
    [ for m in Regex.Matches(html, "<path class=\"edge[^\"]*\" data-edge=\"([^\"]+)\"") -> m.Groups[1].Value.Replace("&lt;", "<").Replace("&gt;", ">") ]

/// The circuit's edge names, from the graph.
let private names (c: Circuit) = [ for id in c.Edges -> Edge.name (Graph.edge c.Shape id) ]

/// The node names an edge name joins: the text before `->`, and after it up to a port.
let private ends (edge: string) =
    let i = edge.IndexOf "->"
    let receiver = edge.Substring(i + 2)
    edge.Substring(0, i), (match receiver.IndexOf '<' with -1 -> receiver | j -> receiver.Substring(0, j))

/// Chromium on PATH, if any.
let private chromium () =
    let dirs = (Environment.GetEnvironmentVariable "PATH" |> Option.ofObj |> Option.defaultValue "").Split(':')
    [ "chromium"; "chromium-browser"; "google-chrome" ]
    |> List.tryPick (fun exe -> dirs |> Array.tryPick (fun d -> let f = Path.Combine(d, exe) in if File.Exists f then Some f else None))

/// Runs headless Chromium on a page with these extra arguments and returns its standard output.
let private browse (exe: string) (profile: string) (args: string list) (url: string) =
    let info = ProcessStartInfo(exe, [ "--headless"; "--no-sandbox"; "--disable-gpu"; "--hide-scrollbars"; $"--user-data-dir={profile}" ] @ args @ [ url ],
                                UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true)
    use p = Process.Start info
    let stdout = p.StandardOutput.ReadToEndAsync()
    let stderr = p.StandardError.ReadToEndAsync()
    if not (p.WaitForExit 120_000) then
        p.Kill true
        failtest $"{exe} did not finish within 120 s on {url}"
    Expect.equal p.ExitCode 0 $"{exe} exits 0; its error output: {stderr.Result}"
    stdout.Result

/// Skips, saying why, where no Chromium can be had: the browser checks never pass without a browser.
let private requireChromium () =
    match chromium () with
    | Some exe -> exe
    | None ->
        let why = "no chromium, chromium-browser or google-chrome on PATH (Debian: apt-get install chromium; .ci/run installs it); the report's browser test did not run"
        eprintfn "ReportPage: skipped: %s" why
        skiptest why

/// A stroke colour as RGB.
let private rgb (hex: string) = Convert.ToInt32(hex.Substring(1, 2), 16), Convert.ToInt32(hex.Substring(3, 2), 16), Convert.ToInt32(hex.Substring(5, 2), 16)

/// The .dot's palette, as the issue gives it: q blue, k green, v red, MLP and logits inputs grey.
let private colourOf (edge: string) =
    if edge.EndsWith "<q>" then "#1f77b4" elif edge.EndsWith "<k>" then "#2ca02c" elif edge.EndsWith "<v>" then "#d62728" else "#7f7f7f"

/// Loads the page in Chromium with `#select=NODE`: the DOM must show the script wired every diagram, drawn
/// `expected` edges in each (in order), and lit exactly the edges that touch NODE; screenshots with and without the
/// selection must not be blank, and the selection must show the node's widest edge in its port colour.
let private checkInBrowser (exe: string) (dir: TempDir) (page: string) (expected: Circuit list) (scores: float[] list) =
    let first = expected.Head
    let widest = first.Edges |> Seq.maxBy (fun id -> abs scores.Head[id], -id) |> fun id -> Edge.name (Graph.edge first.Shape id)
    let node = fst (ends widest)
    let url = Uri(page).AbsoluteUri + "#select=" + Uri.EscapeDataString node
    let dom = browse exe (dir.File "profile") [ "--dump-dom" ] url
    Expect.stringContains dom "data-ready=\"true\"" "the page's script ran to its end"
    let figures = Regex.Split(dom, "<figure class=\"diagram\"") |> Array.skip 1
    Expect.equal figures.Length expected.Length "one diagram per circuit"
    for figure, circuit in Seq.zip figures expected do
        let drawn = drawnEdges figure
        Expect.equal (List.sort drawn) (List.sort (names circuit)) "the drawn edges are the circuit's, each once"
        Expect.stringContains figure $"data-drawn=\"{drawn.Length}\"" "the script counted the same edges"
        let lit = [ for m in Regex.Matches(figure, "<path class=\"edge lit\" data-edge=\"([^\"]+)\"") -> m.Groups[1].Value.Replace("&lt;", "<").Replace("&gt;", ">") ]
        let touching = [ for e in names circuit do let s, r = ends e in if s = node || r = node then e ]
        Expect.equal (List.sort lit) (List.sort touching) $"the edges lit for {node} are those into or out of it"
        let dim = Regex.Matches(figure, "<path class=\"edge dim\"").Count
        Expect.equal dim (drawn.Length - touching.Length) "every other edge is dimmed"
    let r, g, b = rgb (colourOf widest)
    let near (c: SkiaSharp.SKColor) = abs (int c.Red - r) <= 8 && abs (int c.Green - g) <= 8 && abs (int c.Blue - b) <= 8
    // Pixels of the lit edge's exact colour, and the share of the window that is not white, every other pixel.
    let screenshot (address: string) =
        let shot = dir.File "shot.png"
        browse exe (dir.File "profile") [ $"--screenshot={shot}"; "--window-size=1280,1800" ] address |> ignore
        use bitmap = SkiaSharp.SKBitmap.Decode shot
        Expect.equal (bitmap.Width, bitmap.Height) (1280, 1800) "the window's size"
        let pixels = [ for x in 0 .. 2 .. bitmap.Width - 1 do for y in 0 .. 2 .. bitmap.Height - 1 -> bitmap.GetPixel(x, y) ]
        let inked = pixels |> List.filter (fun c -> int c.Red + int c.Green + int c.Blue < 600) |> List.length
        pixels |> List.filter near |> List.length, float inked / float pixels.Length
    let plainExact, plainInk = screenshot (Uri(page).AbsoluteUri)
    let litExact, litInk = screenshot url
    Expect.isGreaterThan plainInk 0.01 "more than 1 % of the screenshot is not white"
    Expect.isGreaterThan litInk 0.01 "also with a node selected"
    // Unselected edges are drawn at opacity 0.85 and the legend's swatches never change, so only the lit edge,
    // at opacity 1, adds pixels of its exact colour.
    Expect.isGreaterThan (litExact - plainExact) 20 $"the lit edge {widest} shows in its colour {colourOf widest}: {litExact} such pixels lit, {plainExact} not"

/// What the page must not hold to make no network request: no external resource, no address but the SVG and
/// XLink namespaces (names, never fetched).
let private selfContained (html: string) =
    for pattern in [ "<link"; " src="; "@import"; "<iframe"; "fetch("; "XMLHttpRequest" ] do
        Expect.isFalse (html.Contains pattern) $"no {pattern}"
    Expect.isEmpty [ for m in Regex.Matches(html, @"url\(\s*['""]?([^#'""\s)][^)]*)\)") -> m.Value ] "no url() but a reference within the page (url(#id))"
    let addresses = [ for m in Regex.Matches(html, "https?://[^\"'\\s<>)]+") -> m.Value ] |> List.distinct
    Expect.isEmpty (addresses |> List.except [ "http://www.w3.org/2000/svg"; "http://www.w3.org/1999/xlink" ]) "no address but the SVG namespaces"

/// A figure of circuit.json, read from the file.
let private saved (dir: string) (name: string) =
    use doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "circuit.json")))
    doc.RootElement.GetProperty("metrics").GetProperty(name).GetDouble()

[<Tests>]
let tests =
    testSequenced <| testList "ReportPage" [
        test "a run's report.html is self-contained and shows the circuit, circuit.json's figures and settings, and the experiment" {
            use dir = new TempDir()
            let e = setup dir
            use model = Checkpoint.Load e.ModelDir
            let r = Discovery.runOn model e ignore
            let html = File.ReadAllText(Path.Combine(e.OutDir, "report.html"))
            selfContained html
            Expect.equal (List.sort (drawnEdges html)) (List.sort (names r.Circuit)) "every circuit edge drawn once, no other"
            for name, label in [ "m_circuit", "m(C)"; "m_full", "m(full)"; "m_empty", "m(empty)"; "faithfulness", "faithfulness"; "kl", "KL(full || C), nats"; "cpr", "CPR"; "cmd", "CMD" ] do
                let value = (saved e.OutDir name).ToString("F4", Globalization.CultureInfo.InvariantCulture)
                Expect.stringContains html $"<tr><td>{ReportPage.escape label}</td><td>{value}</td></tr>" $"{label} as circuit.json has it"
            use doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(e.OutDir, "circuit.json")))
            for p in doc.RootElement.GetProperty("hyperparameters").EnumerateObject() do
                Expect.stringContains html $"<tr><td>{ReportPage.escape p.Name}</td>" $"the setting {p.Name}"
            Expect.stringContains html "RefineTrials = " "the experiment value, every field"
            Expect.stringContains html "(the first 3 of 6 pairs in memory are shown)" "in-memory pairs summarised"
            Expect.stringContains html "<figure class=\"curve\">\n<svg" "the curve inline"
            for row in File.ReadAllLines(Path.Combine(e.OutDir, "curve.csv")) |> Array.skip 1 do
                Expect.stringContains html $"<tr><td>{row.Split(',')[0]}</td><td>{row.Split(',')[1]}</td><td>{row.Split(',')[2]}</td>" "a row per curve level"
        }
        test "warnings and table cells are escaped; no warnings says so" {
            Expect.equal (ReportPage.warnings [ "m(full) < m(empty) & \"x\"" ]) "<ul class=\"warnings\">\n<li>m(full) &lt; m(empty) &amp; &quot;x&quot;</li>\n</ul>" "escaped"
            Expect.equal (ReportPage.warnings []) "<p>No warnings.</p>" "none"
            Expect.equal (ReportPage.table [ "a<b" ] [ [ "1&2" ] ]) "<table>\n<tr><th>a&lt;b</th></tr>\n<tr><td>1&amp;2</td></tr>\n</table>" "cells"
            Expect.equal (ReportPage.number 3 nan) "NaN" "NaN"
        }
        test "in headless Chromium, a run's page draws the circuit's edges, lights a node's edges, and is not blank" {
            let exe = requireChromium ()
            use dir = new TempDir()
            let e = setup dir
            use model = Checkpoint.Load e.ModelDir
            let r = Discovery.runOn model e ignore
            checkInBrowser exe dir (Path.Combine(e.OutDir, "report.html")) [ r.Circuit ] [ r.Scores ]
        }
        test "a comparison's report.html has each method's figures and diagram, and each draws in Chromium" {
            use dir = new TempDir()
            let e = setup dir
            let runs = Compare.run e [ Eap; EapIg 3 ] (fun _ _ -> ())
            let page = Path.Combine(e.OutDir, "report.html")
            let html = File.ReadAllText page
            selfContained html
            for r in runs do
                let m = r.Result.Metrics
                let cells = [ Method.name r.Method; r.Settings; string (Circuit.edgeCount r.Result.Circuit); ReportPage.number 4 m.Circuit; ReportPage.number 4 m.Full; ReportPage.number 4 m.Empty; ReportPage.number 4 m.Faithfulness ]
                Expect.stringContains html (String.Join("", [ for c in cells -> $"<td>{ReportPage.escape c}</td>" ])) $"{Method.name r.Method}'s row"
                Expect.stringContains html $"href=\"{Method.name r.Method}/report.html\"" "a link to the method's own page"
                Expect.isTrue (File.Exists(Path.Combine(e.OutDir, Method.name r.Method, "report.html"))) "which exists"
            match chromium () with
            | None -> requireChromium () |> ignore
            | Some exe -> checkInBrowser exe dir page [ for r in runs -> r.Result.Circuit ] [ for r in runs -> r.Result.Scores ]
        }
        test "a seed sweep's report.html holds stability.csv's overlaps and every seed's figures" {
            use dir = new TempDir()
            let e = setup dir
            let runs, levels = Stability.run e [ 1; 2 ] (fun _ _ -> ())
            let html = File.ReadAllText(Path.Combine(e.OutDir, "report.html"))
            selfContained html
            Expect.stringContains html "<th>seeds 1 and 2</th><th>mean</th>" "a column per pair, then the mean"
            for line in File.ReadAllLines(Path.Combine(e.OutDir, "stability.csv")) |> Array.filter (fun l -> l.Contains ",mean,mean,") do
                let cells = line.Split ','
                let mean = (float cells[3]).ToString("F4", Globalization.CultureInfo.InvariantCulture)
                Expect.stringContains html $"<tr><td>{cells[0]}</td><td>{mean}</td><td>{mean}</td></tr>" $"level {cells[0]}: the one pair's overlap and the mean"
            Expect.equal levels.Length e.Levels.Length "a row per level"
            for seed, r in runs do
                Expect.stringContains html $"<tr><td>{seed}</td><td>{Circuit.edgeCount r.Circuit}</td>" $"seed {seed}'s figures"
            Expect.equal (List.sort (drawnEdges html)) (List.sort [ for _, r in runs do yield! names r.Circuit ]) "each seed's circuit drawn"
        }
    ]
