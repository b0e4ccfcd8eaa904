/// The main job: discovery on the shipped trained induction model, as README's first command runs it
/// (`examples/induction.fsx`), and as the soak bench repeats it for longer.
module PatchDescent.Search.MainJob

/// The shipped model's folder under the repository root: models/induction-trigger-attn-2l4h.
val modelDir: root: string -> string
/// The experiment: 128 pairs from the model's task.json (seed 1), its answer-logit metric, batches of 32, six curve
/// levels, `steps` steps (400 for the main job) with the target sparsity annealed to 0.9 over the first half and
/// held for the second; fails naming the task.json when the model folder has none it can read.
val experiment: modelDir: string -> outDir: string -> steps: int -> Experiment
