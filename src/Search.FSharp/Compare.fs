namespace PatchDescent.Search

open System
open System.Diagnostics
open System.IO
open PatchDescent.Model

type MethodRun = { Method: Method; Settings: string; Result: DiscoveryResult; Seconds: float; PeakRssDelta: int64 option }

module Compare =
    let private num (x: float) = (x + 0.0).ToString("R", Globalization.CultureInfo.InvariantCulture)
    let private fixedText (digits: int) (x: float) =
        if Double.IsNaN x then "NaN" else x.ToString($"F{digits}", Globalization.CultureInfo.InvariantCulture)
    let private mib (bytes: int64 option) = bytes |> Option.map (fun b -> float b / 1048576.0)

    let settings (experiment: Experiment) method =
        match method with
        | Descent -> $"{experiment.Train.Steps} steps"
        | Eap -> "1 gradient"
        | EapIg steps -> $"{steps} steps"
        | Acdc tau -> $"tau {num tau}"
        | Prune floor -> $"floor {num floor}"

    let private rows (runs: MethodRun list) =
        [ for r in runs ->
            let m = r.Result.Metrics
            Method.name r.Method, r.Settings, Circuit.edgeCount r.Result.Circuit, m.Faithfulness, m.Kl,
            r.Result.Curve.Cpr, r.Result.Curve.Cmd, r.Seconds, mib r.PeakRssDelta ]

    let csv runs =
        [ yield "method,settings,edges,faithfulness,kl,cpr,cmd,seconds,peak_rss_delta_mib"
          for name, s, edges, f, kl, cpr, cmd, seconds, rss in rows runs ->
              String.Join(",", [ name; s; string edges; num f; num kl; num cpr; num cmd; num seconds
                                 rss |> Option.map num |> Option.defaultValue "" ]) ]

    let markdown runs =
        [ yield "| method | settings | edges | faithfulness | KL (nats) | CPR | CMD | wall s | peak RSS delta MiB |"
          yield "|---|---|---:|---:|---:|---:|---:|---:|---:|"
          for name, s, edges, f, kl, cpr, cmd, seconds, rss in rows runs ->
              let rssText = rss |> Option.map (fixedText 0) |> Option.defaultValue "n/a"
              $"| {name} | {s} | {edges} | {fixedText 3 f} | {fixedText 4 kl} | {fixedText 3 cpr} | {fixedText 3 cmd} | {fixedText 1 seconds} | {rssText} |" ]

    let page (experiment: Experiment) (runs: MethodRun list) =
        let name (r: MethodRun) = Method.name r.Method
        let figures =
            [ for r in runs ->
                let m, c = r.Result.Metrics, r.Result.Curve
                [ name r; r.Settings; string (Circuit.edgeCount r.Result.Circuit); ReportPage.number 4 m.Circuit
                  ReportPage.number 4 m.Full; ReportPage.number 4 m.Empty; ReportPage.number 4 m.Faithfulness
                  ReportPage.number 4 m.Kl; ReportPage.number 4 c.Cpr; ReportPage.number 4 c.Cmd; ReportPage.number 1 r.Seconds
                  mib r.PeakRssDelta |> Option.map (ReportPage.number 0) |> Option.defaultValue "n/a" ] ]
        let report = (List.head runs).Result.Report.Report
        ReportPage.document $"compare: {ReportPage.modelName report.Model}, {report.Task}"
            [ "Warnings", ReportPage.warnings [ for r in runs do for w in r.Result.Warnings -> $"{name r}: {w}" ]
              "Figures",
              ReportPage.table
                  [ "method"; "settings"; "edges"; "m(C)"; "m(full)"; "m(empty)"; "faithfulness"; "KL (nats)"; "CPR"; "CMD"; "wall s"; "peak RSS delta MiB" ]
                  figures
              "Faithfulness curves", ReportPage.curves "faithfulness against edges" [ for r in runs -> name r, r.Result.Curve ]
              yield!
                  [ for r in runs ->
                      let d = Diagram.layout (ReportPage.diagramTitle r.Result.Report.Report) r.Result.Circuit r.Result.Scores
                      $"Circuit: {name r}",
                      ReportPage.diagram d + $"\n<p><a href=\"{ReportPage.escape (name r)}/report.html\">{ReportPage.escape (name r)}'s own report</a></p>" ]
              "Experiment", "<p>Each method ran this experiment with its own method.</p>\n" + ReportPage.experiment experiment ]

    let run (experiment: Experiment) (methods: Method list) (onLog: Method -> StepLog -> unit) =
        if List.isEmpty methods then invalidArg "methods" "compare needs at least one method"
        let names = List.map Method.name methods
        if List.distinct names <> names then
            let listed = String.Join(", ", names)
            invalidArg "methods" $"methods {listed} repeat a name; each method writes the folder of its name"
        let folder = Discovery.claim "compare" experiment
        let device = Compute.apply experiment.Compute
        use model = ModelFolder.Load(experiment.ModelDir, device, Compute.dtype experiment.Compute.Precision)
        folder.Write(fun dir ->
            let runs =
                [ for method in methods ->
                    let name = Method.name method
                    let e = { experiment with Method = method; OutDir = Path.Combine(experiment.OutDir, name) }
                    // Tensors an earlier run left to the finalizer are freed now, not during this run's measurement.
                    GC.Collect()
                    GC.WaitForPendingFinalizers()
                    let rss = Rss.start ()
                    let clock = Stopwatch.StartNew()
                    let result = Discovery.runInto model e (Path.Combine(dir, name)) (onLog method)
                    let seconds = clock.Elapsed.TotalSeconds
                    { Method = method; Settings = settings experiment method; Result = result; Seconds = seconds; PeakRssDelta = Rss.peakSince rss } ]
            let file name = Path.Combine(dir, name)
            File.WriteAllLines(file "comparison.csv", csv runs)
            File.WriteAllLines(file "comparison.md", markdown runs)
            let title = $"{Path.GetFileName folder.FullPath}: faithfulness against edges"
            Plot.faithfulness title [ for r in runs -> Method.name r.Method, r.Result.Curve ] (file "curves.png") (file "curves.svg")
            AtomicFile.WriteText(file "report.html", page experiment runs)
            runs)
