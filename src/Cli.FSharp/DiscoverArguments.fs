/// `patchdescent discover`: one discovery run, or one per seed and their overlaps.
namespace PatchDescent.Cli

open Argu
open PatchDescent.Search

/// The options of `discover`.
type DiscoverArguments =
    | [<Mandatory; Unique>] Model of dir: string
    | [<Mandatory; Unique>] Data of file: string
    | [<Mandatory; Unique>] Out of dir: string
    | [<Unique>] Granularity of GranularityName
    | [<Unique>] Steps of count: int
    | [<Unique>] Seed of int
    | [<Unique>] Seeds of list: string
    | [<Unique>] Batch_Size of pairs: int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Model _ -> "a Hugging Face GPT-2 folder"
            | Data _ -> "clean/corrupted pairs, JSONL (text or token ids, one pair a line)"
            | Out _ -> "the folder the run writes; it appears only once the run has succeeded"
            | Granularity _ -> "the graph: full (MLPs and separate q/k/v inputs; the default) or heads"
            | Steps _ -> "training steps (default 300)"
            | Seed _ -> "the seed of one run (default 1)"
            | Seeds _ -> "several seeds, comma-separated: one run each into OUT/seed-N and their overlaps in OUT/stability.csv"
            | Batch_Size _ -> "pairs per batch (default 16)"

/// What `discover` was asked: the experiment a script would build, and the seeds when several runs are wanted.
type DiscoverRequest = { Experiment: Experiment; Seeds: int list option }

/// Reading `discover`'s options.
module DiscoverArguments =
    let private seedList text =
        let seeds = Choices.integers "discover" "--seeds" text
        if seeds.Length < 2 || List.distinct seeds <> seeds then
            raise (UsageException $"discover: --seeds needs at least two different seeds, got '{text}'")
        seeds

    /// The request the parsed options describe, built from `Experiment.defaults` as a script builds it.
    let request (r: ParseResults<DiscoverArguments>) =
        if r.Contains Seed && r.Contains Seeds then
            raise (UsageException "discover: give --seed for one run or --seeds for several, not both")
        let steps = r.GetResult(Steps, defaultValue = 300) |> Choices.atLeast "discover" "--steps" 1
        let e =
            Experiment.defaults (r.GetResult Model) (JsonlFile(r.GetResult Data)) (r.GetResult Out)
            |> Experiment.withSteps steps
        let experiment =
            { e with
                Granularity = Choices.granularity (r.GetResult(Granularity, defaultValue = Full))
                Train = { e.Train with Seed = r.GetResult(Seed, defaultValue = e.Train.Seed) }
                BatchSize = r.GetResult(Batch_Size, defaultValue = e.BatchSize) |> Choices.atLeast "discover" "--batch-size" 1 }
        { Experiment = experiment; Seeds = r.TryPostProcessResult(Seeds, seedList) }
