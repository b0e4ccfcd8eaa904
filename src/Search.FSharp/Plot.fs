namespace PatchDescent.Search

open System
open System.IO
open ScottPlot

module Plot =
    let private width, height = 800, 500

    /// The figure, owned by the caller.
    let private figure (title: string) (curves: (string * Curve) list) =
        let drawable (c: Curve) =
            [| for p in c.Points do
                 if p.Fraction > 0.0 && not (Double.IsNaN p.Faithfulness) then log10 (100.0 * p.Fraction), p.Faithfulness |]
            |> Array.sortBy fst
        let series = [ for name, c in curves -> name, drawable c ] |> List.filter (fun (_, points) -> points.Length > 0)
        if series.IsEmpty then invalidArg "curves" "no curve has a point with edges and a finite faithfulness to draw"
        let plot = new ScottPlot.Plot()
        for name, points in series do
            let line = plot.Add.Scatter(Array.map fst points, Array.map snd points)
            line.LegendText <- name
            line.MarkerSize <- 6.0f
        let ideal = plot.Add.HorizontalLine(1.0)
        ideal.LinePattern <- LinePattern.Dashed
        ideal.Color <- Colors.Gray
        // ScottPlot has no log axis: x holds log10(percent), and the ticks are labelled back in percent.
        let ticks = TickGenerators.NumericAutomatic()
        ticks.MinorTickGenerator <- TickGenerators.LogMinorTickGenerator()
        ticks.IntegerTicksOnly <- true
        ticks.LabelFormatter <- fun x -> $"{10.0 ** x:G3}%%"
        plot.Axes.Bottom.TickGenerator <- ticks
        // Faithfulness is read against 0 (the empty circuit) and 1 (the full model): both stay in view, so that
        // a curve within 1e-4 of 1 is not drawn as a steep one.
        let ys = [ for _, points in series do for _, y in points -> y ]
        let low, high = min 0.0 (List.min ys), max 1.0 (List.max ys)
        let margin = 0.05 * (high - low)
        plot.Axes.SetLimitsY(low - margin, high + margin)
        plot.Title(title)
        plot.XLabel "edges kept (% of the graph, log scale)"
        plot.YLabel "normalised faithfulness"
        plot.ShowLegend(Alignment.LowerRight) |> ignore
        plot

    let faithfulness title curves pngPath svgPath =
        use plot = figure title curves
        PatchDescent.Model.AtomicFile.Write(pngPath, fun p -> plot.SavePng(p, width, height) |> ignore)
        PatchDescent.Model.AtomicFile.Write(svgPath, fun p -> plot.SaveSvg(p, width, height) |> ignore)

    let faithfulnessSvg title curves =
        use plot = figure title curves
        // An <svg> element inside HTML takes no XML declaration.
        Text.RegularExpressions.Regex.Replace(plot.GetSvgHtml(width, height), @"^\s*<\?xml[^>]*\?>\s*", "")
