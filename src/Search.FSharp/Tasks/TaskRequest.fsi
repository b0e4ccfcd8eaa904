/// A task's pairs as a value: which task and how to draw them, resolved into pairs once, by the run that uses them,
/// so that reading the command line does no I/O.
namespace PatchDescent.Search.Tasks

open PatchDescent.Search

/// Which generated pairs a run asks for.
type TaskRequest =
    /// Induction as the model folder's task.json describes it (`Induction.ofModelDir`): this many pairs, this seed.
    | InductionPairs of size: int * seed: int
    /// IOI (`Ioi.generate`).
    | IoiPairs of Ioi.Options
    /// Greater-than (`GreaterThan.generate`).
    | GreaterThanPairs of GreaterThan.Options

/// Resolving task requests.
[<CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module TaskRequest =
    /// The task's name: `induction`, `ioi`, `greater-than`.
    val name: TaskRequest -> string
    /// The metric the task is scored with.
    val metric: TaskRequest -> Metric
    /// The pairs; induction reads `modelDir/task.json`, and an error names that file; IOI and greater-than use the
    /// model folder's tokenizer (`Tokenizer.ForModel`), GPT-2's when `modelDir` is empty.
    val resolve: modelDir: string -> TaskRequest -> Result<PairDataset, string>
