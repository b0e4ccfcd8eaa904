namespace PatchDescent.Search

open System
open System.Text.RegularExpressions

[<NoEquality; NoComparison>]
type RunInputs =
    { Engine: Engine.CompiledEngine
      Batches: PreparedBatchWithTargets list
      Evaluations: (Evaluation * int) list
      Metric: Metric
      Train: TrainSettings
      TrainOptions: string -> TrainOptions
      OnLog: StepLog -> unit }

type MethodOutcome =
    { Scores: float[]
      Ranking: float[]
      Circuit: Circuit
      Settings: (string * string) list
      Rows: CurveRow list
      Plotted: (string * Curve) list
      Log: string list
      Warnings: string list
      Timings: (string * float) list }

module Outcome =
    let timed f =
        let clock = Diagnostics.Stopwatch.StartNew()
        let result = f ()
        result, clock.Elapsed.TotalSeconds

    let private num (x: float) = (x + 0.0).ToString("R", Globalization.CultureInfo.InvariantCulture)

    let private printed (x: 'a) = Regex.Replace(sprintf "%A" x, @"\s+", " ")

    let private logLine (l: StepLog) =
        let terms = [ for name, v in l.Terms -> $"{name} {num v}" ]
        let target = l.Target |> Option.map (fun t -> $"target {num t}") |> Option.toList
        String.Join("  ", [ $"step {l.Step}" ] @ terms @ [ $"kept {num l.ExpectedKeptFraction}" ] @ target)

    let attributionBar = 0.85

    let private attributionRule = "smallest curve circuit with faithfulness >= 0.85, else the largest"

    /// The curve's circuit of fewest edges reaching the bar, else its largest.
    let private smallestFaithful (rows: CurveRow list) =
        let sorted = rows |> List.sortBy (fun r -> r.Point.Edges)
        match sorted |> List.tryFind (fun r -> r.Point.Faithfulness >= attributionBar) with
        | Some r -> r.Circuit
        | None -> (List.last sorted).Circuit

    let private withEnd (why: string) target (settings: TrainSettings) =
        match settings.Sparsity with
        | TargetLagrangian (t, rate) -> { settings with Sparsity = TargetLagrangian({ t with End = target }, rate) }
        | L1Penalty _ -> failwith $"{why} needs a target-sparsity Lagrangian (TargetLagrangian), but the experiment's sparsity is {printed settings.Sparsity}"

    let trainSettings (engine: Engine.CompiledEngine) (experiment: Experiment) =
        match experiment.TargetEdges with
        | None -> experiment.Train
        | Some k ->
            let n = engine.ParamCount
            // No edge at all is no circuit: a target of 0 would train every gate shut.
            if k < 1 || k > n then
                failwith $"target edges (--target-edges) {k} is outside 1 .. {n}, the learnable parameters of the {printed experiment.Granularity} graph"
            withEnd "a target edge count" (1.0 - float k / float n) experiment.Train

    /// The outcome of a method that does not train: its scores are its ranking, every level scored at step 0.
    let private untrained (experiment: Experiment) (inputs: RunInputs) (scores, methodSeconds) settings circuit log =
        let shape = inputs.Engine.Schedule.Shape
        use scorer = new Evaluate.Scorer(inputs.Evaluations)
        let rows, curveSeconds = timed (fun () -> Curve.rows scorer.Score shape scores Final 0 experiment.Levels)
        { Scores = scores; Ranking = scores; Circuit = circuit |> Option.defaultWith (fun () -> smallestFaithful rows)
          Settings = settings; Rows = rows; Plotted = [ Method.name experiment.Method, Curve.ofRows rows ]; Log = log; Warnings = []
          Timings = [ Method.name experiment.Method, methodSeconds; $"curve ({rows.Length} circuits)", curveSeconds ] }

    /// Whether every edge is its own parameter, so that k parameters are k edges of the curve.
    let private oneToOne (engine: Engine.CompiledEngine) =
        let sources = engine.Schedule.Source
        engine.ParamCount = sources.Length && sources |> Array.forall (function Param _ -> true | Fixed _ -> false)

    /// The refinement's order made nested at the curve's sizes (`Elimination.nested`), with run.log's line about it.
    let private nestedRanking (experiment: Experiment) (inputs: RunInputs) refinement (oracle: Lazy<Oracle>) (refined: Refined) budget =
        let engine = inputs.Engine
        match refinement with
        | NoRefinement -> refined.BestFirst, None
        | PruneRefinement _ | SwapRefinement _ when not (oneToOne engine) ->
            refined.BestFirst, Some "ranking: no nested selection, since the graph's parameters are not one per edge (the curve counts edges)"
        | PruneRefinement _ | SwapRefinement _ ->
            let clock = Diagnostics.Stopwatch.StartNew()
            let metric = Metric.evaluate inputs.Metric
            let byMagnitude (a: float[]) = List.init a.Length id |> List.sortBy (fun p -> -abs a[p], p)
            let orders =
                [ refined.BestFirst
                  byMagnitude (Methods.Eap.attributions engine inputs.Batches metric)
                  byMagnitude (Methods.EapIg.attributions Method.defaultIgSteps engine inputs.Batches metric) ]
            // A target's circuit is the ranking's top K, which the selection keeps; otherwise the circuit is the
            // refined set and every size is free.
            let anchor = match experiment.TargetEdges with Some k -> List.truncate k refined.BestFirst | None -> []
            let sizes = [ for level in experiment.Levels -> Curve.levelK engine.ParamCount level ]
            let nested = Elimination.nested (oracle.Force()) anchor sizes orders budget
            let stopped = if nested.Exhausted then "; the budget ran out, so a size kept the refinement's set" else ""
            nested.BestFirst,
            Some $"ranking: nested selection at the curve's sizes among the refinement's order and EAP's and EAP-IG's attributions: another set chosen at {nested.Alternatives} sizes, {nested.Trials} trials in {clock.Elapsed.TotalSeconds:F1} s{stopped}"

    let private descent (experiment: Experiment) (inputs: RunInputs) =
        let engine, settings = inputs.Engine, inputs.Train
        let shape = engine.Schedule.Shape
        use scorer = new Evaluate.Scorer(inputs.Evaluations)
        let score = scorer.Score
        // Training reports through a callback; its lines are kept in the order they came.
        let log = ResizeArray<string>()
        let mainLogs = ResizeArray<StepLog>()
        let logged prefix (l: StepLog) =
            if prefix = "" then mainLogs.Add l
            log.Add(prefix + logLine l)
            inputs.OnLog l
        let trained, trainSeconds = timed (fun () -> Train.runWith (inputs.TrainOptions "train.safetensors") settings engine inputs.Batches (logged ""))
        match trained.ResumedAt, (inputs.TrainOptions "train.safetensors").Checkpoint with
        | Some step, Some c -> log.Insert(0, $"resumed from {c.Path} at step {step}; the steps before it are not logged here")
        | _ -> ()
        let budget = experiment.RefineTrials |> Option.defaultValue (Experiment.defaultRefineTrials settings.Steps inputs.Batches.Length)
        let oracle = lazy (Elimination.oracle engine inputs.Batches (Metric.evaluate inputs.Metric))
        // Elimination's criterion is faithfulness, which such figures leave undefined: no refinement.
        let refinement =
            if Evaluate.degenerate (score (Circuit.full shape)) then
                log.Add "refine: skipped, since m(full) and m(empty) barely differ and faithfulness gives elimination no criterion"
                NoRefinement
            else experiment.Refine
        let refined, seconds = timed (fun () -> Refine.run refinement budget experiment.TargetEdges oracle engine.Schedule trained)
        let candidates = Elimination.circuit engine.Schedule refined.Candidates |> Circuit.edgeCount
        match refinement with
        | NoRefinement -> log.Add $"refine: none; {candidates} candidate edges, ranked by the anneal"
        | PruneRefinement floor | SwapRefinement floor ->
            let kept = (Elimination.circuit engine.Schedule refined.Kept) |> Circuit.edgeCount
            let stopped = if refined.Exhausted then "; the budget ran out, so the untried edges went in the anneal's order" else ""
            log.Add $"refine: {printed refinement} over {candidates} candidate edges: {kept} kept, {refined.Trials} trials of {budget} in {seconds:F1} s{stopped}"
        let (bestFirst, line), rankingSeconds = timed (fun () -> nestedRanking experiment inputs refinement oracle refined (budget - refined.Trials))
        line |> Option.iter log.Add
        let ranking = Methods.Attribution.edgeScores engine (Elimination.rankingScores engine.Schedule bestFirst)
        // What the target asked for against what training reached, said rather than hidden in the log.
        let warnings =
            match experiment.TargetEdges, Seq.tryLast mainLogs with
            | Some k, Some l when l.ExpectedKeptEdges > float k + 0.5 ->
                [ $"the expected kept edges were {num l.ExpectedKeptEdges} at the last step, above the target of {k}; the circuit is the pruned top {k} of the ranking; train longer (--steps) to reach it" ]
            | _ -> []
        let rankingRows () = Curve.rows score shape ranking Ranking settings.Steps experiment.Levels
        let curveRows () =
            match experiment.CurveMode with
            | FromAnneal ->
                let rows = rankingRows ()
                rows, [ Method.name Descent, Curve.ofRows rows ]
            | PerPointRuns ->
                let rows =
                    [ for level in experiment.Levels do
                        let perLevel = withEnd "PerPointRuns" (1.0 - level) settings
                        let r = Train.runWith (inputs.TrainOptions $"level-{num level}.safetensors") perLevel engine inputs.Batches (logged $"level {num level}  ")
                        let order = Methods.Attribution.edgeScores engine (Elimination.rankingScores engine.Schedule (Refine.annealOrder r))
                        yield! Curve.rows score shape order PerPointRun settings.Steps [ level ] ]
                let perPoint = Curve.ofRows rows
                log.Add $"curve: one training per level (target sparsity 1 - level, {settings.Steps} steps each), each level's final gates in the anneal's order; CPR {num perPoint.Cpr}, CMD {num perPoint.Cmd}"
                rows,
                [ $"{Method.name Descent}, one run per level", perPoint
                  $"{Method.name Descent}, the refined ranking", Curve.ofRows (rankingRows ()) ]
        let (rows, plotted), curveSeconds = timed curveRows
        let circuit =
            match experiment.TargetEdges with
            | Some k -> Extract.prune (Extract.topK shape ranking k)
            | None -> Elimination.circuit engine.Schedule refined.Kept
        let t = settings
        { Scores = trained.Scores
          Ranking = ranking
          Circuit = circuit
          Settings =
            [ "gate", printed t.Gate; "loss", printed t.Loss; "sparsity", printed t.Sparsity; "steps", printed t.Steps
              "learning_rate", printed t.LearningRate; "clip_norm", printed t.ClipNorm; "log_every", printed t.LogEvery
              "curve_mode", printed experiment.CurveMode; "refine", printed refinement; "refine_trials", printed refined.Trials
              "refine_budget", printed budget
              "circuit", (match experiment.TargetEdges with Some k -> $"pruned top {k} of the ranking" | None -> "the refined candidates, pruned")
              "ranking",
              (match refinement with
               | NoRefinement -> "the anneal's order"
               | _ -> "nested sets at the curve's sizes, each the closest to the full model of the first k of the refinement's order (its greedy order within the circuit, the other candidates, the anneal's order), of EAP's and of EAP-IG's |attribution|" ) ]
          Rows = rows
          Plotted = plotted
          Log = List.ofSeq log
          Warnings = warnings
          Timings = [ "training", trainSeconds; "refinement", seconds; "ranking", rankingSeconds; $"curve ({rows.Length} circuits)", curveSeconds ] }

    let run (experiment: Experiment) (inputs: RunInputs) =
        let engine, batches, metric = inputs.Engine, inputs.Batches, Metric.evaluate inputs.Metric
        match experiment.Method with
        | Descent -> descent experiment inputs
        | Eap -> untrained experiment inputs (timed (fun () -> Methods.Eap.scores engine batches metric)) [ "circuit", attributionRule ] None []
        | EapIg steps ->
            untrained experiment inputs (timed (fun () -> Methods.EapIg.scores steps engine batches metric)) [ "ig_steps", printed steps; "circuit", attributionRule ] None []
        | Prune floor ->
            let r, seconds = timed (fun () -> Methods.Prune.run floor engine batches metric)
            untrained experiment inputs (r.Scores, seconds) [ "prune_floor", printed floor; "prune_trials", printed r.Trials; "circuit", "what elimination kept, not pruned" ]
                (Some r.Circuit) [ $"prune trials {r.Trials}  faithfulness {num r.Faithfulness}" ]
        | Acdc tau ->
            let r, seconds = timed (fun () -> Methods.Acdc.run tau engine batches)
            untrained experiment inputs (r.Scores, seconds) [ "acdc_tau", printed tau; "acdc_trials", printed r.Trials; "circuit", "kept by ACDC, not pruned" ]
                (Some r.Circuit) [ $"acdc trials {r.Trials}  kl {num r.Kl}" ]
