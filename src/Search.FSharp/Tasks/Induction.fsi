/// The induction task: prompts whose next token only an earlier occurrence predicts, generated from the task.json
/// that a model folder carries.
module PatchDescent.Search.Tasks.Induction

/// How the sequences are made.
type Kind =
    /// [BOS, r, r[..m]]: a span r of distinct tokens, then its first m tokens again (1 <= m < |r|), so the prompt
    /// ends inside the second copy and the answer is r[m]. Corrupted: [BOS, s, s[..m]] for another span s with
    /// s[m-1] <> r[m-1] and s[m] <> r[m], so the earlier occurrence and the query token both change.
    | RepeatedSpan of minSpan: int * maxSpan: int
    /// The trigger task of a trained model (`TriggerTask`, kind "trigger"): pairs from `TriggerPairs.generate`.
    | Trigger of TriggerTask

/// A model's induction data, as its task.json gives it.
type Spec =
    { /// Tokens are 0 .. Vocab - 1.
      Vocab: int
      /// The token every sequence starts with, if any; it never occurs elsewhere.
      Bos: int option
      /// The sequences.
      Kind: Kind }

/// The task's name in task.json and on the command line.
val name: string
/// The metric the task is scored with: the logit of the answer token at the prompt's last position.
val metric: PatchDescent.Search.Metric
/// Parses task.json text, e.g. `{"task": "induction", "kind": "repeated-span", "vocab": 32, "bos": 0,
/// "min_span": 8, "max_span": 16}`; `source` names the file in errors, which say what is wrong and what is
/// expected (an unknown kind names the known ones).
val parse: source: string -> json: string -> Result<Spec, string>
/// Reads `dir/task.json`; a missing file is an error naming it.
val ofModelDir: dir: string -> Result<Spec, string>
/// `size` pairs, the same for the same spec, size and seed; the answer of every pair is predictable only from
/// the earlier occurrence, and clean and corrupted prompts have the same length. The wrong answer is the one the
/// corrupted prompt predicts, s[m].
val generate: spec: Spec -> size: int -> seed: int -> PatchDescent.Search.PairDataset
