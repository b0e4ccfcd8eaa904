/// Circuits: sets of Full-graph edges, and how a circuit becomes hard 0/1 coefficients for a schedule.
namespace PatchDescent.Search

/// A circuit: the edges of the Full graph of a shape that carry the clean signal; every other edge is removed.
type Circuit =
    { /// The graph the edge ids refer to.
      Shape: GraphShape
      /// Edge ids (`Graph.edgeId`) of the edges in the circuit.
      Edges: Set<int> }

/// Building and reading circuits.
module Circuit =
    /// The circuit without edges.
    val empty: GraphShape -> Circuit
    /// The circuit with every edge of the Full graph.
    val full: GraphShape -> Circuit
    /// The circuit with exactly these edges; fails, naming the edge, when the graph lacks one.
    val ofEdges: GraphShape -> Edge seq -> Circuit
    /// The circuit's edges, in id order.
    val edges: Circuit -> Edge list
    /// Number of edges in the circuit.
    val edgeCount: Circuit -> int
    /// The nodes at either end of some edge of the circuit (a receiver counts as its node); empty for the empty circuit.
    val nodes: Circuit -> Set<Node>
    /// Hard coefficients for the learnable parameters of a schedule over the same shape: a parameter is 1 when any
    /// of its (tied) edges is in the circuit and 0 otherwise, so for a `learnAll` schedule it is exactly the edge's
    /// membership. Edges the schedule fixes keep their fixed value whatever the circuit says. Fails when the shapes differ.
    val coefficients: ResolvedSchedule -> Circuit -> float[]
