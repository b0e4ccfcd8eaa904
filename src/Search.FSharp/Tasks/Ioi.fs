module PatchDescent.Search.Tasks.Ioi

open System
open PatchDescent.Model
open PatchDescent.Search

type PromptType =
    | Abba
    | Baba
    | Mixed

type Corruption =
    | Abc
    | S2Random
    | S2Io

type Options = { Size: int; Seed: int; Split: Split; PromptType: PromptType; Corruption: Corruption; Bos: bool }

let name = "ioi"

let metric = Metric.LogitDiff

let defaults = { Size = 100; Seed = 1; Split = Train; PromptType = Mixed; Corruption = Abc; Bos = false }

// Written for this project after the paper's description: two people, a place, one gives an object to the other.
let templates =
    [ "Then, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to"
      "Then, [B] and [A] spent the afternoon at the [PLACE]. [B] handed a [OBJECT] to"
      "When [B] and [A] arrived at the [PLACE], [B] gave a [OBJECT] to"
      "After [B] and [A] left the [PLACE], [B] passed a [OBJECT] to"
      "While [B] and [A] were waiting at the [PLACE], [B] offered a [OBJECT] to"
      "Yesterday, [B] and [A] walked to the [PLACE]. [B] brought a [OBJECT] to"
      "Later, [B] and [A] met at the [PLACE], and [B] sent a [OBJECT] to"
      "At the [PLACE], [B] and [A] found a [OBJECT]. [B] gave it to"
      "Then, [B] and [A] had a long argument, and afterwards [B] said to"
      "This morning, [B] and [A] cleaned the [PLACE]. Then [B] threw a [OBJECT] to"
      "Once [B] and [A] reached the [PLACE], [B] showed a [OBJECT] to"
      "On the way to the [PLACE], [B] and [A] bought a [OBJECT]. [B] gave it to" ]

let names =
    [ " Mary"; " John"; " Tom"; " James"; " Dan"; " Sarah"; " Michael"; " David"; " Paul"; " Mark"; " Kate"; " Anna"
      " Lisa"; " Laura"; " Emma"; " Alice"; " Rachel"; " Amy"; " Jessica"; " Daniel"; " Robert"; " Richard"; " Steven"
      " Kevin"; " Brian"; " Jason"; " Eric"; " Adam"; " Ryan"; " Chris"; " Andrew"; " Peter"; " Jack"; " Alex"; " Ben"
      " Sam"; " Joe"; " Mike"; " Jim"; " Bob"; " Tim"; " George"; " Henry"; " Charles"; " Edward"; " Frank"; " Patrick"
      " Scott"; " Karen"; " Susan"; " Linda"; " Helen"; " Jane"; " Julia"; " Grace"; " Rose"; " Claire"; " Emily"
      " Hannah"; " Lucy"; " Kelly"; " Maria"; " Nancy"; " Victoria"; " Martin"; " Thomas"; " William"; " Anthony"
      " Joseph"; " Simon" ]

let places =
    [ " store"; " garden"; " restaurant"; " school"; " hospital"; " office"; " station"; " park"; " beach"; " library"
      " market"; " mall"; " church"; " bank"; " hotel"; " museum"; " theater"; " airport"; " farm"; " river" ]

let objects =
    [ " ring"; " kiss"; " bone"; " basketball"; " computer"; " necklace"; " drink"; " snack"; " ball"; " book"
      " bottle"; " gift"; " letter"; " bag"; " box"; " cake"; " coin"; " flower"; " hat"; " key"; " phone"; " pen"
      " toy"; " ticket"; " watch" ]

/// The template with its slots filled; n1 and n2 fill the first clause, s2 the second.
let private fill (template: string) (n1: string) (n2: string) (s2: string) (place: string) (object': string) =
    // Names carry their leading space; the templates write a space before every slot.
    let first = template.IndexOf "[B]"
    let second = template.IndexOf("[A]", first)
    let third = template.IndexOf("[B]", second)
    let body =
        template.Substring(0, first) + n1.TrimStart() + template.Substring(first + 3, second - first - 3) + n2.TrimStart()
        + template.Substring(second + 3, third - second - 3) + s2.TrimStart() + template.Substring(third + 3)
    body.Replace("[PLACE]", place.TrimStart()).Replace("[OBJECT]", object'.TrimStart())

let generate (tokenizer: Tokenizer) (options: Options) =
    if options.Size < 1 then invalidArg "options" $"an IOI dataset needs at least one pair, got size {options.Size}"
    // Each word must be one token of this model's tokenizer; the others are dropped, and the source says which.
    let ids = Collections.Generic.Dictionary<string, int>()
    let keep (words: string list) =
        let kept, dropped =
            words |> List.partition (fun w ->
                match tokenizer.Encode w with
                | [| id |] -> ids[w] <- id; true
                | _ -> false)
        kept, dropped
    let (names, droppedNames), (places, droppedPlaces), (objects, droppedObjects) = keep names, keep places, keep objects
    let quoted (words: string list) = String.Join(", ", words |> List.map (sprintf "\"%s\""))
    // ABC corruption draws five distinct names a pair.
    if names.Length < 5 || places.IsEmpty || objects.IsEmpty then
        failwith $"IOI needs at least 5 names, a place and an object that are one token each of this model's tokenizer; it keeps {names.Length} names, {places.Length} places and {objects.Length} objects (dropped: {quoted (droppedNames @ droppedPlaces @ droppedObjects)})"
    let single (word: string) = ids[word]
    let rng = Random options.Seed
    let pick (list: string list) = list[rng.Next list.Length]
    // Distinct names, none of them in `taken`.
    let rec fresh (taken: string list) =
        let n = pick names
        if List.contains n taken then fresh taken else n
    let prefix = if options.Bos then [| Dataset.bosOf tokenizer |] else [||]
    let encode (text: string) = Array.append prefix (tokenizer.Encode text)
    let draw () =
        let template, place, object' = pick templates, pick places, pick objects
        let io = fresh []
        let s = fresh [ io ]
        let abba =
            match options.PromptType with
            | Abba -> true
            | Baba -> false
            | Mixed -> rng.Next 2 = 0
        let order a b = if abba then a, b else b, a
        let n1, n2 = order io s
        let clean = fill template n1 n2 s place object'
        let corrupted =
            match options.Corruption with
            | Abc ->
                let c = fresh [ io; s ]
                let d = fresh [ io; s; c ]
                let e = fresh [ io; s; c; d ]
                fill template c d e place object'
            | S2Random -> fill template n1 n2 (fresh [ io; s ]) place object'
            | S2Io -> fill template n1 n2 io place object'
        clean, corrupted, io, s
    let pairs = ResizeArray<Pair>()
    while pairs.Count < options.Size do
        let clean, corrupted, io, s = draw ()
        if Split.ofPrompt clean = options.Split then
            let clean, corrupted = encode clean, encode corrupted
            // Single-token words alone do not guarantee it: a tokenizer may merge a name with what follows it.
            if clean.Length <> corrupted.Length then
                failwith $"IOI pair {pairs.Count + 1}: this model's tokenizer makes the clean prompt {clean.Length} tokens and the corrupted one {corrupted.Length}; patching needs them aligned"
            pairs.Add { Clean = clean; Corrupted = corrupted; Answer = single io; Wrong = Some(single s); Threshold = None }
    let split = (sprintf "%A" options.Split).ToLowerInvariant()
    let lower x = (sprintf "%A" x).ToLowerInvariant()
    let dropped =
        match droppedNames, droppedPlaces, droppedObjects with
        | [], [], [] -> ""
        | n, p, o -> $"; dropped as more than one token: {quoted (n @ p @ o)}"
    { Source = $"ioi (n {options.Size}, seed {options.Seed}, {split} split, {lower options.PromptType}, {lower options.Corruption} corruption, bos {lower options.Bos}{dropped})"
      Pairs = pairs.ToArray() }
