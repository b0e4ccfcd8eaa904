namespace PatchDescent.Search

open System
open System.IO
open System.Text
open System.Text.Encodings.Web
open System.Text.Json

type CircuitReport =
    { LibraryVersion: string
      Model: string
      Task: string
      Granularity: string
      Seed: int
      Hyperparameters: (string * string) list
      Edges: (string * float) list
      Metrics: (string * float) list
      Warnings: string list }

type CircuitFileFormat =
    | Report
    | Mib

module CircuitJson =
    /// Why a document was rejected; the readers turn it into an Error.
    exception Bad of string

    let private fail message = raise (Bad message)

    // The default encoder escapes < and > as \u003C, which would make `a5.h1<q>` unreadable in the file.
    let private options = JsonWriterOptions(Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping)

    /// Builds a document with a writer and returns its text.
    let private write (body: Utf8JsonWriter -> unit) =
        use stream = new MemoryStream()
        do
            use writer = new Utf8JsonWriter(stream, options)
            body writer
        Encoding.UTF8.GetString(stream.ToArray())

    let exportMib (dModel: int) (circuit: Circuit) (scores: float[] option) =
        let shape = circuit.Shape
        let edges = Graph.edges shape
        scores |> Option.iter (fun s ->
            if s.Length <> edges.Length then
                invalidArg "scores" $"there are {s.Length} scores, the graph of %A{shape} has {edges.Length} edges: give one score per edge id"
            match Array.tryFindIndex (Double.IsFinite >> not) s with
            | Some id -> invalidArg "scores" $"the score of edge {Edge.name edges[id]} is {s[id]}; JSON holds only finite numbers"
            | None -> ())
        let inGraph = Circuit.nodes circuit
        write (fun w ->
            w.WriteStartObject()
            w.WriteStartObject "cfg"
            w.WriteNumber("n_layers", shape.Layers)
            w.WriteNumber("n_heads", shape.Heads)
            w.WriteBoolean("parallel_attn_mlp", false)
            w.WriteNumber("d_model", dModel)
            w.WriteEndObject()
            w.WriteStartObject "nodes"
            for node in Array.append (Graph.senders shape) [| Logits |] do
                w.WriteStartObject(Node.name node)
                // A node score of null would stop EAP-IG's reader, which stores every score it finds in a tensor.
                w.WriteBoolean("in_graph", inGraph.Contains node)
                w.WriteEndObject()
            w.WriteEndObject()
            w.WriteStartObject "edges"
            for id in 0 .. edges.Length - 1 do
                w.WriteStartObject(Edge.name edges[id])
                match scores with
                | Some s -> w.WriteNumber("score", s[id])
                | None -> w.WriteNull "score"
                w.WriteBoolean("in_graph", circuit.Edges.Contains id)
                w.WriteEndObject()
            w.WriteEndObject()
            w.WriteEndObject())

    let private property (o: JsonElement) (name: string) =
        match o.TryGetProperty name with
        | true, v -> Some v
        | _ -> None

    let private parseJson (text: string) (what: string) =
        match StrictJson.parse 1 text with
        | Ok doc -> doc
        | Error why -> fail $"{what} {why}"

    /// A cfg is optional; what it gives must agree with the model (the edges' names tell the rest).
    let private checkCfg shape (root: JsonElement) =
        match property root "cfg" with
        | None -> ()
        | Some c when c.ValueKind <> JsonValueKind.Object -> fail $"\"cfg\" must be an object, found {c.GetRawText()}"
        | Some cfg ->
            let count (name: string) expected (what: string) =
                match property cfg name with
                | Some v when v.ValueKind = JsonValueKind.Number && (match v.TryGetInt32() with ok, n -> ok && n = expected) -> ()
                | Some v -> fail $"\"cfg.{name}\" is {v.GetRawText()}, but the model has {expected} {what}"
                | None -> ()
            count "n_layers" shape.Layers "layers"
            count "n_heads" shape.Heads "heads per layer"
            match property cfg "parallel_attn_mlp" with
            | Some v when v.ValueKind = JsonValueKind.True ->
                fail "\"cfg.parallel_attn_mlp\" is true, but GPT-2's MLP reads the attention's output, so its graph has attention-to-MLP edges that a parallel graph lacks"
            | _ -> ()

    /// The edges a name stands for, checked against the shape. MIB's graphs of attention-only models still list
    /// MLP edges; such an edge is skipped when it is out of the graph, and refused when the file keeps it.
    let private edgesOf shape (name: string) (inGraph: bool) =
        match Edge.parse name with
        | Error e -> fail $"edge \"{name}\": {e}"
        | Ok edges ->
            let touchesMlp e = e.Sender.IsMlp || (Receiver.node e.Receiver).IsMlp
            match List.tryFind (Graph.contains shape >> not) edges with
            | Some e when not shape.HasMlp && touchesMlp e && not inGraph -> []
            | Some e when not shape.HasMlp && touchesMlp e ->
                fail $"edge \"{name}\" touches an MLP and is in the graph, but the model is attention-only (its blocks have no MLP)"
            | Some _ ->
                fail $"edge \"{name}\" is not in the graph of the model ({shape.Layers} layers of {shape.Heads} heads; a receiver reads only the input and earlier senders)"
            | None -> edges

    let private importDoc shape (text: string) =
        use doc = parseJson text "the text"
        let root = doc.RootElement
        if root.ValueKind <> JsonValueKind.Object then
            fail $"the text is not a JSON object but {root.ValueKind}; MIB's graph JSON is {{\"cfg\": ..., \"nodes\": ..., \"edges\": ...}}"
        checkCfg shape root
        let edgesField =
            match property root "edges" with
            | Some e when e.ValueKind = JsonValueKind.Object -> e
            | Some e -> fail $"\"edges\" must be an object from edge name to {{\"score\", \"in_graph\"}}, found {e.ValueKind}"
            | None -> fail "lacks the field \"edges\""
        let count = Graph.edgeCount shape
        let scores: float option[] = Array.create count None
        let listed = Array.create count false
        let kept = ResizeArray()
        for entry in edgesField.EnumerateObject() do
            let name = entry.Name
            let v = entry.Value
            if v.ValueKind <> JsonValueKind.Object then fail $"edge \"{name}\" must be an object {{\"score\", \"in_graph\"}}, found {v.GetRawText()}"
            let inGraph =
                match property v "in_graph" with
                | Some b when b.ValueKind = JsonValueKind.True -> true
                | Some b when b.ValueKind = JsonValueKind.False -> false
                | Some b -> fail $"edge \"{name}\": \"in_graph\" must be true or false, found {b.GetRawText()}"
                | None -> fail $"edge \"{name}\" lacks the field \"in_graph\""
            let score =
                match property v "score" with
                | None -> None
                | Some s when s.ValueKind = JsonValueKind.Null -> None
                | Some s when s.ValueKind = JsonValueKind.Number -> Some(s.GetDouble())
                | Some s -> fail $"edge \"{name}\": \"score\" must be a number or null, found {s.GetRawText()}"
            for e in edgesOf shape name inGraph do
                let id = Graph.edgeId shape e
                if listed[id] then fail $"edge \"{name}\" lists {Edge.name e}, which an earlier entry already gave"
                listed[id] <- true
                scores[id] <- score
                if inGraph then kept.Add id
        let scored = scores |> Array.filter Option.isSome |> Array.length
        let scoreArray =
            if scored = 0 then None
            elif scored = count then Some(Array.map Option.get scores)
            else
                let id = Array.findIndex Option.isNone scores
                let why = if listed[id] then "has no score" else "is missing"
                fail $"edge \"{Edge.name (Graph.edge shape id)}\" {why}, but {scored} other edges have scores; score every edge or none"
        { Shape = shape; Edges = Set.ofSeq kept }, scoreArray

    let importMib shape (text: string) =
        try Ok(importDoc shape text) with Bad message -> Error message

    let writeReport (path: string) (report: CircuitReport) =
        let number (w: Utf8JsonWriter) (what: string) (name: string) (x: float) =
            if Double.IsNaN x then w.WriteNull name
            elif Double.IsInfinity x then invalidArg "report" $"the {what} \"{name}\" is {x}; JSON holds only finite numbers and NaN (as null)"
            else w.WriteNumber(name, x)
        let text =
            write (fun w ->
                w.WriteStartObject()
                w.WriteString("library_version", report.LibraryVersion)
                w.WriteString("model", report.Model)
                w.WriteString("task", report.Task)
                w.WriteString("granularity", report.Granularity)
                w.WriteNumber("seed", report.Seed)
                w.WriteStartObject "hyperparameters"
                for name, value in report.Hyperparameters do w.WriteString(name, value)
                w.WriteEndObject()
                w.WriteStartObject "edges"
                for name, score in report.Edges do number w "score of edge" name score
                w.WriteEndObject()
                w.WriteStartObject "metrics"
                for name, value in report.Metrics do number w "metric" name value
                w.WriteEndObject()
                w.WriteStartArray "warnings"
                for warning in report.Warnings do w.WriteStringValue(warning: string)
                w.WriteEndArray()
                w.WriteEndObject())
        PatchDescent.Model.AtomicFile.WriteText(path, text)

    let private required = [ "library_version"; "model"; "task"; "granularity"; "seed"; "hyperparameters"; "edges"; "metrics" ]

    let private readDoc (text: string) =
        use doc = parseJson text "it"
        let root = doc.RootElement
        if root.ValueKind <> JsonValueKind.Object then fail $"is not a JSON object but {root.ValueKind}"
        match [ for name in required do if (property root name).IsNone then $"\"{name}\"" ] with
        | [] -> ()
        | [ name ] -> fail $"lacks the field {name}"
        | names -> fail $"""lacks the fields {String.Join(", ", names)}"""
        let field (name: string) (kind: JsonValueKind) (what: string) =
            match property root name with
            | Some v when v.ValueKind = kind -> v
            | Some v -> fail $"\"{name}\" must be {what}, found {v.GetRawText()}"
            | None -> fail $"lacks the field \"{name}\""
        let text name = (field name JsonValueKind.String "a string").GetString() |> nonNull
        let entries name (read: string -> JsonElement -> 'a) =
            [ for p in (field name JsonValueKind.Object "an object").EnumerateObject() -> p.Name, read p.Name p.Value ]
        let number (section: string) (name: string) (v: JsonElement) =
            match v.ValueKind with
            | JsonValueKind.Null -> nan
            | JsonValueKind.Number -> v.GetDouble()
            | _ -> fail $"\"{section}\".\"{name}\" must be a number or null (NaN), found {v.GetRawText()}"
        let seed =
            let v = field "seed" JsonValueKind.Number "an integer"
            match v.TryGetInt32() with
            | true, s -> s
            | _ -> fail $"\"seed\" must be an integer, found {v.GetRawText()}"
        { LibraryVersion = text "library_version"
          Model = text "model"
          Task = text "task"
          Granularity = text "granularity"
          Seed = seed
          Hyperparameters =
            entries "hyperparameters" (fun name v ->
                if v.ValueKind <> JsonValueKind.String then fail $"\"hyperparameters\".\"{name}\" must be a string, found {v.GetRawText()}"
                nonNull (v.GetString()))
          Edges = entries "edges" (number "edges")
          Metrics = entries "metrics" (number "metrics")
          // Reports written before warnings existed have none.
          Warnings =
            match property root "warnings" with
            | None -> []
            | Some v when v.ValueKind = JsonValueKind.Array ->
                [ for w in v.EnumerateArray() ->
                    if w.ValueKind <> JsonValueKind.String then fail $"\"warnings\" must hold strings, found {w.GetRawText()}"
                    nonNull (w.GetString()) ]
            | Some v -> fail $"\"warnings\" must be an array of strings, found {v.GetRawText()}" }

    let readReport (path: string) =
        if not (File.Exists path) then Error $"{path}: no such file"
        else
            try Ok(readDoc (File.ReadAllText path)) with Bad message -> Error $"{path}: {message}"

    /// The edges of a `circuit.json`'s "edges" object, each checked against the shape.
    let private reportEdges shape (edges: JsonElement) =
        [ for entry in edges.EnumerateObject() do
            if entry.Value.ValueKind <> JsonValueKind.Number && entry.Value.ValueKind <> JsonValueKind.Null then
                fail $"\"edges\".\"{entry.Name}\" must be a score (a number or null), found {entry.Value.GetRawText()}"
            match Edge.parse entry.Name with
            | Error e -> fail $"edge \"{entry.Name}\": {e}"
            | Ok es ->
                match es |> List.tryFind (Graph.contains shape >> not) with
                | Some e ->
                    let mlp = if shape.HasMlp then "with MLPs" else "attention only"
                    fail $"edge \"{Edge.name e}\" is not in the model's graph ({shape.Layers} layers, {shape.Heads} heads, {mlp}); was the circuit found on another model?"
                | None -> yield! es ]

    let readCircuit shape (text: string) =
        try
            use doc = parseJson text "it"
            let root = doc.RootElement
            if root.ValueKind <> JsonValueKind.Object then fail $"is not a JSON object but {root.ValueKind}"
            let edges =
                match property root "edges" with
                | Some e when e.ValueKind = JsonValueKind.Object -> e
                | Some e -> fail $"\"edges\" must be an object, found {e.ValueKind}"
                | None -> fail "lacks the field \"edges\", the one field a circuit needs"
            let recordedModel =
                match property root "model" with
                | Some m when m.ValueKind = JsonValueKind.String -> m.GetString() |> Option.ofObj
                | _ -> None
            // MIB's edges are objects {score, in_graph}; a report's are scores.
            let isMib = (property root "cfg").IsSome || (edges.EnumerateObject() |> Seq.exists (fun p -> p.Value.ValueKind = JsonValueKind.Object))
            if isMib then Ok(Mib, fst (importDoc shape text), recordedModel)
            else Ok(Report, Circuit.ofEdges shape (reportEdges shape edges), recordedModel)
        with Bad message -> Error message
