namespace PatchDescent.Search

open System
open System.Diagnostics
open System.IO

type SoakReport = { Steps: int; Samples: (int * int64) list; Seconds: float }

module Soak =
    let run model (experiment: Experiment) every =
        if every < 1 then invalidArg "every" $"samples every {every} steps; it must be 1 or more"
        let dir = Path.Combine(Path.GetTempPath(), $"patchdescent-soak-{Environment.ProcessId}-{Guid.NewGuid():N}")
        let samples = ResizeArray<int * int64>()
        let sample (l: StepLog) =
            let done' = l.Step + 1
            if done' % every = 0 then
                match Rss.current () with
                | Some bytes -> samples.Add(done', bytes)
                | None -> failwith "the soak reads /proc/self/status, which this system lacks"
        let clock = Stopwatch.StartNew()
        try
            Discovery.runInto model { experiment with OutDir = dir } dir sample |> ignore
        finally
            if Directory.Exists dir then Directory.Delete(dir, true)
        { Steps = experiment.Train.Steps; Samples = List.ofSeq samples; Seconds = clock.Elapsed.TotalSeconds }

    let lines (r: SoakReport) =
        let mib (b: int64) = float b / 1048576.0
        match r.Samples with
        | [] -> [ $"soak: {r.Steps} steps gave no sample" ]
        | (firstStep, first) :: _ ->
            let lastStep, last = List.last r.Samples
            let maxStep, largest = r.Samples |> List.maxBy snd
            let above (b: int64) = 100.0 * float (b - first) / float first
            let signed (x: float) = x.ToString("+0.0;-0.0", Globalization.CultureInfo.InvariantCulture)
            [ $"soak: {r.Steps:N0} steps in {r.Seconds:F0} s, RSS sampled {r.Samples.Length} times"
              $"  first (step {firstStep:N0}) {mib first:F1} MiB, last (step {lastStep:N0}) {mib last:F1} MiB ({signed (above last)} %%), largest (step {maxStep:N0}) {mib largest:F1} MiB ({signed (above largest)} %%)"
              $"""  target: within 5 %% of the first sample after it: {(if abs (above last) <= 5.0 && above largest <= 5.0 then "met" else "missed")}""" ]
