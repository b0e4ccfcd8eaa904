/// `--task NAME`: a task generates its pairs and names its metric, so a run needs no JSONL file.
namespace PatchDescent.Cli

open PatchDescent.Search

/// The tasks `--task` knows.
type TaskName =
    /// Induction on a model folder that describes its data in task.json (`Tasks.Induction`).
    | Induction

/// Resolving tasks.
module TaskChoice =
    /// The dataset of `size` pairs (seeded) and the metric of a task on the model in `modelDir`; a task that cannot
    /// read what it needs fails with a message naming the file.
    let resolve (name: TaskName) (modelDir: string) (size: int) (seed: int) : PairDataset * Metric =
        match name with
        | Induction ->
            match Tasks.Induction.ofModelDir modelDir with
            | Ok spec -> Tasks.Induction.generate spec size seed, Tasks.Induction.metric
            | Error message -> failwith message
