/// Circuit diagrams drawn without Graphviz: a layered layout as a value, written as SVG text or as a PNG.
namespace PatchDescent.Search

/// A node's box in a diagram, in pixels, y down.
type DiagramNode =
    { /// The node.
      Node: Node
      /// Its MIB name, `a3.h7`.
      Name: string
      /// What the box shows: the head's index (`h7`; the row says the layer), `MLP`, `input` or `logits`.
      Label: string
      /// The box's centre.
      X: float
      Y: float
      Width: float
      Height: float }

/// An edge drawn as a cubic Bezier curve from the top of the sender's box to the receiver's port.
type DiagramEdge =
    { /// The edge's id in the Full graph.
      Id: int
      /// Its MIB name, `a3.h7->a5.h1<k>`.
      Name: string
      /// Its score in the run.
      Score: float
      /// 1 for the edge with the largest |score| of the circuit, 2 for the next, and so on (ties by edge id).
      Rank: int
      /// `q`, `k` or `v` for an edge into a head, `` for one into an MLP or the logits.
      Port: string
      /// Its stroke colour (`Render.port`'s palette).
      Colour: string
      /// Its stroke width: 1 + 4 |score| / max |score| over the circuit, as circuit.dot's pen width.
      Width: float
      /// Start, the two control points and the end.
      Points: (float * float) list }

/// A circuit laid out for drawing.
type Diagram =
    { Title: string
      Width: float
      Height: float
      /// The row labels (`layer 3`) at their heights.
      Rows: (string * float) list
      Nodes: DiagramNode list
      Edges: DiagramEdge list }

/// Laying out and drawing circuits.
module Diagram =
    /// The layout researchers know from circuit papers: the input at the bottom, the logits at the top, one row a
    /// layer that has a node of the circuit (its heads, then its MLP, raised a little so that the heads' edges into
    /// it show). Each row's order starts in head order and is improved by barycentre sweeps, keeping the order with
    /// the fewest crossings of straight lines between the boxes; above 2,000 edges the rows keep head order, since
    /// counting crossings is quadratic in the edges. Every node and edge of the circuit is drawn and no other. Fails when the scores are not one per edge id of the circuit's graph.
    val layout: title: string -> Circuit -> scores: float[] -> Diagram
    /// Crossings of the straight lines between the edges' ends (a pair sharing an end does not cross).
    val crossings: Diagram -> int
    /// The diagram as a self-contained SVG document: a title, a legend of the port colours and the width, one
    /// `<path class="edge">` per edge with `data-edge`, `data-score` and `data-rank` and a `<title>` that a browser
    /// shows on hover, and one `<g class="node">` per node with `data-node`.
    val svg: Diagram -> string
    /// Writes the same picture as a PNG (SkiaSharp, through a temporary file renamed into place).
    val writePng: Diagram -> path: string -> unit
