module PatchDescent.Search.Rss

open System.IO

let private kib (field: string) =
    File.ReadLines "/proc/self/status"
    |> Seq.tryFind (fun l -> l.StartsWith(field + ":"))
    |> Option.map (fun l -> 1024L * int64 (l.Substring(field.Length + 1).Trim().Split(' ')[0]))

let current () = try kib "VmRSS" with _ -> None

let start () =
    try
        File.WriteAllText("/proc/self/clear_refs", "5")
        kib "VmRSS"
    with _ -> None

// The kernel syncs its per-thread RSS counters lazily, so a peak read soon after the reset can fall a page or two
// below the size read then.
let peakSince (startBytes: int64 option) =
    startBytes |> Option.bind (fun s -> try kib "VmHWM" |> Option.map (fun p -> max 0L (p - s)) with _ -> None)
