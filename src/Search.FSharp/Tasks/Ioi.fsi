/// Indirect object identification (Wang et al. 2022): "Then, Mary and John went to the store. John gave a drink to"
/// should continue with the indirect object " Mary" rather than the subject " John". Clean/corrupted pairs built from
/// templates and single-token word lists, scored by the logit difference IO - S at the last real token.
module PatchDescent.Search.Tasks.Ioi

open PatchDescent.Search

/// The order of the two names in the first clause.
type PromptType =
    /// IO first: "Then, Mary and John went ... John gave a drink to".
    | Abba
    /// S first: "Then, John and Mary went ... John gave a drink to".
    | Baba
    /// Each prompt ABBA or BABA with equal chance.
    | Mixed

/// What the corrupted prompt changes.
type Corruption =
    /// IO, S1 and S2 each replaced by a different random name (the paper's ABC reference distribution).
    | Abc
    /// S2 replaced by a random third name.
    | S2Random
    /// S2 replaced by the IO.
    | S2Io

/// How to generate a dataset.
type Options =
    { /// Number of pairs.
      Size: int
      /// Seeds the draws; one seed and one set of options give one dataset.
      Seed: int
      /// Which split the prompts come from.
      Split: Split
      /// ABBA, BABA or both.
      PromptType: PromptType
      /// The corrupted distribution.
      Corruption: Corruption
      /// Whether the tokenizer's BOS (`<|endoftext|>` for GPT-2) is prepended to both prompts (ACDC prepends none; logit
      /// differences change with it).
      Bos: bool }

/// The task's name on the command line and in reports: `ioi`.
val name: string
/// The metric IOI is scored with: the logit difference IO - S (`Metric.LogitDiff`).
val metric: Metric
/// 100 pairs, seed 1, the train split, mixed prompt types, ABC corruption, no BOS.
val defaults: Options
/// The templates in BABA form, ending before the IO: [B] is the subject (S1, then S2), [A] the IO, and [PLACE] and
/// [OBJECT] are filled from their lists. ABBA swaps the first [B] and [A].
val templates: string list
/// First names, each one GPT-2 token with its leading space (other tokenizers keep those that are one of theirs).
val names: string list
/// Places, each one GPT-2 token with its leading space.
val places: string list
/// Objects, each one GPT-2 token with its leading space, none starting with a vowel (they follow "a").
val objects: string list
/// Generates `Size` pairs of the requested split with the model's tokenizer: answer the IO's token, wrong the S's
/// token. Words that are not one token of that tokenizer are dropped, and the dataset's source names them. Fails for
/// a size below 1, and when fewer than 5 names, or no place or object, are left.
val generate: PatchDescent.Model.Tokenizer -> Options -> PairDataset
