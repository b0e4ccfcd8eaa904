module PatchDescent.Tests.CircuitJsonTests

open System
open System.IO
open System.Text.Json
open Expecto
open FsCheck
open FsCheck.FSharp
open PatchDescent.Search
open PatchDescent.Tests.Fixtures

let private shape = { Layers = 2; Heads = 2; HasMlp = true }
let private edge s r = { Sender = s; Receiver = r }
let private cfg = "\"cfg\": {\"n_layers\": 2, \"n_heads\": 2, \"parallel_attn_mlp\": false, \"d_model\": 8}"

/// The error of importing a document with a valid cfg for `shape` and the given edges.
let private errorOf shape (edges: string) =
    let text = $"{{\"cfg\": {{\"n_layers\": {shape.Layers}, \"n_heads\": {shape.Heads}}}, \"edges\": {{{edges}}}}}"
    match CircuitJson.importMib shape text with
    | Ok(c, _) -> failtest $"imported {Circuit.edgeCount c} edges, expected an error"
    | Error message -> message

/// The error of importing the text.
let private importError shape text =
    match CircuitJson.importMib shape text with
    | Ok(c, _) -> failtest $"imported {Circuit.edgeCount c} edges, expected an error"
    | Error message -> message

let private expectError (message: string) (fragments: string list) =
    for f in fragments do Expect.stringContains message f "names what is wrong"

let private report =
    { LibraryVersion = Version.current
      Model = "models/gpt2 \"small\" <ü>"
      Task = "ioi"
      Granularity = "Full"
      Seed = 7
      Hyperparameters = [ "lr", "0.1"; "steps", "2000"; "loss", "kl + 0.01 * l1" ]
      Edges = [ "a0.h1->a1.h0<q>", 0.125; "m1->logits", -3.5e-7; "input->m0", nan ]
      Metrics = [ "faithfulness", nan; "kl", 0.25 ]
      Warnings = [ "faithfulness is meaningless: \"full\" and empty agree" ] }

/// NaN-aware equality of name/value lists: NaN matches NaN.
let private sameNumbers (a: (string * float) list) (b: (string * float) list) =
    List.length a = List.length b
    && List.forall2 (fun (n, x) (m, y) -> n = m && (x = y || Double.IsNaN x && Double.IsNaN y)) a b

[<Tests>]
let tests =
    testList "CircuitJson" [
        testProperty "exporting to MIB JSON and importing gives back the circuit and the scores" <|
            Prop.forAll CircuitTests.scoredCircuits (fun (circuit, scores) ->
                CircuitJson.importMib circuit.Shape (CircuitJson.exportMib 8 circuit scores) = Ok(circuit, scores))
        testProperty "the export lists every Full-graph edge and marks exactly the ends of circuit edges as nodes in the graph, with EAP-IG's cfg and nodes" <|
            Prop.forAll CircuitTests.scoredCircuits (fun (circuit, scores) ->
                use doc = JsonDocument.Parse(CircuitJson.exportMib 8 circuit scores)
                // EAP-IG's Graph.from_json builds the graph from cfg.d_model and stores any node "score" in a tensor.
                let cfg = doc.RootElement.GetProperty "cfg"
                let nodeFields = set [ for p in doc.RootElement.GetProperty("nodes").EnumerateObject() do for f in p.Value.EnumerateObject() -> f.Name ]
                cfg.GetProperty("d_model").GetInt32() = 8 && nodeFields = set [ "in_graph" ] &&
                let root = doc.RootElement
                let edgeNames = [ for p in root.GetProperty("edges").EnumerateObject() -> p.Name ]
                let inGraph = set [ for p in root.GetProperty("nodes").EnumerateObject() do if p.Value.GetProperty("in_graph").GetBoolean() then p.Name ]
                edgeNames = [ for e in Graph.edges circuit.Shape -> Edge.name e ]
                && inGraph = Set.map Node.name (Circuit.nodes circuit))
        test "a hand-written MIB snippet imports exactly its in-graph edges, a port-less head edge as q, k and v" {
            let text =
                "{" + cfg + """,
                  "nodes": {"input": {"in_graph": true, "score": null}},
                  "edges": {
                    "input->a0.h1<q>": {"score": null, "in_graph": true},
                    "a0.h1->a1.h0": {"score": null, "in_graph": true},
                    "a1.h0->m1": {"in_graph": true},
                    "m1->logits": {"score": null, "in_graph": true},
                    "input->logits": {"score": null, "in_graph": false}}}"""
            let expected =
                [ edge Input (HeadIn(0, 1, Q))
                  edge (Head(0, 1)) (HeadIn(1, 0, Q)); edge (Head(0, 1)) (HeadIn(1, 0, K)); edge (Head(0, 1)) (HeadIn(1, 0, V))
                  edge (Head(1, 0)) (MlpIn 1)
                  edge (Mlp 1) LogitsIn ]
            match CircuitJson.importMib shape text with
            | Error e -> failtest e
            | Ok(circuit, scores) ->
                Expect.equal (set (Circuit.edges circuit)) (set expected) "edges"
                Expect.isNone scores "no scores"
        }
        test "text that is not JSON says so" {
            expectError (importError shape "{\"cfg\": ") [ "not JSON" ]
        }
        test "JSON that is not an object says so" {
            expectError (importError shape "[1, 2]") [ "not a JSON object" ]
        }
        test "a document without cfg is read from its edges alone" {
            Expect.equal (CircuitJson.importMib shape """{"edges": {}}""") (Ok(Circuit.ofEdges shape [], None)) "no cfg, no edges kept"
        }
        test "a cfg with another layer count names cfg.n_layers and both counts" {
            expectError (importError shape """{"cfg": {"n_layers": 3, "n_heads": 2}, "edges": {}}""") [ "\"cfg.n_layers\" is 3"; "2 layers" ]
        }
        test "a cfg with another head count names cfg.n_heads and both counts" {
            expectError (importError shape """{"cfg": {"n_layers": 2, "n_heads": 4}, "edges": {}}""") [ "\"cfg.n_heads\" is 4"; "2 heads" ]
        }
        test "a parallel attention and MLP graph names cfg.parallel_attn_mlp" {
            expectError (importError shape """{"cfg": {"n_layers": 2, "n_heads": 2, "parallel_attn_mlp": true}, "edges": {}}""") [ "\"cfg.parallel_attn_mlp\" is true" ]
        }
        test "a document without edges names the field" {
            expectError (importError shape $"{{{cfg}}}") [ "\"edges\"" ]
        }
        test "a malformed edge name is named" {
            expectError (errorOf shape "\"a0.h1=>m0\": {\"in_graph\": true}") [ "edge \"a0.h1=>m0\""; "not an edge name" ]
        }
        test "an edge the shape lacks is named" {
            expectError (errorOf shape "\"a1.h0->a0.h1<q>\": {\"in_graph\": false}") [ "edge \"a1.h0->a0.h1<q>\""; "not in the graph" ]
        }
        test "a kept MLP edge for an attention-only shape is named and says the model has no MLP" {
            let attentionOnly = { shape with HasMlp = false }
            expectError (errorOf attentionOnly "\"a0.h0->m0\": {\"in_graph\": true}") [ "edge \"a0.h0->m0\""; "attention-only" ]
        }
        test "an MLP edge out of the graph is skipped for an attention-only shape, as MIB lists them" {
            let attentionOnly = { shape with HasMlp = false }
            let exported = CircuitJson.exportMib 8 (Circuit.empty attentionOnly) None
            let withMlp = exported.Replace("\"edges\": {", "\"edges\": {\"a0.h0->m0\": {\"score\": null, \"in_graph\": false}, ")
            Expect.notEqual withMlp exported "the MLP edge was spliced in"
            match CircuitJson.importMib attentionOnly withMlp with
            | Ok(circuit, _) -> Expect.equal circuit (Circuit.empty attentionOnly) "same circuit"
            | Error e -> failtest e
        }
        test "an edge given both port-less and with its port is named" {
            expectError (errorOf shape "\"a0.h1->a1.h0\": {\"in_graph\": true}, \"a0.h1->a1.h0<k>\": {\"in_graph\": true}")
                [ "edge \"a0.h1->a1.h0<k>\""; "a0.h1->a1.h0<k>, which an earlier entry already gave" ]
        }
        test "an edge without in_graph is named" {
            expectError (errorOf shape "\"input->m0\": {\"score\": 1.0}") [ "edge \"input->m0\" lacks the field \"in_graph\"" ]
        }
        test "an in_graph that is not a boolean is named with its edge" {
            expectError (errorOf shape "\"input->m0\": {\"in_graph\": \"yes\"}") [ "edge \"input->m0\": \"in_graph\" must be true or false, found \"yes\"" ]
        }
        test "a score that is not a number is named with its edge" {
            expectError (errorOf shape "\"input->m0\": {\"in_graph\": true, \"score\": \"high\"}") [ "edge \"input->m0\": \"score\" must be a number or null" ]
        }
        test "scores on some edges only name the first edge without one" {
            expectError (errorOf shape "\"input->a0.h1<q>\": {\"in_graph\": true, \"score\": 0.5}")
                [ $"edge \"{Edge.name (Graph.edge shape 0)}\" is missing"; "score every edge or none" ]
        }
        test "a report written and read back is the same report, NaN as null and back to NaN" {
            use dir = new TempDir()
            let path = dir.File "circuit.json"
            CircuitJson.writeReport path report
            Expect.stringContains (File.ReadAllText path) "\"faithfulness\": null" "NaN is written as null"
            match CircuitJson.readReport path with
            | Error e -> failtest e
            | Ok back ->
                Expect.equal { back with Edges = []; Metrics = [] } { report with Edges = []; Metrics = [] } "every other field"
                Expect.isTrue (sameNumbers back.Edges report.Edges) $"edges {back.Edges}"
                Expect.isTrue (sameNumbers back.Metrics report.Metrics) $"metrics {back.Metrics}"
        }
        test "writing a report over an old one leaves only the file, no temporary" {
            use dir = new TempDir()
            let path = dir.File "circuit.json"
            CircuitJson.writeReport path { report with Seed = 1 }
            CircuitJson.writeReport path report
            Expect.equal (Directory.GetFileSystemEntries dir.Path) [| path |] "only circuit.json"
            Expect.equal (CircuitJson.readReport path |> Result.map _.Seed) (Ok 7) "the second report"
        }
        test "an infinite metric is refused by name and leaves no file behind" {
            use dir = new TempDir()
            let path = dir.File "circuit.json"
            let e = Expect.throwsC (fun () -> CircuitJson.writeReport path { report with Metrics = [ "kl", infinity ] }) id
            Expect.stringContains e.Message "metric \"kl\"" "names the metric"
            Expect.isEmpty (Directory.GetFileSystemEntries dir.Path) "nothing written"
        }
        test "reading a missing report names the file" {
            use dir = new TempDir()
            let path = dir.File "absent.json"
            Expect.equal (CircuitJson.readReport path) (Error $"{path}: no such file") "message"
        }
        test "a report without a field names the file and the field" {
            use dir = new TempDir()
            let path = dir.File "circuit.json"
            CircuitJson.writeReport path report
            File.WriteAllText(path, File.ReadAllText(path).Replace("\"task\"", "\"job\""))
            Expect.equal (CircuitJson.readReport path) (Error $"{path}: lacks the field \"task\"") "message"
        }
        test "a report lacking several fields names every one in one message" {
            use dir = new TempDir()
            let path = dir.File "circuit.json"
            CircuitJson.writeReport path report
            File.WriteAllText(path, File.ReadAllText(path).Replace("\"task\"", "\"job\"").Replace("\"seed\"", "\"sead\""))
            Expect.equal (CircuitJson.readReport path) (Error $"{path}: lacks the fields \"task\", \"seed\"") "message"
        }
        test "a key given twice in a circuit is refused, naming it with its path" {
            let text = $"{{{cfg}, \"edges\": {{\"input->logits\": {{\"score\": 1, \"in_graph\": true, \"in_graph\": false}}}}}}"
            expectError (importError shape text) [ "the key \"edges\".\"input->logits\".\"in_graph\" appears twice" ]
        }
        test "NaN or Infinity in a circuit says JSON has no such number and that the format writes null" {
            let text = $"{{{cfg}, \"edges\": {{\"input->logits\": {{\"score\": NaN, \"in_graph\": true}}}}}}"
            expectError (importError shape text) [ "NaN or Infinity"; "writes a NaN as null"; "line 1, column" ]
        }
        test "readCircuit takes a report or an MIB graph from its edges alone, and gives the model a report records" {
            let kept = Circuit.ofEdges shape [ edge Input LogitsIn; edge (Head(0, 1)) (MlpIn 1) ]
            let mib = CircuitJson.exportMib 8 kept None
            // MIB's graph without its cfg and nodes: the edges alone.
            use doc = JsonDocument.Parse mib
            let edgesText = doc.RootElement.GetProperty("edges").GetRawText()
            let edgesOnly = $"{{\"edges\": {edgesText}}}"
            Expect.equal (CircuitJson.readCircuit shape edgesOnly) (Ok(Mib, kept, None)) "MIB, edges alone"
            let reportText = """{"model": "models/x", "edges": {"input->logits": 0.5, "a0.h1->m1": null}}"""
            Expect.equal (CircuitJson.readCircuit shape reportText) (Ok(Report, kept, Some "models/x")) "a report's edges, no other field"
            match CircuitJson.readCircuit shape """{"model": "m"}""" with
            | Ok _ -> failtest "read a circuit without edges"
            | Error e -> Expect.stringContains e "lacks the field \"edges\"" "names the one field needed"
        }
        test "a report with a seed that is not an integer names the field and the value" {
            use dir = new TempDir()
            let path = dir.File "circuit.json"
            CircuitJson.writeReport path report
            File.WriteAllText(path, File.ReadAllText(path).Replace("\"seed\": 7", "\"seed\": 7.5"))
            Expect.equal (CircuitJson.readReport path) (Error $"{path}: \"seed\" must be an integer, found 7.5") "message"
        }
        test "a report written before warnings existed reads with none, and a malformed warning names the field" {
            use dir = new TempDir()
            let path = dir.File "circuit.json"
            CircuitJson.writeReport path { report with Warnings = [] }
            let text = File.ReadAllText path
            File.WriteAllText(path, text.Replace(",\n  \"warnings\": []", ""))
            Expect.isFalse (File.ReadAllText(path).Contains "warnings") "the field is gone"
            Expect.equal (CircuitJson.readReport path |> Result.map _.Warnings) (Ok []) "no warnings"
            File.WriteAllText(path, text.Replace("\"warnings\": []", "\"warnings\": [3]"))
            Expect.equal (CircuitJson.readReport path) (Error $"{path}: \"warnings\" must hold strings, found 3") "message"
        }
    ]
