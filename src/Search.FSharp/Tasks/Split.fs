namespace PatchDescent.Search.Tasks

open System.Text

type Split =
    | Train
    | Test

module Split =
    /// FNV-1a over the UTF-8 bytes: stable across processes and .NET versions, unlike String.GetHashCode.
    let private fnv1a (text: string) =
        Encoding.UTF8.GetBytes text |> Array.fold (fun (h: uint32) b -> (h ^^^ uint32 b) * 16777619u) 2166136261u

    let ofPrompt (clean: string) = if fnv1a clean % 5u = 0u then Test else Train
