/// From per-edge scores to a circuit: keep the best-scoring edges, then prune those on no input-to-logits path.
namespace PatchDescent.Search

/// Turning scores into circuits.
module Extract =
    /// The edges whose score is at least the threshold. `scores` has one entry per edge id; fails when its length
    /// is not the shape's edge count or, naming the edge, when a score is NaN.
    val threshold: GraphShape -> scores: float[] -> threshold: float -> Circuit
    /// The min(k, edges) edges of highest score; among equal scores the lower edge id wins, so the result is
    /// deterministic. Fails for a negative k and for scores as `threshold` does.
    val topK: GraphShape -> scores: float[] -> k: int -> Circuit
    /// Keeps exactly the edges that lie on some path from `input` to `logits` through circuit edges. Two graph
    /// searches over nodes: forward from `input`, a node is reached when some circuit edge into any of its receivers
    /// comes from a reached node, so a head counts as reached when any one of its q, k, v inputs is, even if its other
    /// ports read only unreached senders; backward from `logits`, a node reaches the logits when some circuit edge
    /// out of it enters a node that does. An edge s -> r survives when s is reached and r's node reaches the logits.
    /// Idempotent, and it never adds an edge.
    val prune: Circuit -> Circuit
