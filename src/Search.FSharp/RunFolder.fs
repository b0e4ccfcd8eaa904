namespace PatchDescent.Search

open System
open System.IO
open PatchDescent.Model

module RunFolder =
    let private num (x: float) = (x + 0.0).ToString("R", Globalization.CultureInfo.InvariantCulture)

    let write (dir: string) (name: string) (report: RunReport) =
        Directory.CreateDirectory dir |> ignore
        let file f = Path.Combine(dir, f)
        CircuitJson.writeReport (file "circuit.json") report.Report
        File.WriteAllText(file "graph.mib.json", CircuitJson.exportMib report.DModel report.Circuit (Some report.Ranking))
        File.WriteAllText(file "circuit.dot", Render.dot report.Circuit (Some report.Scores))
        let diagram = Diagram.layout (ReportPage.diagramTitle report.Report) report.Circuit report.Scores
        AtomicFile.WriteText(file "circuit.svg", Diagram.svg diagram)
        Diagram.writePng diagram (file "circuit.png")
        AtomicFile.WriteText(file "report.html", ReportPage.run report diagram)
        File.WriteAllLines(
            file "curve.csv",
            [ yield "level,k,edges,fraction,faithfulness,kl,source,step"
              for r in report.Rows ->
                  let p = r.Point
                  String.Join(",", [ num r.Level; string p.K; string p.Edges; num p.Fraction; num p.Faithfulness; num p.Kl; Curve.sourceName r.Source; string r.Step ]) ])
        let drawable (c: Curve) = c.Points |> List.exists (fun p -> p.Fraction > 0.0 && not (Double.IsNaN p.Faithfulness))
        let plotLines =
            if List.exists (snd >> drawable) report.Plotted then
                Plot.faithfulness $"{Path.GetFileName name}: faithfulness against edges" report.Plotted (file "curve.png") (file "curve.svg")
                []
            else [ "curve.png and curve.svg not written: no curve point has edges and a finite faithfulness" ]
        File.WriteAllLines(
            file "run.log",
            report.Log @ plotLines
            @ [ for n, v in report.Report.Metrics -> $"{n} {num v}" ]
            @ [ for w in report.Warnings -> $"warning: {w}" ])
