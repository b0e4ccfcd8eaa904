/// Clean/corrupted prompt pairs read from JSONL, checked line by line, and grouped into right-padded batches.
namespace PatchDescent.Search

/// The tokens of a greater-than style task: which answers count for the model and which against it.
type ThresholdSet =
    { /// Token ids whose probability the loss raises (in greater-than, the years above the threshold).
      Above: int list
      /// Token ids whose probability the loss lowers (the years at or below the threshold).
      AtOrBelow: int list }

/// One clean prompt, its corrupted counterpart of the same token count, and the tokens a metric reads.
type Pair =
    { /// Token ids of the clean prompt; never empty.
      Clean: int[]
      /// Token ids of the corrupted prompt, as many as the clean one (patching aligns them position by position).
      Corrupted: int[]
      /// The id of the token the clean prompt should predict next.
      Answer: int
      /// The id of the token a logit difference compares the answer against, if the dataset gives one.
      Wrong: int option
      /// This pair's tokens for and against, when a probability difference scores it (greater-than: the years
      /// above and at or below the start year); every pair has one or none does.
      Threshold: ThresholdSet option }

/// The pairs of one dataset, in file order.
type PairDataset =
    { /// Where the pairs came from, for messages.
      Source: string
      /// The pairs; every pair has a wrong answer or none does.
      Pairs: Pair[] }

/// Pairs right-padded to one token count, as the engine's int64 tensors want them.
type PairBatch =
    { /// The padded token count of every prompt of the batch: the longest prompt's.
      Length: int
      /// Each pair's real token count [pair]; positions from there to `Length` are padding, which attention masks.
      Lengths: int[]
      /// Clean token ids [pair][position], padded with id 0.
      Clean: int64[][]
      /// Corrupted token ids [pair][position], padded like the clean ones.
      Corrupted: int64[][]
      /// Answer ids [pair].
      Answers: int64[]
      /// Wrong-answer ids [pair]; None unless every pair of the batch has one.
      Wrongs: int64[] option
      /// The pairs' threshold sets [pair]; None unless every pair of the batch has one.
      Thresholds: ThresholdSet[] option }

/// Reading, writing and batching pair datasets.
module Dataset =
    /// Reads a JSONL file, one pair a line, blank lines skipped. A line is text,
    /// `{"clean": "...", "corrupted": "...", "answer": " Mary", "wrong": " John"}`, tokenized with the model's
    /// tokenizer (no BOS prepended; forced only by a line that needs it), or token ids, `{"clean_ids": [...], "corrupted_ids": [...], "answer_id": 5335, "wrong_id": 1757}`;
    /// `wrong` and `wrong_id` are optional. A probability-difference pair adds `"above": ["33", ...], "at_or_below":
    /// [...]` (single tokens) or `"above_ids"` and `"at_or_below_ids"`. `"bos": true` records that the prompts begin
    /// with the tokenizer's BOS (GPT-2's `<|endoftext|>`, 50256): a text line gets it prepended, an id line must start
    /// with it. The error names the
    /// file and the 1-based line and says what is wrong: among others a field the line's form does not have (a typo
    /// would change the inferred metric), a key given twice, a null, an id outside
    /// [0, vocabSize), a prompt longer than `positions`, a folder instead of a file. A line may hold both forms
    /// (`writeWithText`): the ids are the pair, and each text field given must tokenize to its id field (with the
    /// BOS prepended as above), else the error names both fields and their tokens.
    val load: path: string -> vocabSize: int -> positions: int -> tokenizer: Lazy<PatchDescent.Model.Tokenizer> -> Result<PairDataset, string>
    /// Writes the dataset in the token-id form (with `"bos"` true when both prompts start with GPT-2's
    /// `<|endoftext|>`, else false), through a temporary file renamed into place, so that a reader never
    /// sees half a file and `load` gives the same pairs back.
    val write: path: string -> PairDataset -> unit
    /// Writes as `write` does (`"bos"` true when both prompts start with this tokenizer's BOS), with the text of each
    /// pair's prompts (after that BOS), answer and wrong answer before its ids, decoded by the tokenizer, so that a
    /// person can read the file and `load` checks the two agree. Fails naming the pair, before anything is written,
    /// when a decoded text does not tokenize back to its ids (ids of another vocabulary).
    val writeWithText: PatchDescent.Model.Tokenizer -> path: string -> PairDataset -> unit
    /// The BOS token a tokenizer's prompts begin with; fails, saying so, for a tokenizer that has none (Qwen2's).
    val bosOf: PatchDescent.Model.Tokenizer -> int
    /// Sorts the pairs by token count (stable: dataset order within a length), cuts them into batches of
    /// batchSize (the last may be smaller), and right-pads each batch to its longest prompt.
    val batches: batchSize: int -> PairDataset -> PairBatch list
    /// The attention mask of a batch [pair][position]: 1 on real tokens, 0 on padding.
    val mask: PairBatch -> int64[][]
