/// `--task`: the generated tasks the command line knows, and the dataset and metric each name stands for.
namespace PatchDescent.Cli

open PatchDescent.Search
open PatchDescent.Search.Tasks

/// A task's name on the command line.
type TaskName =
    | Ioi
    | Greater_Than

/// `--split`: which part of a task's prompts to draw.
type SplitName =
    | Train
    | Test

/// `--corruption` (IOI): what the corrupted prompt changes.
type CorruptionName =
    | Abc
    | S2_Random
    | S2_Io

/// `--prompt-type` (IOI): the order of the names in the first clause.
type PromptTypeName =
    | Abba
    | Baba
    | Mixed

/// How to generate a task's pairs; the IOI-only choices are None when not given.
type TaskSettings =
    { Size: int; Seed: int; Split: SplitName; Bos: bool; Corruption: CorruptionName option; PromptType: PromptTypeName option }

/// Resolving task names.
module Tasks =
    /// 100 pairs of the train split, data seed 1, no BOS, each task's own defaults for the rest.
    let defaults = { Size = 100; Seed = 1; Split = Train; Bos = false; Corruption = None; PromptType = None }

    /// The name as typed: `ioi`, `greater-than`.
    let name task =
        match task with
        | Ioi -> Ioi.name
        | Greater_Than -> GreaterThan.name

    /// The settings, refused with a usage error naming `verb` when they give a task an option it lacks.
    let check verb task (s: TaskSettings) =
        if task <> Ioi && (s.Corruption.IsSome || s.PromptType.IsSome) then
            raise (UsageException $"{verb}: --corruption and --prompt-type are IOI's; {name task} takes neither")
        s

    /// The task's pairs and the metric it is scored with; options a task lacks are ignored (`check` refuses them).
    let generate task (s: TaskSettings) : PairDataset * Metric =
        let split = match s.Split with Train -> Split.Train | Test -> Split.Test
        match task with
        | Ioi ->
            let corruption =
                match defaultArg s.Corruption Abc with
                | Abc -> Ioi.Abc
                | S2_Random -> Ioi.S2Random
                | S2_Io -> Ioi.S2Io
            let promptType =
                match defaultArg s.PromptType Mixed with
                | Abba -> Ioi.Abba
                | Baba -> Ioi.Baba
                | Mixed -> Ioi.Mixed
            Ioi.generate { Size = s.Size; Seed = s.Seed; Split = split; PromptType = promptType; Corruption = corruption; Bos = s.Bos },
            Ioi.metric
        | Greater_Than ->
            GreaterThan.generate { Size = s.Size; Seed = s.Seed; Split = split; Bos = s.Bos }, GreaterThan.metric

    /// The pairs of a verb that takes `--data FILE` or `--task NAME [--n N]`: a JSONL file (the metric left to
    /// the data), or the task's generated pairs of `split` with data seed 1 and the task's metric.
    let source verb (data: string option) (task: TaskName option) (size: int option) (split: SplitName) : DataSource * Metric option =
        match data, task with
        | Some _, Some _ -> raise (UsageException $"{verb}: give --data or --task, not both")
        | None, None -> raise (UsageException $"{verb}: give --data FILE.jsonl or --task ioi|greater-than")
        | Some file, None ->
            if size.IsSome then raise (UsageException $"{verb}: --n goes with --task; a --data file is used whole")
            JsonlFile file, None
        | None, Some task ->
            let n = defaultArg size defaults.Size |> Choices.atLeast verb "--n" 1
            let pairs, metric = generate task { defaults with Size = n; Split = split }
            Pairs pairs, Some metric
