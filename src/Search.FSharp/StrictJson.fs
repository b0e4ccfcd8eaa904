namespace PatchDescent.Search

open System
open System.Text.Json
open System.Text.RegularExpressions

module StrictJson =
    let rec private firstDuplicate (path: string) (e: JsonElement) =
        match e.ValueKind with
        | JsonValueKind.Object ->
            let seen = Collections.Generic.HashSet<string>()
            e.EnumerateObject()
            |> Seq.tryPick (fun p ->
                let here = if path = "" then $"\"{p.Name}\"" else $"{path}.\"{p.Name}\""
                if not (seen.Add p.Name) then Some here else firstDuplicate here p.Value)
        | JsonValueKind.Array -> e.EnumerateArray() |> Seq.indexed |> Seq.tryPick (fun (i, x) -> firstDuplicate $"{path}[{i}]" x)
        | _ -> None

    // System.Text.Json ends its messages with "LineNumber: 0 | BytePositionInLine: 7.", 0-based.
    let private position = Regex(@"\s*(Path: .*?)?\|?\s*LineNumber: \d+ \| BytePositionInLine: \d+\.?$")

    let parse firstLine (text: string) =
        try
            let doc = JsonDocument.Parse text
            match firstDuplicate "" doc.RootElement with
            | None -> Ok doc
            | Some key ->
                doc.Dispose()
                Error $"the key {key} appears twice; JSON readers disagree on which one counts, so give each key once"
        with :? JsonException as e ->
            let line = firstLine + int (e.LineNumber |> Option.ofNullable |> Option.defaultValue 0L)
            let column = 1L + (e.BytePositionInLine |> Option.ofNullable |> Option.defaultValue 0L)
            let why = position.Replace(e.Message, "").Trim().TrimEnd('.')
            if Regex.IsMatch(text, @"(?<![""\w])-?(NaN|Infinity)(?![""\w])") then
                Error $"is not JSON at line {line}, column {column}: it holds NaN or Infinity, which JSON has no number for; PatchDescent writes a NaN as null"
            else Error $"is not JSON at line {line}, column {column}: {why}"
