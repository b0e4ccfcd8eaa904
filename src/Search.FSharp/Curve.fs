namespace PatchDescent.Search

type CurveSource =
    | Ranking
    | Final
    | PerPointRun

type CurveRow = { Level: float; Source: CurveSource; Step: int; Circuit: Circuit; Point: CurvePoint }

[<CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module Curve =
    let sourceName source =
        match source with
        | Ranking -> "ranking"
        | Final -> "final"
        | PerPointRun -> "run"

    let levelK edgeCount (level: float) =
        if level < 0.0 || level > 1.0 then invalidArg "Levels" $"level {level} is outside [0, 1]"
        int (floor (level * float edgeCount))

    let rows (score: Circuit -> CircuitScores) shape (ranking: float[]) source step (levels: float list) =
        let edgeCount = Graph.edgeCount shape
        [ for level in levels ->
            let k = levelK edgeCount level
            let circuit = Extract.prune (Extract.topK shape ranking k)
            let s = score circuit
            { Level = level; Source = source; Step = step; Circuit = circuit
              Point =
                { Level = level; K = k; Edges = Circuit.edgeCount circuit; Fraction = float (Circuit.edgeCount circuit) / float edgeCount
                  Faithfulness = s.Faithfulness; Kl = s.Kl } } ]

    let ofRows (rows: CurveRow list) =
        let points = [ for r in rows -> r.Point ]
        { Points = points; Cpr = Evaluate.cpr points; Cmd = Evaluate.cmd points }
