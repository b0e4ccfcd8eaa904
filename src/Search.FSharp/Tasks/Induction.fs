module PatchDescent.Search.Tasks.Induction

open System
open System.IO
open System.Text.Json
open PatchDescent.Search

type Kind =
    | RepeatedSpan of minSpan: int * maxSpan: int
    | Trigger of TriggerTask

type Spec = { Vocab: int; Bos: int option; Kind: Kind }

let name = "induction"

let metric = Metric.AnswerLogit

let private kinds = "\"repeated-span\", \"trigger\""

/// Tokens a span may use: every token but BOS.
let private spanTokens spec = [| for t in 0 .. spec.Vocab - 1 do if Some t <> spec.Bos then yield t |]

let private check (source: string) spec =
    let minSpan, maxSpan =
        match spec.Kind with
        | RepeatedSpan(a, b) -> a, b
        | Trigger _ -> 2, 2
    let fail message = Error $"{source}: {message}"
    if spec.Vocab < 1 then fail $"\"vocab\" is {spec.Vocab}; it must be positive"
    elif spec.Bos |> Option.exists (fun b -> b < 0 || b >= spec.Vocab) then
        fail $"\"bos\" is {spec.Bos.Value}, outside the vocabulary [0, {spec.Vocab})"
    elif minSpan < 2 || maxSpan < minSpan then
        fail $"spans of {minSpan} to {maxSpan} tokens: a span needs at least 2 tokens (one to repeat, one to predict) and \"max_span\" >= \"min_span\""
    elif (spanTokens spec).Length < maxSpan then
        fail $"a vocabulary of {(spanTokens spec).Length} span tokens cannot hold a span of {maxSpan} distinct tokens; lower \"max_span\""
    else Ok spec

let parse (source: string) (json: string) =
    try
        use doc = JsonDocument.Parse json
        let root = doc.RootElement
        if root.ValueKind <> JsonValueKind.Object then Error $"{source}: not a JSON object; expected {{\"task\": \"induction\", \"kind\": {kinds}, ...}}"
        else
            let field (key: string) =
                match root.TryGetProperty key with
                | true, v when v.ValueKind <> JsonValueKind.Null -> Some v
                | _ -> None
            let int key =
                match field key with
                | Some v when v.ValueKind = JsonValueKind.Number && fst (v.TryGetInt32()) -> Ok(v.GetInt32())
                | Some v -> Error $"{source}: \"{key}\" is {v.GetRawText()}, not an integer"
                | None -> Error $"{source}: lacks the integer \"{key}\""
            let text key =
                match field key with
                | Some v when v.ValueKind = JsonValueKind.String -> Ok(nonNull (v.GetString()))
                | Some v -> Error $"{source}: \"{key}\" is {v.GetRawText()}, not a string"
                | None -> Error $"{source}: lacks the string \"{key}\""
            match text "task", text "kind" with
            | Error e, _ | _, Error e -> Error e
            | Ok task, _ when task <> name -> Error $"{source}: \"task\" is \"{task}\"; this reader knows \"{name}\""
            | Ok _, Ok "repeated-span" ->
                match int "vocab", int "min_span", int "max_span" with
                | Error e, _, _ | _, Error e, _ | _, _, Error e -> Error e
                | Ok vocab, Ok minSpan, Ok maxSpan ->
                    let bos = if (field "bos").IsNone then Ok None else int "bos" |> Result.map Some
                    match bos with
                    | Error e -> Error e
                    | Ok bos -> check source { Vocab = vocab; Bos = bos; Kind = RepeatedSpan(minSpan, maxSpan) }
            | Ok _, Ok "trigger" ->
                try
                    let task = TriggerTask.Parse(source, json)
                    Ok { Vocab = task.Vocab; Bos = None; Kind = Trigger task }
                with :? PatchDescent.Model.ModelFormatException as e -> Error e.Message
            | Ok _, Ok kind -> Error $"{source}: \"kind\" is \"{kind}\", which is not a known kind of induction data; known: {kinds}"
    with :? JsonException as e -> Error $"{source}: not valid JSON: {e.Message}"

let ofModelDir dir =
    let path = Path.Combine(dir, "task.json")
    if File.Exists path then parse path (File.ReadAllText path)
    else Error $"{path}: not found; a model folder names the data of its induction task in task.json"

let private repeatedSpans spec minSpan maxSpan size seed =
    if size < 1 then invalidArg "size" $"a dataset needs at least one pair, asked for {size}"
    let rng = Random seed
    let tokens = spanTokens spec
    let bos = Option.toArray spec.Bos
    /// n distinct span tokens by a partial Fisher-Yates shuffle, so a repeated token points at one earlier position.
    let span n =
        let pool = Array.copy tokens
        for i in 0 .. n - 1 do
            let j = rng.Next(i, pool.Length)
            let t = pool[i]
            pool[i] <- pool[j]
            pool[j] <- t
        pool[.. n - 1]
    let pair () =
        let n = rng.Next(minSpan, maxSpan + 1)
        let m = rng.Next(1, n)
        let r = span n
        // The corrupted prompt repeats another span at the same place, with another query token and another answer,
        // so every edge that carries a token (the earlier occurrence's or the query's) carries a different one.
        let s = Seq.initInfinite (fun _ -> span n) |> Seq.find (fun s -> s[m - 1] <> r[m - 1] && s[m] <> r[m])
        { Clean = Array.concat [ bos; r; r[.. m - 1] ]
          Corrupted = Array.concat [ bos; s; s[.. m - 1] ]
          Answer = r[m]
          Wrong = Some s[m]
          Threshold = None }
    { Source = $"induction (repeated spans of {minSpan}-{maxSpan} tokens, vocabulary {spec.Vocab}, seed {seed})"
      Pairs = Array.init size (fun _ -> pair ()) }

let generate spec size seed =
    match spec.Kind with
    | Trigger task -> TriggerPairs.generate task size seed
    | RepeatedSpan(minSpan, maxSpan) -> repeatedSpans spec minSpan maxSpan size seed
