module PatchDescent.Search.Tasks.TriggerPairs

open System
open PatchDescent.Search

let metric = Metric.AnswerLogit

/// The first position whose token is a trigger seen before, with the position of that earlier occurrence.
let private firstRepeat (task: TriggerTask) (tokens: int[]) =
    let seen = Collections.Generic.Dictionary<int, int>()
    tokens
    |> Array.indexed
    |> Array.tryPick (fun (q, x) ->
        if not (task.IsTrigger x) then None
        else
            match seen.TryGetValue x with
            | true, j -> Some(q, j)
            | _ ->
                seen[x] <- q
                None)

let generate (task: TriggerTask) size seed =
    if size < 1 then invalidArg "size" $"a dataset needs at least one pair, asked for {size}"
    let rng = Random seed
    let outputs = Array.ofSeq task.OutputTokens
    let rec pair attempts =
        if attempts > 1000 then
            failwith $"1,000 sampled sequences of the trigger task had no repeated trigger; raise trigger_rate or seq_len"
        let tokens = (task.Sample rng).Tokens
        match firstRepeat task tokens with
        | None -> pair (attempts + 1)
        | Some(q, j) ->
            let clean = tokens[..q]
            let answer = clean[j + 1]
            let fresh = outputs |> Array.filter ((<>) answer)
            let wrong = fresh[rng.Next fresh.Length]
            // The earlier occurrence goes whole, trigger and output: interchange patching sees an edge only where
            // clean and corrupted differ, and the previous-token head's message at j + 1 ("the token before me was
            // the trigger") differs only when the trigger does, while the copied token differs only when the output does.
            let corrupted = Array.copy clean
            corrupted[j] <- outputs[rng.Next outputs.Length]
            corrupted[j + 1] <- wrong
            { Clean = clean; Corrupted = corrupted; Answer = answer; Wrong = Some wrong; Threshold = None }
    let triggers = String.Join(", ", task.Triggers)
    { Source = $"trigger task (vocabulary {task.Vocab}, triggers {triggers}, {task.SeqLen} tokens, seed {seed})"
      Pairs = Array.init size (fun _ -> pair 0) }
