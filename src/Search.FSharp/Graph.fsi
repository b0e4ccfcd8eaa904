/// The edge graph of a GPT-2-architecture transformer: its nodes, its edges in a fixed order, and their MIB names.
namespace PatchDescent.Search

/// The size of a model as the edge graph sees it.
type GraphShape =
    { /// Number of transformer blocks.
      Layers: int
      /// Attention heads per block.
      Heads: int
      /// False for attention-only models, whose blocks have no MLP.
      HasMlp: bool }

/// A node of the computational graph: something that writes to or reads from the residual stream.
type Node =
    /// The token and position embeddings; MIB name `input`.
    | Input
    /// One attention head; MIB name `a3.h7`.
    | Head of layer: int * head: int
    /// The MLP of one block; MIB name `m3`.
    | Mlp of layer: int
    /// The unembedding, which reads the final residual stream; MIB name `logits`.
    | Logits

/// The three inputs of an attention head, each of which reads the residual stream separately.
type Qkv =
    /// The query input; MIB port `<q>`.
    | Q
    /// The key input; MIB port `<k>`.
    | K
    /// The value input; MIB port `<v>`.
    | V

/// A place that reads the residual stream: a head input, an MLP input, or the logits.
type Receiver =
    /// One of the q, k, v inputs of a head; MIB name `a5.h1<q>`.
    | HeadIn of layer: int * head: int * port: Qkv
    /// The input of a block's MLP; MIB name `m5`.
    | MlpIn of layer: int
    /// The unembedding's input; MIB name `logits`.
    | LogitsIn

/// One edge: what the receiver reads from the sender's output. The sender is never `Logits`.
type Edge = { Sender: Node; Receiver: Receiver }

/// Which graph the coefficients live on.
[<RequireQualifiedAccess>]
type Granularity =
    /// Every edge of the graph, q, k and v separately, MLPs included.
    | Full
    /// Head-to-head, input-to-head and head-to-logits edges, q/k/v tied; MLP edges always clean.
    | Heads

/// The four kinds of node, for edge sets that select by kind.
[<RequireQualifiedAccess>]
type NodeKind =
    /// The embeddings.
    | Input
    /// Attention heads.
    | Head
    /// MLPs.
    | Mlp
    /// The unembedding.
    | Logits

/// A set of nodes described as data, so that schedules built from it print, compare and save.
[<RequireQualifiedAccess>]
type NodeSet =
    /// Every node.
    | All
    /// Every node of one kind.
    | OfKind of NodeKind
    /// Heads and MLPs of layers first..last inclusive (the input and the logits belong to no layer).
    | InLayers of first: int * last: int
    /// Exactly these nodes.
    | Only of Set<Node>
    /// Nodes in any of the sets.
    | AnyOf of NodeSet list
    /// Nodes in every one of the sets.
    | AllOf of NodeSet list
    /// Nodes not in the set.
    | Not of NodeSet

/// A set of edges described as data, so that schedules built from it print, compare and save.
[<RequireQualifiedAccess>]
type EdgeSet =
    /// Every edge.
    | All
    /// Edges whose sender is in the node set.
    | From of NodeSet
    /// Edges whose receiver belongs to a node in the node set.
    | Into of NodeSet
    /// Edges into a head's q, k or v input.
    | AtPort of Qkv
    /// Exactly these edges.
    | Only of Set<Edge>
    /// Edges in any of the sets.
    | AnyOf of EdgeSet list
    /// Edges in every one of the sets.
    | AllOf of EdgeSet list
    /// Edges not in the set.
    | Not of EdgeSet

/// Node names and properties.
module Node =
    /// The MIB name: `input`, `a3.h7`, `m3`, `logits`.
    val name: Node -> string
    /// Parses an MIB node name; the error names the offending text.
    val parse: string -> Result<Node, string>
    /// The block a head or MLP belongs to; None for the input and the logits.
    val layer: Node -> int option
    /// The node's kind.
    val kind: Node -> NodeKind

/// Receiver names and properties.
module Receiver =
    /// The MIB name: `a5.h1<q>`, `m5`, `logits`.
    val name: Receiver -> string
    /// The node whose input this is.
    val node: Receiver -> Node

/// Edge names.
module Edge =
    /// The MIB name: `a3.h7->a5.h1<q>`, `input->m0`, `m11->logits`.
    val name: Edge -> string
    /// Parses an MIB edge name into its edges: one edge, or q, k, v in that order for the port-less head form
    /// `a3.h7->a5.h1`. Checks the syntax only; `Graph.contains` says whether a given graph has the edges.
    val parse: string -> Result<Edge list, string>

/// Node sets: the building blocks of edge sets.
module Nodes =
    /// Every node.
    val all: NodeSet
    /// The embeddings.
    val input: NodeSet
    /// Every attention head.
    val heads: NodeSet
    /// Every MLP.
    val mlps: NodeSet
    /// The unembedding.
    val logits: NodeSet
    /// Heads and MLPs of one layer.
    val layer: int -> NodeSet
    /// Heads and MLPs of layers first..last inclusive.
    val layers: first: int -> last: int -> NodeSet
    /// Exactly these nodes.
    val only: Node list -> NodeSet
    /// Nodes in any of the sets.
    val union: NodeSet list -> NodeSet
    /// Nodes in every one of the sets.
    val inter: NodeSet list -> NodeSet
    /// Nodes in the first set but not the second.
    val except: NodeSet -> NodeSet -> NodeSet
    /// Whether the node is in the set.
    val contains: NodeSet -> Node -> bool

/// Edge sets: which edges a schedule rule applies to.
module Edges =
    /// Every edge.
    val all: EdgeSet
    /// Edges out of nodes in the set.
    val from: NodeSet -> EdgeSet
    /// Edges into nodes in the set.
    val into: NodeSet -> EdgeSet
    /// Edges with either end in the set.
    val touching: NodeSet -> EdgeSet
    /// Edges with both ends in the set.
    val within: NodeSet -> EdgeSet
    /// Edges into the given input of heads.
    val atPort: Qkv -> EdgeSet
    /// Exactly these edges.
    val only: Edge list -> EdgeSet
    /// Edges in any of the sets.
    val union: EdgeSet list -> EdgeSet
    /// Edges in every one of the sets.
    val inter: EdgeSet list -> EdgeSet
    /// Edges in the first set but not the second.
    val except: EdgeSet -> EdgeSet -> EdgeSet
    /// Whether the edge is in the set.
    val contains: EdgeSet -> Edge -> bool

/// The Full graph of a shape: senders, receivers and edges in the fixed topological order the engine relies on.
module Graph =
    /// GPT-2 small: 12 layers of 12 heads, with MLPs.
    val gpt2Small: GraphShape
    /// Number of senders: the input, then every head and MLP.
    val senderCount: GraphShape -> int
    /// Position of a sender in the order input; per layer its heads, then its MLP. Fails for `Logits` or a node outside the shape.
    val senderIndex: GraphShape -> Node -> int
    /// The sender at a position of the sender order.
    val sender: GraphShape -> int -> Node
    /// Every sender, in sender order.
    val senders: GraphShape -> Node[]
    /// Every receiver in topological order: per layer the q inputs of its heads, then the k, then the v inputs,
    /// then its MLP input; finally the logits.
    val receivers: GraphShape -> Receiver[]
    /// How many senders a receiver reads; they are always the first ones in sender order.
    val upstreamCount: GraphShape -> Receiver -> int
    /// Id of the edge from sender 0 to the receiver; its edges from sender i have id offset + i.
    val receiverOffset: GraphShape -> Receiver -> int
    /// Number of edges of the Full graph.
    val edgeCount: GraphShape -> int
    /// Whether the edge belongs to the Full graph of the shape.
    val contains: GraphShape -> Edge -> bool
    /// The stable id of an edge: ordered by receiver, then by sender. Fails, naming the edge, when the graph lacks it.
    val edgeId: GraphShape -> Edge -> int
    /// The edge with a given id, in O(log layers).
    val edge: GraphShape -> int -> Edge
    /// Every edge, indexed by id.
    val edges: GraphShape -> Edge[]
