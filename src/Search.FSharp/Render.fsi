/// Pictures of circuits: Graphviz DOT text, and SVG through Graphviz's `dot` when it is installed.
namespace PatchDescent.Search

/// Drawing circuits.
module Render =
    /// A `digraph` of the circuit's nodes (MIB names, quoted) and edges, top to bottom: `input`, then one rank per
    /// layer holding its heads and its MLP, then `logits`. An edge into a head is labelled with its port and coloured
    /// by it (q blue, k green, v red; MLP and logits inputs grey; a comment in the text says so). With scores (one
    /// per edge id), an edge's pen width is 1 + 4 |score| / max |score| over the circuit's edges; without, or when
    /// every score is 0, it is 1. Fails when the scores are not one per edge id.
    val dot: Circuit -> scores: float[] option -> string
    /// Runs `dot -Tsvg` on the text, writing the SVG through a temporary file renamed into place. Error, saying how
    /// to install Graphviz, when `dot` is not on PATH; Error with dot's message when dot fails. Nothing is written
    /// at the output path on an Error.
    val svg: dotText: string -> outputPath: string -> Result<unit, string>
