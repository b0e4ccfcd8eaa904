/// `--task NAME`: a task's request, which the run resolves into pairs and a metric, so a run needs no JSONL file.
namespace PatchDescent.Cli

open PatchDescent.Search
open PatchDescent.Search.Tasks

/// The tasks `--task` knows.
type TaskName =
    /// Induction on a model folder that describes its data in task.json (`Tasks.Induction`).
    | Induction
    /// Indirect object identification on GPT-2's vocabulary (`Tasks.Ioi`).
    | Ioi
    /// Greater-than on GPT-2's vocabulary (`Tasks.GreaterThan`).
    | Greater_Than

/// `--split`: which part of a task's prompts to draw (IOI and greater-than).
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

/// Resolving tasks.
module TaskChoice =
    /// 128 pairs of the train split, seed 1, no BOS, each task's own defaults for the rest.
    let defaults = { Size = 128; Seed = 1; Split = Train; Bos = false; Corruption = None; PromptType = None }

    /// The name as typed: `induction`, `ioi`, `greater-than`.
    let name task =
        match task with
        | Induction -> Tasks.Induction.name
        | Ioi -> Tasks.Ioi.name
        | Greater_Than -> Tasks.GreaterThan.name

    /// The settings, refused with a usage error naming `verb` when they give a task an option it lacks.
    let check verb task (s: TaskSettings) =
        if task <> Ioi && (s.Corruption.IsSome || s.PromptType.IsSome) then
            raise (UsageException $"{verb}: --corruption and --prompt-type are IOI's; {name task} takes neither")
        if task = Induction && (s.Split = Test || s.Bos) then
            raise (UsageException $"{verb}: induction has no held-out split and takes its BOS from task.json; draw other sequences with --seed")
        s

    /// The request of a task with these settings, a value the run resolves into pairs (`TaskRequest.resolve`);
    /// options a task lacks are ignored (`check` refuses them).
    let request (task: TaskName) (s: TaskSettings) : TaskRequest =
        let split = match s.Split with Train -> Split.Train | Test -> Split.Test
        match task with
        | Induction -> InductionPairs(s.Size, s.Seed)
        | Ioi ->
            let corruption =
                match defaultArg s.Corruption Abc with
                | Abc -> Tasks.Ioi.Abc
                | S2_Random -> Tasks.Ioi.S2Random
                | S2_Io -> Tasks.Ioi.S2Io
            let promptType =
                match defaultArg s.PromptType Mixed with
                | Abba -> Tasks.Ioi.Abba
                | Baba -> Tasks.Ioi.Baba
                | Mixed -> Tasks.Ioi.Mixed
            IoiPairs { Size = s.Size; Seed = s.Seed; Split = split; PromptType = promptType; Corruption = corruption; Bos = s.Bos }
        | Greater_Than -> GreaterThanPairs { Size = s.Size; Seed = s.Seed; Split = split; Bos = s.Bos }
