namespace PatchDescent.Search

open System
open System.Globalization
open System.IO
open System.Text

module ReportPage =
    let escape (text: string) =
        text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;")

    let number (digits: int) (x: float) =
        if Double.IsNaN x then "NaN" else x.ToString($"F{digits}", CultureInfo.InvariantCulture)

    let table (header: string list) (rows: string list list) =
        let b = StringBuilder("<table>\n<tr>")
        for h in header do b.Append($"<th>{escape h}</th>") |> ignore
        b.Append("</tr>\n") |> ignore
        for row in rows do
            b.Append("<tr>") |> ignore
            for cell in row do b.Append($"<td>{escape cell}</td>") |> ignore
            b.Append("</tr>\n") |> ignore
        b.Append("</table>").ToString()

    let warnings (ws: string list) =
        if ws.IsEmpty then "<p>No warnings.</p>"
        else "<ul class=\"warnings\">\n" + String.Join("\n", [ for w in ws -> $"<li>{escape w}</li>" ]) + "\n</ul>"

    let curves title (curves: (string * Curve) list) =
        let drawable (c: Curve) = c.Points |> List.exists (fun p -> p.Fraction > 0.0 && not (Double.IsNaN p.Faithfulness))
        if List.exists (snd >> drawable) curves then $"<figure class=\"curve\">\n{Plot.faithfulnessSvg title curves}\n</figure>"
        else "<p>No curve is drawn: no curve point has edges and a finite faithfulness.</p>"

    let diagram (d: Diagram) =
        $"<figure class=\"diagram\" data-edges=\"{d.Edges.Length}\">\n{Diagram.svg d}<figcaption class=\"status\">"
        + "Hover an edge for its name, score and rank; click a node to highlight its edges.</figcaption>\n</figure>"

    let experiment (e: Experiment) =
        let shown, note =
            match e.Data with
            | Pairs p when p.Pairs.Length > 3 ->
                { e with Data = Pairs { p with Pairs = Array.truncate 3 p.Pairs } }, $"\n(the first 3 of {p.Pairs.Length} pairs in memory are shown)"
            | _ -> e, ""
        let text = sprintf "%A" shown + note
        $"<pre class=\"experiment\">{escape text}</pre>"

    let modelName (model: string) = match Path.GetFileName(model.TrimEnd('/', '\\')) with null | "" -> model | m -> m

    let diagramTitle (r: CircuitReport) =
        let model = modelName r.Model
        let figure name = r.Metrics |> List.tryFind (fst >> (=) name) |> Option.map snd
        let edges = figure "edges" |> Option.map (fun e -> $"{int e} edges") |> Option.defaultValue "edges"
        let faithfulness = figure "faithfulness" |> Option.map (fun f -> $", faithfulness {f:F3}") |> Option.defaultValue ""
        $"{model}, {r.Task}: {edges}{faithfulness}"

    let private style =
        """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1280px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 13px; } td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
th { background: #f2f2f2; } td { font-variant-numeric: tabular-nums; }
ul.warnings li { color: #8a3b00; }
figure { margin: 8px 0; } figure svg { max-width: 100%; height: auto; }
figcaption.status { font-size: 13px; color: #333; min-height: 1.4em; }
.diagram g.node { cursor: pointer; } .diagram g.node.selected rect { stroke: #c00; stroke-width: 2.5; }
.diagram path.edge.dim { stroke-opacity: 0.08; } .diagram path.edge.lit { stroke-opacity: 1; }
pre.experiment { font-size: 12px; background: #f7f7f7; padding: 8px; overflow-x: auto; }
"""

    // Wires every diagram: hover shows an edge, a click on a node lights its edges. `#select=NODE` preselects, so
    // that a browser test can see the highlight in the DOM without clicking.
    let private script =
        """
(function () {
  var selectors = [];
  document.querySelectorAll('figure.diagram').forEach(function (figure) {
    var status = figure.querySelector('.status');
    var edges = Array.prototype.slice.call(figure.querySelectorAll('path.edge'));
    var nodes = Array.prototype.slice.call(figure.querySelectorAll('g.node'));
    var selected = '';
    function select(name) {
      selected = name;
      edges.forEach(function (e) {
        var on = name !== '' && (e.getAttribute('data-sender') === name || e.getAttribute('data-receiver') === name);
        e.classList.toggle('lit', on);
        e.classList.toggle('dim', name !== '' && !on);
      });
      nodes.forEach(function (n) { n.classList.toggle('selected', n.getAttribute('data-node') === name); });
      figure.setAttribute('data-selected', name);
      if (name !== '') {
        var lit = edges.filter(function (e) { return e.classList.contains('lit'); }).length;
        status.textContent = name + ': ' + lit + ' of ' + edges.length + ' edges; click it again to clear';
      }
    }
    edges.forEach(function (e) {
      e.addEventListener('mouseenter', function () {
        status.textContent = e.getAttribute('data-edge') + ': score ' + e.getAttribute('data-score') +
          ', rank ' + e.getAttribute('data-rank') + ' of ' + edges.length;
      });
    });
    nodes.forEach(function (n) {
      n.addEventListener('click', function () {
        var name = n.getAttribute('data-node');
        select(selected === name ? '' : name);
      });
    });
    figure.setAttribute('data-drawn', String(edges.length));
    selectors.push(select);
  });
  var wanted = /(?:^#|&)select=([^&]+)/.exec(location.hash);
  if (wanted) selectors.forEach(function (select) { select(decodeURIComponent(wanted[1])); });
  document.body.setAttribute('data-ready', 'true');
})();
"""

    let document (title: string) (sections: (string * string) list) =
        let b = StringBuilder()
        let line (s: string) = b.Append(s).Append('\n') |> ignore
        line "<!DOCTYPE html>"
        line "<html lang=\"en\">"
        line $"<head>\n<meta charset=\"utf-8\">\n<title>{escape title}</title>\n<style>{style}</style>\n</head>"
        line "<body>"
        line $"<h1>{escape title}</h1>"
        for heading, html in sections do
            line $"<section>\n<h2>{escape heading}</h2>\n{html}\n</section>"
        line $"<script>{script}</script>"
        line "</body>\n</html>"
        b.ToString()

    let private metricRows (s: CircuitScores) (curve: Curve) edges =
        [ [ "edges"; string edges ]; [ "m(C)"; number 4 s.Circuit ]; [ "m(full)"; number 4 s.Full ]; [ "m(empty)"; number 4 s.Empty ]
          [ "faithfulness"; number 4 s.Faithfulness ]; [ "KL(full || C), nats"; number 4 s.Kl ]
          [ "CPR"; number 4 curve.Cpr ]; [ "CMD"; number 4 curve.Cmd ] ]

    let run (r: RunReport) (d: Diagram) =
        let c = r.Report
        let curveRows =
            [ for row in r.Rows ->
                let p = row.Point
                [ string row.Level; string p.K; string p.Edges; number 5 p.Fraction; number 4 p.Faithfulness; number 4 p.Kl; Curve.sourceName row.Source ] ]
        document (diagramTitle c)
            [ "Warnings", warnings r.Warnings
              "Circuit", diagram d
              "Faithfulness curve",
              curves "faithfulness against edges" r.Plotted
              + "\n" + table [ "level"; "k"; "edges"; "fraction"; "faithfulness"; "KL"; "source" ] curveRows
              "Figures", table [ "figure"; "value" ] (metricRows r.Metrics r.Curve (Circuit.edgeCount r.Circuit))
              "Settings",
              table [ "setting"; "value" ]
                  ([ [ "model"; c.Model ]; [ "task"; c.Task ]; [ "granularity"; c.Granularity ]; [ "seed"; string c.Seed ]
                     [ "library"; c.LibraryVersion ] ]
                   @ [ for n, v in c.Hyperparameters -> [ n; v ] ])
              "Experiment", experiment r.Experiment ]
