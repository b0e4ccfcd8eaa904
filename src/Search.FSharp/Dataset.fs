namespace PatchDescent.Search

open System
open System.IO
open System.Text.Json
open PatchDescent.Model

type ThresholdSet = { Above: int list; AtOrBelow: int list }

type Pair = { Clean: int[]; Corrupted: int[]; Answer: int; Wrong: int option; Threshold: ThresholdSet option }

type PairDataset = { Source: string; Pairs: Pair[] }

type PairBatch =
    { Length: int
      Lengths: int[]
      Clean: int64[][]
      Corrupted: int64[][]
      Answers: int64[]
      Wrongs: int64[] option
      Thresholds: ThresholdSet[] option }

module Dataset =
    /// Why one line was rejected; `load` adds the file and the line.
    exception BadLine of string

    let fail message = raise (BadLine message)

    // Plain quotes: JSON escaping would show an apostrophe or any non-ASCII letter as \uXXXX.
    let quote (s: string) = $"\"{s}\""

    // A null is present, so that its type error says what the field needs rather than that it is missing.
    let field (line: JsonElement) (name: string) =
        match line.TryGetProperty name with
        | true, v -> Some v
        | _ -> None

    let required (line: JsonElement) (name: string) (form: string) =
        match field line name with
        | Some v -> v
        | None -> fail $"lacks the field \"{name}\"; a line is {form}"

    let textForm = """{"clean": "...", "corrupted": "...", "answer": "...", "wrong": "..."} ("wrong" optional)"""
    let idForm = """{"clean_ids": [...], "corrupted_ids": [...], "answer_id": N, "wrong_id": N} ("wrong_id" optional)"""

    let text (v: JsonElement) name =
        if v.ValueKind <> JsonValueKind.String then fail $"\"{name}\" must be a string, found {v.GetRawText()}"
        nonNull (v.GetString())

    let tokenId vocabSize (v: JsonElement) (name: string) =
        let ok, id = if v.ValueKind = JsonValueKind.Number then v.TryGetInt32() else (false, 0)
        if not ok then
            match v.ValueKind, (if v.ValueKind = JsonValueKind.Number then v.TryGetDecimal() else (false, 0m)) with
            | JsonValueKind.Number, (true, d) when d = Math.Round d ->
                fail $"{name} is id {v.GetRawText()}, outside the vocabulary [0, {vocabSize})"
            | _ -> fail $"{name} is {v.GetRawText()}, not an integer token id"
        id

    let tokenIds vocabSize (v: JsonElement) (name: string) =
        if v.ValueKind <> JsonValueKind.Array then fail $"\"{name}\" must be an array of token ids, found {v.GetRawText()}"
        v.EnumerateArray() |> Seq.mapi (fun i x -> tokenId vocabSize x $"\"{name}\"[{i}]") |> Array.ofSeq

    let bosOf (tokenizer: Tokenizer) =
        match Option.ofNullable tokenizer.Bos with
        | Some b -> b
        | None -> failwith "the model's tokenizer has no BOS token (Qwen2's adds none), so no prompt can begin with one; ask for prompts without BOS"

    /// The BOS a line's "bos": true asks for; a line error where the tokenizer has none.
    let private lineBos (tokenizer: Lazy<Tokenizer>) =
        match Option.ofNullable tokenizer.Value.Bos with
        | Some b -> b
        | None -> fail "says \"bos\": true, but the model's tokenizer has no BOS token"

    let singleToken (tokenizer: Lazy<Tokenizer>) (v: JsonElement) (name: string) =
        let s = text v name
        match tokenizer.Value.Encode s with
        | [| id |] -> id
        | ids ->
            let list = String.Join(", ", ids)
            fail $"\"{name}\" {quote s} is {ids.Length} tokens [{list}], not one; it must be a single token of the model's tokenizer (most words need their leading space, as in \" Mary\")"

    let checkPrompt vocabSize positions (name: string) (ids: int[]) =
        if ids.Length = 0 then fail $"\"{name}\" is empty; a prompt needs at least one token"
        if ids.Length > positions then
            fail $"\"{name}\" is {ids.Length} tokens, more than the model's {positions} positions (n_positions in its config.json)"
        ids |> Array.iteri (fun i id ->
            if id < 0 || id >= vocabSize then fail $"\"{name}\" token {i} is id {id}, outside the vocabulary [0, {vocabSize})")

    let checkToken vocabSize (name: string) id =
        if id < 0 || id >= vocabSize then fail $"\"{name}\" is id {id}, outside the vocabulary [0, {vocabSize})"

    let tokenTexts tokenizer (v: JsonElement) (name: string) =
        if v.ValueKind <> JsonValueKind.Array then fail $"\"{name}\" must be an array of single-token strings, found {v.GetRawText()}"
        v.EnumerateArray() |> Seq.mapi (fun i x -> singleToken tokenizer x $"{name}[{i}]") |> List.ofSeq

    /// The pair's threshold set from `above`/`at_or_below` (text) or `above_ids`/`at_or_below_ids`, if present.
    let threshold tokenizer vocabSize (o: JsonElement) (isText: bool) =
        let above, below = if isText then "above", "at_or_below" else "above_ids", "at_or_below_ids"
        let read name v = if isText then tokenTexts tokenizer v name else List.ofArray (tokenIds vocabSize v name)
        match field o above, field o below with
        | None, None -> None
        | Some _, None | None, Some _ ->
            fail $"has only one of \"{above}\" and \"{below}\"; a probability-difference pair needs both"
        | Some a, Some b -> Some { Above = read above a; AtOrBelow = read below b }

    /// Whether the line says its prompts begin with `<|endoftext|>` (`"bos": true`); false when absent.
    let bos (o: JsonElement) =
        match field o "bos" with
        | None -> false
        | Some v when v.ValueKind = JsonValueKind.True -> true
        | Some v when v.ValueKind = JsonValueKind.False -> false
        | Some v -> fail $"\"bos\" must be true or false, found {v.GetRawText()}"

    let textFields = [ "clean"; "corrupted"; "answer"; "wrong"; "above"; "at_or_below"; "bos" ]
    let idFields = [ "clean_ids"; "corrupted_ids"; "answer_id"; "wrong_id"; "above_ids"; "at_or_below_ids"; "bos" ]

    /// A line with text beside its ids (`writeWithText`): the pair its ids give, once every text field given is
    /// found to have an id field that says the same tokens. The text may be left out field by field, never the ids.
    let agreeing (tokenizer: Lazy<Tokenizer>) vocabSize (o: JsonElement) : Pair =
        let prompt name v =
            let prefix = if bos o then [| lineBos tokenizer |] else [||]
            Array.append prefix (tokenizer.Value.Encode(text v name))
        let ids =
            { Pair.Clean = tokenIds vocabSize (required o "clean_ids" idForm) "clean_ids"
              Corrupted = tokenIds vocabSize (required o "corrupted_ids" idForm) "corrupted_ids"
              Answer = tokenId vocabSize (required o "answer_id" idForm) "\"answer_id\""
              Wrong = field o "wrong_id" |> Option.map (fun w -> tokenId vocabSize w "\"wrong_id\"")
              Threshold = threshold tokenizer vocabSize o false }
        let show (a: int[]) = "[" + String.Join(", ", a) + "]"
        let check textName idName (read: JsonElement -> int[]) (expected: int[] option) =
            match field o textName, expected with
            | None, _ -> ()
            | Some _, None -> fail $"has \"{textName}\" but no \"{idName}\"; a line with text beside its ids gives every id field its text stands for"
            | Some v, Some want ->
                let got = read v
                if got <> want then
                    fail $"\"{textName}\" {v.GetRawText()} is the tokens {show got}, but \"{idName}\" is {show want}; the text and the ids disagree, so one of them was edited: correct it, or drop the text"
        check "clean" "clean_ids" (prompt "clean") (Some ids.Clean)
        check "corrupted" "corrupted_ids" (prompt "corrupted") (Some ids.Corrupted)
        check "answer" "answer_id" (fun v -> [| singleToken tokenizer v "answer" |]) (Some [| ids.Answer |])
        check "wrong" "wrong_id" (fun v -> [| singleToken tokenizer v "wrong" |]) (ids.Wrong |> Option.map (fun w -> [| w |]))
        check "above" "above_ids" (fun v -> Array.ofList (tokenTexts tokenizer v "above")) (ids.Threshold |> Option.map (fun t -> Array.ofList t.Above))
        check "at_or_below" "at_or_below_ids" (fun v -> Array.ofList (tokenTexts tokenizer v "at_or_below")) (ids.Threshold |> Option.map (fun t -> Array.ofList t.AtOrBelow))
        ids

    let parse (tokenizer: Lazy<Tokenizer>) vocabSize positions lineNumber (line: string) : Pair =
        use doc =
            match StrictJson.parse lineNumber line with
            | Ok doc -> doc
            | Error why -> fail $"{why}; write one JSON object a line"
        let o = doc.RootElement
        if o.ValueKind <> JsonValueKind.Object then fail $"is not a JSON object; a line is {textForm} or {idForm}"
        let isText, isIds = (field o "clean").IsSome, (field o "clean_ids").IsSome
        // A misspelt optional field would otherwise change the inferred metric without a word. A line with neither
        // prompt gets the error that names both forms instead.
        let allowed, form =
            if isText && isIds then List.distinct (idFields @ textFields), "text-and-id"
            elif isText then textFields, "text"
            else idFields, "token-id"
        for p in o.EnumerateObject() do
            if (isText || isIds) && not (List.contains p.Name allowed) then
                let list = String.Join(", ", allowed)
                fail $"has the field \"{p.Name}\", which a {form} line does not have; its fields are {list}"
        let names, pair =
            match field o "clean", field o "clean_ids" with
            | Some _, Some _ -> ("clean_ids", "corrupted_ids", "answer_id", "wrong_id"), agreeing tokenizer vocabSize o
            | Some clean, _ ->
                let prefix = if bos o then [| lineBos tokenizer |] else [||]
                let tokens name v = Array.append prefix (tokenizer.Value.Encode(text v name))
                ("clean", "corrupted", "answer", "wrong"),
                { Pair.Clean = tokens "clean" clean
                  Corrupted = tokens "corrupted" (required o "corrupted" textForm)
                  Answer = singleToken tokenizer (required o "answer" textForm) "answer"
                  Wrong = field o "wrong" |> Option.map (fun w -> singleToken tokenizer w "wrong")
                  Threshold = threshold tokenizer vocabSize o true }
            | None, Some clean ->
                ("clean_ids", "corrupted_ids", "answer_id", "wrong_id"),
                { Pair.Clean = tokenIds vocabSize clean "clean_ids"
                  Corrupted = tokenIds vocabSize (required o "corrupted_ids" idForm) "corrupted_ids"
                  Answer = tokenId vocabSize (required o "answer_id" idForm) "\"answer_id\""
                  Wrong = field o "wrong_id" |> Option.map (fun w -> tokenId vocabSize w "\"wrong_id\"")
                  Threshold = threshold tokenizer vocabSize o false }
            | None, None -> fail $"lacks the field \"clean\" or \"clean_ids\"; a line is {textForm} or {idForm}"
        let clean, corrupted, answer, wrong = names
        checkPrompt vocabSize positions clean pair.Clean
        checkPrompt vocabSize positions corrupted pair.Corrupted
        if pair.Clean.Length <> pair.Corrupted.Length then
            fail $"\"{clean}\" has {pair.Clean.Length} tokens and \"{corrupted}\" has {pair.Corrupted.Length}; a pair's prompts need the same token count, since patching aligns them position by position"
        checkToken vocabSize answer pair.Answer
        pair.Wrong |> Option.iter (checkToken vocabSize wrong)
        pair.Threshold |> Option.iter (fun t ->
            let above, below = if clean = "clean" then "above", "at_or_below" else "above_ids", "at_or_below_ids"
            t.Above |> List.iteri (fun i id -> checkToken vocabSize $"{above}[{i}]" id)
            t.AtOrBelow |> List.iteri (fun i id -> checkToken vocabSize $"{below}[{i}]" id))
        if clean = "clean_ids" && bos o then
            let b = lineBos tokenizer
            if pair.Clean[0] <> b || pair.Corrupted[0] <> b then
                fail $"says \"bos\": true, but its prompts start with ids {pair.Clean[0]} and {pair.Corrupted[0]}, not {b}, the tokenizer's BOS"
        pair

    let load (path: string) (vocabSize: int) (positions: int) (tokenizer: Lazy<Tokenizer>) : Result<PairDataset, string> =
        if Directory.Exists path then Error $"{path}: is a folder; give a JSONL file of pairs"
        elif not (File.Exists path) then Error $"{path}: no such file"
        else
            let parsed =
                File.ReadAllLines path
                |> Seq.indexed
                |> Seq.filter (fun (_, line) -> not (String.IsNullOrWhiteSpace line))
                |> Seq.map (fun (i, line) ->
                    try Ok(i + 1, parse tokenizer vocabSize positions (i + 1) line) with
                        | BadLine message -> Error $"{path}:{i + 1}: {message}"
                        | :? ModelFormatException as e -> Error $"{path}:{i + 1}: its text needs the model's tokenizer: {e.Message}")
                |> Array.ofSeq
            match parsed |> Array.tryPick (function Error e -> Some e | Ok _ -> None) with
            | Some e -> Error e
            | None ->
                let lines = parsed |> Array.choose (function Ok p -> Some p | Error _ -> None)
                // A metric reads the same fields of every pair, so a field is on every line or none.
                let mixed (has: Pair -> bool) (what: string) =
                    match lines |> Array.tryFind (snd >> has), lines |> Array.tryFind (snd >> has >> not) with
                    | Some (first, _), Some (line, _) ->
                        Some $"{path}:{line}: has no {what}, but line {first} has one; give every pair {what} or none"
                    | _ -> None
                if lines.Length = 0 then
                    Error $"{path}: no pairs (the file is empty or only blank lines); write one JSON object a line"
                else
                    match mixed (fun p -> p.Wrong.IsSome) "wrong answer", mixed (fun p -> p.Threshold.IsSome) "threshold set (above/at_or_below)" with
                    | Some e, _ | None, Some e -> Error e
                    | None, None -> Ok { Source = path; Pairs = Array.map snd lines }

    // Names and numbers stay as typed (no \u escapes of quotes or non-ASCII letters); the file is read as JSON only.
    let private readableJson = JsonSerializerOptions(Encoder = Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping)

    /// A pair's token-id line, with the text of its prompts and answers first when `text` decodes ids.
    let private line (tokenizer: Tokenizer) (withText: bool) (index: int) (p: Pair) =
        let ids (a: int[]) = String.Join(", ", a)
        let bosFirst = tokenizer.Bos.HasValue && p.Clean[0] = tokenizer.Bos.Value && p.Corrupted[0] = tokenizer.Bos.Value
        let readable =
            if not withText then ""
            else
                let json (s: string) = JsonSerializer.Serialize(s, readableJson)
                // The text a reader sees must read back as these ids, or the file would disagree with itself.
                let spelled name (tokens: int[]) =
                    let t = tokenizer.Decode tokens
                    let again = tokenizer.Encode t
                    if again <> tokens then
                        failwith $"pair {index + 1}: the {name} ids [{ids tokens}] decode to {json t}, which tokenizes as [{ids again}]; that pair cannot be written as text that reads back the same"
                    json t
                let prompt name (tokens: int[]) = spelled name (if bosFirst then tokens[1..] else tokens)
                let clean, corrupted, answer = prompt "clean" p.Clean, prompt "corrupted" p.Corrupted, spelled "answer" [| p.Answer |]
                let wrong = p.Wrong |> Option.map (fun w -> ", \"wrong\": " + spelled "wrong" [| w |]) |> Option.defaultValue ""
                $"\"clean\": {clean}, \"corrupted\": {corrupted}, \"answer\": {answer}{wrong}, "
        let wrong = p.Wrong |> Option.map (fun w -> $", \"wrong_id\": {w}") |> Option.defaultValue ""
        let threshold =
            p.Threshold
            |> Option.map (fun t -> $", \"above_ids\": [{ids (Array.ofList t.Above)}], \"at_or_below_ids\": [{ids (Array.ofList t.AtOrBelow)}]")
            |> Option.defaultValue ""
        let bos = if bosFirst then "true" else "false"
        $$"""{{{readable}}"clean_ids": [{{ids p.Clean}}], "corrupted_ids": [{{ids p.Corrupted}}], "answer_id": {{p.Answer}}{{wrong}}{{threshold}}, "bos": {{bos}}}"""

    let write (path: string) (dataset: PairDataset) =
        AtomicFile.WriteLines(path, Array.mapi (line Tokenizer.Gpt2 false) dataset.Pairs)

    let writeWithText (tokenizer: Tokenizer) (path: string) (dataset: PairDataset) =
        let lines = Array.mapi (line tokenizer true) dataset.Pairs
        AtomicFile.WriteLines(path, lines)

    let batches (batchSize: int) (dataset: PairDataset) : PairBatch list =
        if batchSize < 1 then invalidArg "batchSize" $"a batch needs at least one pair, got batch size {batchSize}"
        // List.sortBy is stable, unlike Array.sortBy: pairs of one length keep their dataset order.
        let sorted = dataset.Pairs |> List.ofArray |> List.sortBy (fun p -> p.Clean.Length) |> Array.ofList
        [ for chunk in Array.chunkBySize batchSize sorted ->
              let length = chunk |> Array.map (fun p -> p.Clean.Length) |> Array.max
              // Padding id 0 is in every vocabulary; attention never reads it, and metrics read the last real token.
              let padded (ids: int[]) = Array.init length (fun i -> if i < ids.Length then int64 ids[i] else 0L)
              let wrongs = chunk |> Array.choose (fun p -> p.Wrong |> Option.map int64)
              let thresholds = chunk |> Array.choose (fun p -> p.Threshold)
              { PairBatch.Length = length
                Lengths = chunk |> Array.map (fun p -> p.Clean.Length)
                Clean = chunk |> Array.map (fun p -> padded p.Clean)
                Corrupted = chunk |> Array.map (fun p -> padded p.Corrupted)
                Answers = chunk |> Array.map (fun p -> int64 p.Answer)
                Wrongs = if wrongs.Length = chunk.Length then Some wrongs else None
                Thresholds = if thresholds.Length = chunk.Length then Some thresholds else None } ]

    let mask (batch: PairBatch) =
        batch.Lengths |> Array.map (fun n -> Array.init batch.Length (fun i -> if i < n then 1L else 0L))
