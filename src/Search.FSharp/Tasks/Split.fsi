/// Train and held-out splits of generated task data, decided per prompt so that the two never share one.
namespace PatchDescent.Search.Tasks

/// Which part of a task's prompts a dataset draws from.
type Split =
    /// The prompts discovery trains on (about 80% of all the task can generate).
    | Train
    /// The held-out prompts (the other 20%), for scoring a circuit on prompts it was not found on.
    | Test

/// Assigning prompts to splits.
module Split =
    /// The split a clean prompt's text belongs to, from a stable hash of the text alone (held out when the FNV-1a
    /// hash of its UTF-8 bytes is 0 modulo 5), so it never depends on the seed or the dataset size.
    val ofPrompt: clean: string -> Split
