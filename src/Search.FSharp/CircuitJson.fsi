/// Circuits as JSON: MIB's graph interchange (the EAP-IG `Graph.to_json` form) and PatchDescent's own `circuit.json`.
namespace PatchDescent.Search

/// What one discovery run found, as `circuit.json` records it.
type CircuitReport =
    { /// `Version.current` of the library that wrote the report.
      LibraryVersion: string
      /// The model, as the run named it (a folder or a Hugging Face name).
      Model: string
      /// The task or dataset the circuit is for.
      Task: string
      /// The granularity the coefficients lived on, e.g. `Full` or `Heads`.
      Granularity: string
      /// The seed of the run.
      Seed: int
      /// The run's settings as name and printed value, in the order given.
      Hyperparameters: (string * string) list
      /// The kept edges as MIB name and score, in the order given.
      Edges: (string * float) list
      /// The evaluation's figures as name and value, in the order given; NaN where a figure is undefined.
      Metrics: (string * float) list
      /// What a reader of the figures must know, one sentence each, e.g. that the faithfulness is meaningless
      /// because the full and empty metrics coincide; written as a JSON array, read as [] when the file has none.
      Warnings: string list }

/// The two forms a saved circuit comes in.
type CircuitFileFormat =
    /// PatchDescent's `circuit.json` (`CircuitJson.writeReport`); its kept edges are the circuit.
    | Report
    /// MIB's graph JSON (`CircuitJson.exportMib`, EAP-IG's `Graph.to_json`); its in_graph edges are the circuit.
    | Mib

/// Writing and reading circuits as JSON.
module CircuitJson =
    /// MIB's graph JSON as EAP-IG's `Graph.to_json` writes it and its `Graph.from_json` reads it: `cfg` (n_layers,
    /// n_heads, parallel_attn_mlp false, d_model), `nodes` (every sender and `logits`, each with only in_graph: true
    /// when it is an end of a circuit edge) and `edges` (every Full-graph edge by MIB name, in id order, with its
    /// score, or null without scores, and in_graph). Fails, naming the edge, when the scores are not one per edge id
    /// or a score is not finite (JSON has no NaN).
    val exportMib: dModel: int -> Circuit -> scores: float[] option -> string
    /// Reads MIB's graph JSON for a shape (a `cfg` is optional; when present, it must agree): the circuit is the edges whose `in_graph` is true, and the scores are
    /// Some (one per edge id) when every edge of the shape has a numeric score, None when none has one. A port-less
    /// head edge `a3.h7->a5.h1` stands for its q, k and v edges. `nodes` is not read: a node's membership follows
    /// from its edges. The error names the field or the edge: text that is not JSON (a key given twice, NaN), not a
    /// JSON object, a cfg whose n_layers
    /// or n_heads differ from the shape or whose parallel_attn_mlp is true, a malformed edge name, an edge the shape
    /// lacks (an MLP edge for an attention-only shape says so), an edge listed twice, a missing or non-boolean
    /// in_graph, a score that is neither a number nor null, or some edges scored and others not.
    val importMib: GraphShape -> text: string -> Result<Circuit * float[] option, string>
    /// Writes the report as JSON through a temporary file renamed into place, so that a reader never sees half a
    /// file. NaN edge scores and metrics are written as null (JSON has no NaN) and `readReport` reads null back as
    /// NaN. Fails, naming the item, for an infinite score or metric.
    val writeReport: path: string -> CircuitReport -> unit
    /// Reads a report `writeReport` wrote; the error names the file and the field that is malformed, or every
    /// field that is missing.
    val readReport: path: string -> Result<CircuitReport, string>
    /// Reads a circuit in either form with only what scoring it needs: `edges`. MIB's form is told by a `cfg` or by
    /// edges that are objects (`importMib`'s rules); a report's edges are scores, and every one listed is kept. Also
    /// gives the `model` the file records, if any. The error names the field or the edge, as `importMib`'s do.
    val readCircuit: GraphShape -> text: string -> Result<CircuitFileFormat * Circuit * string option, string>
