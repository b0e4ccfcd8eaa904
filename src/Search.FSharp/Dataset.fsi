/// Clean/corrupted prompt pairs read from JSONL, checked line by line, and grouped into batches of equal length.
namespace PatchDescent.Search

/// One clean prompt, its corrupted counterpart of the same token count, and the tokens a metric reads.
type Pair =
    { /// Token ids of the clean prompt; never empty.
      Clean: int[]
      /// Token ids of the corrupted prompt, as many as the clean one (patching aligns them position by position).
      Corrupted: int[]
      /// The id of the token the clean prompt should predict next.
      Answer: int
      /// The id of the token a logit difference compares the answer against, if the dataset gives one.
      Wrong: int option }

/// The pairs of one dataset, in file order.
type PairDataset =
    { /// Where the pairs came from, for messages.
      Source: string
      /// The pairs; every pair has a wrong answer or none does.
      Pairs: Pair[] }

/// Pairs of one token count, as the engine's int64 tensors want them.
type PairBatch =
    { /// The token count of every prompt of the batch.
      Length: int
      /// Clean token ids [pair][position].
      Clean: int64[][]
      /// Corrupted token ids [pair][position].
      Corrupted: int64[][]
      /// Answer ids [pair].
      Answers: int64[]
      /// Wrong-answer ids [pair]; None unless every pair of the batch has one.
      Wrongs: int64[] option }

/// Reading, writing and batching pair datasets.
module Dataset =
    /// Reads a JSONL file, one pair a line, blank lines skipped. A line is text,
    /// `{"clean": "...", "corrupted": "...", "answer": " Mary", "wrong": " John"}`, tokenized with GPT-2's tokenizer
    /// (no BOS prepended), or token ids, `{"clean_ids": [...], "corrupted_ids": [...], "answer_id": 5335, "wrong_id": 1757}`;
    /// `wrong` and `wrong_id` are optional. The error names the file and the 1-based line and says what is wrong.
    val load: path: string -> vocabSize: int -> Result<PairDataset, string>
    /// Writes the dataset in the token-id form, through a temporary file renamed into place, so that a reader never
    /// sees half a file and `load` gives the same pairs back.
    val write: path: string -> PairDataset -> unit
    /// Groups pairs of equal token count (no padding yet): lengths in increasing order, and within one length the
    /// pairs in dataset order, cut into batches of batchSize (the last of a length may be smaller).
    val batches: batchSize: int -> PairDataset -> PairBatch list
