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

let yearTokens = Array.init 100 (fun y -> Tokenizer.Gpt2.Encode $"{y:D2}" |> Array.exactlyOne)

/// Whether " XXYY" is the token " XX" followed by the token "YY".
let private splits (century: int) (year: int) =
    Tokenizer.Gpt2.Encode $" {century}{year:D2}" = [| yield! Tokenizer.Gpt2.Encode $" {century}"; yearTokens[year] |]

let years (century: int) = if splits century 1 then [ for y in 2 .. 98 do if splits century y then y ] else []

let generate (options: Options) =
    if options.Size < 1 then invalidArg "options" $"a greater-than dataset needs at least one pair, got size {options.Size}"
    let rng = Random options.Seed
    let pick (list: 'a list) = list[rng.Next list.Length]
    let startYears = centuries |> List.map (fun c -> c, years c) |> List.filter (snd >> List.isEmpty >> not)
    let prefix = if options.Bos then [| Tokenizer.EndOfText |] else [||]
    let encode (text: string) = Array.append prefix (Tokenizer.Gpt2.Encode text)
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
