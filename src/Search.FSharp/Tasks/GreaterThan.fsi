/// Greater-than (Hanna et al. 2023): "The war lasted from the year 1732 to the year 17" should continue with a
/// two-digit year above 32. The corrupted prompt starts the span in XX01, which leaves no year below to avoid.
/// Scored by the probability difference over the 100 two-digit year tokens: the summed probability of the years
/// above YY minus that of the years at or below it, each pair with its own YY.
module PatchDescent.Search.Tasks.GreaterThan

open PatchDescent.Search

/// How to generate a dataset.
type Options =
    { /// Number of pairs.
      Size: int
      /// Seeds the draws; one seed and one set of options give one dataset.
      Seed: int
      /// Which split the prompts come from.
      Split: Split
      /// Whether the tokenizer's BOS (`<|endoftext|>` for GPT-2) is prepended to both prompts.
      Bos: bool }

/// The task's name on the command line and in reports: `greater-than`.
val name: string
/// The metric greater-than is scored with: each pair's probability difference (`Metric.PairProbDiff`).
val metric: Metric
/// 100 pairs, seed 1, the train split, no BOS.
val defaults: Options
/// The nouns of "The [NOUN] lasted from ...", each one GPT-2 token with its leading space.
val nouns: string list
/// The centuries XX, 11 to 17.
val centuries: int list
/// The start years YY of a century: those in 02-98 for which " XXYY" and " XX01" both tokenize as " XX" then the
/// two-digit token (so clean and corrupted prompts align token by token).
val years: PatchDescent.Model.Tokenizer -> century: int -> int list
/// The ids of the 100 two-digit year tokens "00" to "99", in order; fails, naming the year, for a tokenizer that
/// makes one of them more than one token (Llama 3's and Qwen2's split digits).
val yearTokens: PatchDescent.Model.Tokenizer -> int[]
/// Generates `Size` pairs of the requested split with the model's tokenizer. A pair's threshold set holds the years
/// above YY and those at or below it; its answer is the year YY + 1 (what cross-entropy reads); it has no wrong
/// answer. Fails for a size below 1, and for a tokenizer whose years do not split as GPT-2's do.
val generate: PatchDescent.Model.Tokenizer -> Options -> PairDataset
