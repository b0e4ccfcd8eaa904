/// JSON read strictly: a duplicate key is an error (System.Text.Json keeps the last silently), and a syntax error
/// says where, 1-based, in words instead of System.Text.Json's 0-based `LineNumber`.
namespace PatchDescent.Search

open System.Text.Json

/// Parsing JSON strictly.
module StrictJson =
    /// The document of `text`, or why not: a syntax error with its 1-based line and column (line counted from
    /// `firstLine`, for a line of a larger file), NaN or Infinity named as numbers JSON lacks, or the first key that
    /// an object repeats, with its path (`edges."a0.h0->logits"`).
    val parse: firstLine: int -> text: string -> Result<JsonDocument, string>
