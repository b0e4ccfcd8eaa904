/// Byte-level BPE by its published rules (GPT-2's encoder.py, as Llama 3 and Qwen2 use it): split the text with
/// the pre-tokenizer's regex, map each piece's UTF-8 bytes to printable characters by GPT-2's bytes_to_unicode
/// table, then merge the adjacent pair of lowest merge rank until none is left; written here, apart from any library,
/// to check tokenizers against. Also a tiny BPE trainer, so the tests can make vocabularies of their own.
module PatchDescent.Tests.Reference.ByteLevelBpe

open System
open System.Text
open System.Text.RegularExpressions

/// Llama 3's pre-tokenizer pattern (digits in runs of up to three).
let llama3Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

/// Qwen2's pre-tokenizer pattern (one digit a piece).
let qwen2Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

/// GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the other bytes to 256, 257, ... in order.
let byteChar : string[] =
    let printable = [ yield! [ int '!' .. int '~' ]; yield! [ 0xA1 .. 0xAC ]; yield! [ 0xAE .. 0xFF ] ] |> Set.ofList
    let mutable next = 256
    Array.init 256 (fun b ->
        if printable.Contains b then string (char b)
        else
            let c = string (char next)
            next <- next + 1
            c)

/// The text's pieces, each as byte-level symbols (one per UTF-8 byte).
let pieces (pattern: string) (text: string) =
    [ for m in Regex.Matches(text, pattern) -> Encoding.UTF8.GetBytes m.Value |> Array.map (fun b -> byteChar[int b]) |> List.ofArray ]

/// Merges the pair of lowest rank everywhere in a piece, until no ranked pair is left.
let rec private mergeAll (rank: Map<string * string, int>) (symbols: string list) =
    let pairs = List.pairwise symbols |> List.choose (fun p -> Map.tryFind p rank |> Option.map (fun r -> r, p))
    match pairs with
    | [] -> symbols
    | _ ->
        let _, (a, b) = List.min pairs
        let rec join = function
            | x :: y :: rest when x = a && y = b -> (a + b) :: join rest
            | x :: rest -> x :: join rest
            | [] -> []
        mergeAll rank (join symbols)

/// The ids of a text; with `ignoreMerges` a piece that is itself in the vocabulary is that one id (Llama 3's rule).
let encode (vocab: Map<string, int>) (merges: (string * string) list) (pattern: string) (ignoreMerges: bool) (text: string) =
    let rank = merges |> List.mapi (fun i m -> m, i) |> Map.ofList
    [| for piece in pieces pattern text do
        let whole = String.Concat piece
        if ignoreMerges && vocab.ContainsKey whole then yield vocab[whole]
        else yield! [ for s in mergeAll rank piece -> vocab[s] ] |]

/// A vocabulary of the 256 byte symbols and `count` merges learnt from a corpus, most frequent pair first (ties
/// by the pair's text), as BPE training does.
let train (pattern: string) (corpus: string list) (count: int) =
    let words = corpus |> List.collect (pieces pattern)
    let rec learn (words: string list list) merges n =
        let counts = words |> List.collect List.pairwise |> List.countBy id
        if n = 0 || counts.IsEmpty then List.rev merges
        else
            let (a, b), _ = counts |> List.sortBy (fun (p, c) -> -c, p) |> List.head
            let rec join = function
                | x :: y :: rest when x = a && y = b -> (a + b) :: join rest
                | x :: rest -> x :: join rest
                | [] -> []
            learn (List.map join words) ((a, b) :: merges) (n - 1)
    let merges = learn words [] count
    let vocab = [ yield! byteChar; for a, b in merges -> a + b ] |> List.distinct |> List.mapi (fun i s -> s, i) |> Map.ofList
    vocab, merges
