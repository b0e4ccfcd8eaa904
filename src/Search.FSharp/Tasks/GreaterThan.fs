module PatchDescent.Search.Tasks.GreaterThan

open System
open PatchDescent.Model
open PatchDescent.Search

type Options = { Size: int; Seed: int; Split: Split; Bos: bool }

let name = "greater-than"

let metric = Metric.PairProbDiff

let defaults = { Size = 100; Seed = 1; Split = Train; Bos = false }

// Written for this project after the paper's description: nouns for things that last a span of years.
let nouns =
    [ " war"; " reign"; " expedition"; " project"; " campaign"; " occupation"; " empire"; " dynasty"; " trial"
      " pilgrimage"; " siege"; " journey"; " conflict"; " contract"; " rebellion"; " revolution"; " strike"; " crisis"
      " drought"; " partnership"; " alliance"; " voyage"; " tour" ]

let centuries = [ 11 .. 17 ]

let yearTokens (tokenizer: Tokenizer) =
    let ids = Array.init 100 (fun y -> tokenizer.Encode $"{y:D2}")
    match ids |> Array.tryFindIndex (fun t -> t.Length <> 1) with
    | Some y ->
        let list = String.Join(", ", ids[y])
        failwith $"greater-than needs each two-digit year 00-99 to be one token, as GPT-2's tokenizer has them; this model's tokenizer makes \"{y:D2}\" the {ids[y].Length} tokens [{list}]"
    | None -> Array.map Array.exactlyOne ids

/// Whether " XXYY" is the token " XX" followed by the token "YY".
let private splits (tokenizer: Tokenizer) (yearIds: int[]) (century: int) (year: int) =
    tokenizer.Encode $" {century}{year:D2}" = [| yield! tokenizer.Encode $" {century}"; yearIds[year] |]

let years (tokenizer: Tokenizer) (century: int) =
    let yearIds = yearTokens tokenizer
    if splits tokenizer yearIds century 1 then [ for y in 2 .. 98 do if splits tokenizer yearIds century y then y ] else []

let generate (tokenizer: Tokenizer) (options: Options) =
    if options.Size < 1 then invalidArg "options" $"a greater-than dataset needs at least one pair, got size {options.Size}"
    let rng = Random options.Seed
    let pick (list: 'a list) = list[rng.Next list.Length]
    let yearTokens = yearTokens tokenizer
    let startYears = centuries |> List.map (fun c -> c, years tokenizer c) |> List.filter (snd >> List.isEmpty >> not)
    if startYears.IsEmpty then
        failwith "greater-than needs years written \" CCYY\" to be the century's token and then the year's; this model's tokenizer splits no century 11-17 that way"
    let prefix = if options.Bos then [| Dataset.bosOf tokenizer |] else [||]
    let encode (text: string) = Array.append prefix (tokenizer.Encode text)
    let prompt noun century (year: int) = $"The{noun} lasted from the year {century}{year:D2} to the year {century}"
    let pairs = ResizeArray<Pair>()
    while pairs.Count < options.Size do
        let noun = pick nouns
        let century, ys = pick startYears
        let year = pick ys
        let clean = prompt noun century year
        if Split.ofPrompt clean = options.Split then
            pairs.Add
                { Clean = encode clean
                  Corrupted = encode (prompt noun century 1)
                  Answer = yearTokens[year + 1]
                  Wrong = None
                  Threshold = Some { Above = [ for y in year + 1 .. 99 -> yearTokens[y] ]; AtOrBelow = [ for y in 0 .. year -> yearTokens[y] ] } }
    let split = (sprintf "%A" options.Split).ToLowerInvariant()
    { Source = $"greater-than (n {options.Size}, seed {options.Seed}, {split} split, bos {(string options.Bos).ToLowerInvariant()})"; Pairs = pairs.ToArray() }
