/// The trigger task of Bietti et al. 2023 ("Birth of a Transformer"): tokens follow a random global bigram table,
/// except that each trigger token is always followed by an output token drawn afresh for each sequence, so only
/// induction (find the trigger's earlier occurrence, copy what followed it) predicts what follows a trigger's
/// second occurrence. The toy trainer learns it; `TriggerPairs` makes patching pairs of it.
namespace PatchDescent.Search.Tasks

open System
open System.Collections.Generic

/// One sampled sequence of the trigger task and the output token each trigger was followed by in it.
[<Sealed>]
type TriggerSequence =
    /// The tokens, `SeqLen` of them.
    member Tokens: int[]
    /// Each trigger's output in this sequence.
    member Outputs: IReadOnlyDictionary<int, int>
    /// Positions t whose token only induction predicts: token t-1 is a trigger that also occurred before t-1.
    member PredictablePositions: task: TriggerTask -> IReadOnlyList<int>

/// The task's numbers, with the bigram table and the trigger set they determine.
and [<Sealed>] TriggerTask =
    /// A task with these triggers; `Validate` checks it.
    new: vocab: int * triggers: IReadOnlyList<int> * seqLen: int * bigramSeed: int * bigramSharpness: float * triggerRate: float -> TriggerTask
    /// Vocabulary size.
    member Vocab: int
    /// The trigger tokens, in the order given.
    member Triggers: IReadOnlyList<int>
    /// Tokens per sequence.
    member SeqLen: int
    /// Seed of the bigram table.
    member BigramSeed: int
    /// Each bigram row is softmax(sharpness * standard normal draws).
    member BigramSharpness: float
    /// The probability that a trigger (drawn uniformly) follows a non-trigger token; otherwise the bigram row draws it.
    member TriggerRate: float
    /// The pilot's recipe (vocabulary 64, 6 triggers, 64 tokens), with triggers after a fifth of the non-trigger tokens.
    static member Default: TriggerTask
    /// A task whose triggers are drawn (without replacement, seeded by `bigramSeed`) from the vocabulary.
    static member Create: vocab: int * triggers: int * seqLen: int * bigramSeed: int * bigramSharpness: float * triggerRate: float -> TriggerTask
    /// Checks that the numbers describe a task that can be sampled (a `ModelFormatException` naming `source` and the
    /// field otherwise); returns the task.
    member Validate: source: string -> TriggerTask
    /// Whether `token` is a trigger.
    member IsTrigger: token: int -> bool
    /// The bigram table: row i is the distribution of the token after a non-trigger token i when no trigger is drawn;
    /// it gives triggers probability 0.
    member Bigram: IReadOnlyList<IReadOnlyList<float>>
    /// The tokens outputs are drawn from: every token that is not a trigger, in increasing order.
    member OutputTokens: IReadOnlyList<int>
    /// One sequence: each trigger's output is drawn uniformly from `OutputTokens`, the first token uniformly from the
    /// vocabulary, and every later token is the output of its predecessor if that is a trigger, else a uniformly drawn
    /// trigger with probability `TriggerRate`, else drawn from the predecessor's bigram row.
    member Sample: rng: Random -> TriggerSequence
    /// The entropy of the next token after a non-trigger token (trigger draw included), averaged over the non-trigger
    /// rows (nats): the loss a perfect bigram model reaches there.
    member MeanBigramEntropy: float
    /// The task.json text: `{"task": "induction", "kind": "trigger", ...}`, everything that regenerates the data.
    member ToJson: unit -> string
    /// Reads a task.json of kind "trigger"; errors (`ModelFormatException`) name the file and the field.
    static member Load: path: string -> TriggerTask
    /// Parses task.json text of kind "trigger"; `source` names the file in errors, which name the field.
    static member Parse: source: string * text: string -> TriggerTask
    /// Writes task.json into `dir` atomically.
    member Save: dir: string -> unit
