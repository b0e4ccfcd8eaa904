/// Circuits as Graphviz DOT text (an export: `Diagram` draws without Graphviz), and the port palette every picture uses.
namespace PatchDescent.Search

/// Drawing circuits.
module Render =
    /// The port label and colour of an edge into this receiver, which every picture of a circuit uses: q blue, k green,
    /// v red; an MLP's or the logits' input has no label and is grey.
    val port: Receiver -> string * string
    /// A `digraph` of the circuit's nodes (MIB names, quoted) and edges, top to bottom: `input`, then one rank per
    /// layer holding its heads and its MLP, then `logits`. An edge into a head is labelled with its port and coloured
    /// by it (q blue, k green, v red; MLP and logits inputs grey; a comment in the text says so). With scores (one
    /// per edge id), an edge's pen width is 1 + 4 |score| / max |score| over the circuit's edges; without, or when
    /// every score is 0, it is 1. Fails when the scores are not one per edge id.
    val dot: Circuit -> scores: float[] option -> string
