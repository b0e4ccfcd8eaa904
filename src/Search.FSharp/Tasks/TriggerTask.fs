namespace PatchDescent.Search.Tasks

open System
open System.Collections.Generic
open System.IO
open System.Linq
open System.Text.Json
open System.Text.Json.Nodes
open PatchDescent.Model

[<Sealed>]
type TriggerSequence(tokens: int[], outputs: IReadOnlyDictionary<int, int>) =
    member _.Tokens = tokens
    member _.Outputs = outputs
    member _.PredictablePositions(task: TriggerTask) : IReadOnlyList<int> =
        [| for t in 1 .. tokens.Length - 1 do
               let previous = tokens[t - 1]
               if task.IsTrigger previous && Array.contains previous tokens[.. t - 2] then t |]

and [<Sealed>] TriggerTask(vocab: int, triggers: IReadOnlyList<int>, seqLen: int, bigramSeed: int, bigramSharpness: float, triggerRate: float) =
    let triggers = Array.ofSeq triggers
    let triggerSet = HashSet<int>(triggers)
    let outputTokens = [| for t in 0 .. vocab - 1 do if not (triggerSet.Contains t) then t |]

    static let standardNormal (rng: Random) =
        let u1 = rng.NextDouble()
        let u2 = rng.NextDouble()
        Math.Sqrt(-2.0 * Math.Log(1.0 - u1)) * Math.Cos(2.0 * Math.PI * u2)

    // The reductions are LINQ's, the ones the shipped models' tables were made with, so the tables agree to the bit.
    let bigram =
        lazy
            // Seeded separately from the sequences (and offset from the trigger draw), so the table is a fixed part of the task.
            let rng = Random(bigramSeed + 7919)
            Array.init vocab (fun _ ->
                let logits = Array.init vocab (fun _ -> bigramSharpness * standardNormal rng)
                let max = Enumerable.Max logits
                let w = logits |> Array.mapi (fun j x -> if triggerSet.Contains j then 0.0 else Math.Exp(x - max))
                let sum = Enumerable.Sum w
                w |> Array.map (fun x -> x / sum))

    let bigramRows = lazy [| for row in bigram.Value -> row :> IReadOnlyList<float> |]

    static let draw (distribution: float[]) (rng: Random) =
        let rec go i u =
            // Rounding can leave a sliver past the last entry, which the last entry takes.
            if i = distribution.Length - 1 then i
            else
                let rest = u - distribution[i]
                if rest < 0.0 then i else go (i + 1) rest
        go 0 (rng.NextDouble())

    static let defaultTask = TriggerTask.Create(64, 6, 64, 0, 1.5, 0.2)

    member _.Vocab = vocab
    member _.Triggers: IReadOnlyList<int> = triggers
    member _.SeqLen = seqLen
    member _.BigramSeed = bigramSeed
    member _.BigramSharpness = bigramSharpness
    member _.TriggerRate = triggerRate

    static member Default = defaultTask

    static member Create(vocab: int, triggers: int, seqLen: int, bigramSeed: int, bigramSharpness: float, triggerRate: float) =
        if triggers < 1 || triggers >= vocab then
            invalidArg "triggers" $"the trigger task needs between 1 and vocab - 1 = {vocab - 1} triggers; got {triggers}"
        let rng = Random bigramSeed
        let chosen = Enumerable.Range(0, vocab).OrderBy(fun _ -> rng.Next()).Take(triggers).Order().ToArray()
        TriggerTask(vocab, chosen, seqLen, bigramSeed, bigramSharpness, triggerRate).Validate "trigger task"

    member this.Validate(source: string) =
        let fail (field: string) problem = raise (ModelFormatException(source, field, problem))
        if vocab < 2 then fail "vocab" $"must be at least 2, found {vocab}"
        if seqLen < 2 then fail "seq_len" $"must be at least 2, found {seqLen}"
        if triggers.Length = 0 || triggers.Length >= vocab then fail "triggers" $"needs 1 to {vocab - 1} tokens, found {triggers.Length}"
        match triggers |> Array.tryFind (fun t -> t < 0 || t >= vocab) with
        | Some t -> fail "triggers" $"token {t} is outside [0, {vocab})"
        | None -> ()
        if triggerSet.Count <> triggers.Length then fail "triggers" "lists a token twice"
        if not (bigramSharpness >= 0.0) then fail "bigram_sharpness" $"must be 0 or more, found {bigramSharpness}"
        if not (triggerRate >= 0.0 && triggerRate < 1.0) then fail "trigger_rate" $"must be in [0, 1), found {triggerRate}"
        this

    member _.IsTrigger(token: int) = triggerSet.Contains token

    member _.Bigram: IReadOnlyList<IReadOnlyList<float>> = bigramRows.Value

    member _.OutputTokens: IReadOnlyList<int> = outputTokens

    member _.Sample(rng: Random) =
        let outputs = Dictionary<int, int>()
        for t in triggers do outputs[t] <- outputTokens[rng.Next outputTokens.Length]
        let next previous =
            match outputs.TryGetValue previous with
            | true, o -> o
            | _ when rng.NextDouble() < triggerRate -> triggers[rng.Next triggers.Length]
            | _ -> draw bigram.Value[previous] rng
        let first = rng.Next vocab
        let tokens = Array.scan (fun previous _ -> next previous) first (Array.zeroCreate<unit> (seqLen - 1))
        TriggerSequence(tokens, outputs)

    member _.MeanBigramEntropy =
        let r = triggerRate
        let triggerDraw = if r > 0.0 then -r * Math.Log(r / float triggers.Length) else 0.0
        outputTokens.Average(fun i ->
            triggerDraw - bigram.Value[i].Where(fun p -> p > 0.0).Sum(fun p -> (1.0 - r) * p * Math.Log((1.0 - r) * p)))

    member _.ToJson() =
        let json = JsonObject()
        json["task"] <- JsonValue.Create "induction"
        json["kind"] <- JsonValue.Create "trigger"
        json["vocab"] <- JsonValue.Create vocab
        json["triggers"] <- JsonArray([| for t in triggers -> JsonValue.Create t :> JsonNode |])
        json["seq_len"] <- JsonValue.Create seqLen
        json["bigram_seed"] <- JsonValue.Create bigramSeed
        json["bigram_sharpness"] <- JsonValue.Create bigramSharpness
        json["trigger_rate"] <- JsonValue.Create triggerRate
        json.ToJsonString(JsonSerializerOptions(WriteIndented = true))

    static member Load(path: string) =
        if not (File.Exists path) then raise (ModelFormatException(path, null, "file not found"))
        TriggerTask.Parse(path, File.ReadAllText path)

    static member Parse(source: string, text: string) =
        let json =
            try
                match JsonNode.Parse text with
                | :? JsonObject as o -> o
                | _ -> raise (ModelFormatException(source, null, "is not a JSON object"))
            with :? JsonException as e -> raise (ModelFormatException(source, null, $"is not valid JSON: {e.Message}"))
        let required (name: string) : JsonNode =
            match json[name] with
            | null -> raise (ModelFormatException(source, name, "required field is missing"))
            | node -> node
        try
            let kind = (required "kind").GetValue<string>()
            if kind <> "trigger" then raise (ModelFormatException(source, "kind", $"is '{kind}'; this reader takes the 'trigger' kind"))
            let token (node: JsonNode | null) =
                match node with
                | null -> raise (ModelFormatException(source, "triggers", "holds null where a token belongs"))
                | node -> node.GetValue<int>()
            let triggers = [| for n in (required "triggers").AsArray() -> token n |]
            TriggerTask((required "vocab").GetValue<int>(), triggers, (required "seq_len").GetValue<int>(),
                        (required "bigram_seed").GetValue<int>(), (required "bigram_sharpness").GetValue<float>(),
                        (required "trigger_rate").GetValue<float>()).Validate source
        with
        | :? InvalidOperationException | :? FormatException | :? NullReferenceException as e ->
            raise (ModelFormatException(source, null, $"a field has the wrong type: {e.Message}"))

    member this.Save(dir: string) = AtomicFile.WriteText(Path.Combine(dir, "task.json"), this.ToJson())
