namespace PatchDescent.Search

open System
open System.IO
open PatchDescent.Model

type LevelStability =
    { Level: float
      Pairs: (int * int * float) list
      Mean: float }

module Stability =
    let jaccard (a: Set<int>) (b: Set<int>) =
        let union = Set.union a b
        if union.IsEmpty then 1.0 else float (Set.intersect a b).Count / float union.Count

    let overlaps (levels: float list) (runs: (int * Circuit list) list) =
        if runs.Length < 2 then invalidArg "runs" $"stability needs at least two runs to compare, got {runs.Length}"
        for seed, circuits in runs do
            if circuits.Length <> levels.Length then
                invalidArg "runs" $"the run of seed {seed} has {circuits.Length} circuits for {levels.Length} levels"
        let runs = Array.ofList runs
        [ for i, level in List.indexed levels ->
            let pairs =
                [ for a in 0 .. runs.Length - 1 do
                    for b in a + 1 .. runs.Length - 1 ->
                        let (seedA, ca), (seedB, cb) = runs[a], runs[b]
                        seedA, seedB, jaccard ca[i].Edges cb[i].Edges ]
            { Level = level; Pairs = pairs; Mean = List.averageBy (fun (_, _, j) -> j) pairs } ]

    let private num (x: float) = x.ToString("R", Globalization.CultureInfo.InvariantCulture)

    let csv (levels: LevelStability list) =
        [ yield "level,seed_a,seed_b,jaccard"
          for l in levels do
              for a, b, j in l.Pairs -> $"{num l.Level},{a},{b},{num j}"
              yield $"{num l.Level},mean,mean,{num l.Mean}" ]

    let page (experiment: Experiment) (runs: (int * DiscoveryResult) list) (levels: LevelStability list) =
        let n = ReportPage.number 4
        let figures =
            [ for seed, r in runs ->
                [ string seed; string (Circuit.edgeCount r.Circuit); n r.Metrics.Circuit; n r.Metrics.Full; n r.Metrics.Empty
                  n r.Metrics.Faithfulness; n r.Metrics.Kl; n r.Curve.Cpr; n r.Curve.Cmd ] ]
        let pairNames = match levels with [] -> [] | l :: _ -> [ for a, b, _ in l.Pairs -> $"seeds {a} and {b}" ]
        let overlapRows = [ for l in levels -> [ string l.Level ] @ [ for _, _, j in l.Pairs -> n j ] @ [ n l.Mean ] ]
        let report = (snd (List.head runs)).Report.Report
        ReportPage.document $"stability over seeds: {ReportPage.modelName report.Model}, {report.Task}"
            [ "Warnings", ReportPage.warnings [ for seed, r in runs do for w in r.Warnings -> $"seed {seed}: {w}" ]
              "Figures",
              ReportPage.table [ "seed"; "edges"; "m(C)"; "m(full)"; "m(empty)"; "faithfulness"; "KL (nats)"; "CPR"; "CMD" ] figures
              "Faithfulness curves", ReportPage.curves "faithfulness against edges" [ for seed, r in runs -> $"seed {seed}", r.Curve ]
              "Stability: Jaccard overlap of the pruned top-k circuits",
              ReportPage.table ([ "level" ] @ pairNames @ [ "mean" ]) overlapRows
              yield!
                  [ for seed, r in runs ->
                      let d = Diagram.layout (ReportPage.diagramTitle r.Report.Report) r.Circuit r.Scores
                      $"Circuit: seed {seed}", ReportPage.diagram d + $"\n<p><a href=\"seed-{seed}/report.html\">seed {seed}'s own report</a></p>" ]
              "Experiment", "<p>Each seed ran this experiment with its own seed.</p>\n" + ReportPage.experiment experiment ]

    let run (experiment: Experiment) (seeds: int list) (onLog: int -> StepLog -> unit) =
        if seeds.Length < 2 then invalidArg "seeds" $"stability needs at least two seeds, got {seeds.Length}"
        if List.distinct seeds <> seeds then invalidArg "seeds" $"seeds {seeds} repeat one; each seed is one folder"
        let folder = Discovery.claim "discover" experiment
        use model = ModelFolder.Load experiment.ModelDir
        folder.Write(fun dir ->
            let results =
                [ for seed in seeds ->
                    let name = $"seed-{seed}"
                    let e = { experiment with Train = { experiment.Train with Seed = seed }; OutDir = Path.Combine(experiment.OutDir, name) }
                    seed, Discovery.runInto model e (Path.Combine(dir, name)) (onLog seed) ]
            let levels = overlaps experiment.Levels [ for seed, r in results -> seed, r.CurveCircuits ]
            File.WriteAllLines(Path.Combine(dir, "stability.csv"), csv levels)
            AtomicFile.WriteText(Path.Combine(dir, "report.html"), page experiment results levels)
            results, levels)
