module PatchDescent.Tests.ScheduleTests

open Expecto
open FsCheck
open FsCheck.FSharp
open PatchDescent.Search
open PatchDescent.Tests.GraphTests

let private gpt2 = Graph.gpt2Small

let private resolved schedule =
    match Schedule.resolve schedule with
    | Ok r -> r
    | Error message -> failtest message

let private errorOf schedule =
    match Schedule.resolve schedule with
    | Ok r -> failtest $"resolved with {r.ParamCount} parameters, expected an error"
    | Error message -> message

/// Edges into head inputs, by hand: each layer l has 3H of them, reading 1 + l*(H + mlp) senders.
let private headInputEdges shape =
    let l, h, b = shape.Layers, shape.Heads, shape.Heads + mlp shape
    3 * h * (l + b * l * (l - 1) / 2)

/// Heads granularity by hand: each of the L*H heads receives from the H*l heads of earlier layers (H*H*L(L-1)/2 in
/// all) and from the input (L*H), and sends to the logits (L*H).
let private headsParamCount shape =
    let l, h = shape.Layers, shape.Heads
    h * h * l * (l - 1) / 2 + 2 * l * h

let private touchesMlp edge =
    match edge.Sender, edge.Receiver with
    | Mlp _, _
    | _, MlpIn _ -> true
    | _ -> false

/// Edges that use each parameter, by parameter index.
let private edgesOfParams (r: ResolvedSchedule) =
    let byParam =
        Array.zip (Graph.edges r.Shape) r.Source
        |> Array.choose (fun (e, s) -> match s with Param i -> Some(i, e) | Fixed _ -> None)
        |> Array.groupBy fst
        |> Map.ofArray
    Array.init r.ParamCount (fun i -> Map.tryFind i byParam |> Option.defaultValue [||] |> Array.map snd |> Set.ofArray)

/// Schedules built from a few combinators in random order, on random shapes.
let private schedules =
    gen {
        let! shape = shapes.Generator
        let! start = Gen.elements [ Schedule.learnAll; Schedule.heads; (fun s -> Schedule.fixAll s 0.5) ]
        let! first = Gen.choose (0, shape.Layers - 1)
        let steps =
            [ Schedule.learn (Edges.touching (Nodes.layer first))
              Schedule.fix (Edges.into Nodes.heads) 0.0
              Schedule.initial (Edges.from Nodes.input) 0.25
              Schedule.tieQkv
              Schedule.tieBySender
              Schedule.restrict (Nodes.union [ Nodes.input; Nodes.logits; Nodes.layers first (shape.Layers - 1) ]) ]
        let! chosen = Gen.listOf (Gen.elements steps) |> Gen.resize 4
        return List.fold (fun s step -> step s) (start shape) chosen
    }
    |> Arb.fromGen

[<Tests>]
let tests =
    testList "Schedule" [
        test "the Heads schedule of GPT-2 small has 9,792 parameters and keeps MLPs and input->logits clean" {
            let r = resolved (Schedule.heads gpt2)
            Expect.equal r.ParamCount (9504 + 144 + 144) "parameters"
            for e in Graph.edges gpt2 do
                let source = r.Source[Graph.edgeId gpt2 e]
                if touchesMlp e || e = { Sender = Input; Receiver = LogitsIn } then
                    Expect.equal source (Fixed 1.0) (Edge.name e)
                else
                    Expect.isTrue (source.IsParam) (Edge.name e)
        }
        testProperty "the Heads schedule has H*H*L*(L-1)/2 + 2*L*H parameters" <|
            Prop.forAll shapes (fun shape -> (resolved (Schedule.heads shape)).ParamCount = headsParamCount shape)
        testProperty "each Heads parameter is named by the port-less name of exactly the edges it drives" <|
            Prop.forAll shapes (fun shape ->
                let r = resolved (Schedule.heads shape)
                Array.zip r.ParamNames (edgesOfParams r)
                |> Array.forall (fun (name, edges) ->
                    match Edge.parse name with
                    | Ok parsed -> Set.ofList parsed = edges && not (name.Contains '<')
                    | Error _ -> false))
        testProperty "learnAll gives every edge its own parameter, in edge order, named after it, starting at 1" <|
            Prop.forAll shapes (fun shape ->
                let r = resolved (Schedule.learnAll shape)
                r.ParamCount = edgeCountByFormula shape
                && r.Source = Array.init r.ParamCount Param
                && r.ParamNames = (Graph.edges shape |> Array.map Edge.name)
                && r.Init |> Array.forall ((=) 1.0))
        testProperty "tieQkv divides the number of head-input edges by 3 and leaves the others alone" <|
            Prop.forAll shapes (fun shape ->
                let r = resolved (Schedule.learnAll shape |> Schedule.tieQkv)
                r.ParamCount = edgeCountByFormula shape - headInputEdges shape + headInputEdges shape / 3)
        testProperty "tieBySender leaves one parameter per sender, named a3.h7->*" <|
            Prop.forAll shapes (fun shape ->
                let r = resolved (Schedule.learnAll shape |> Schedule.tieBySender)
                r.ParamCount = 1 + shape.Layers * (shape.Heads + mlp shape)
                && List.ofArray r.ParamNames = (referenceSenders shape |> List.map (fun n -> Node.name n + "->*")))
        testProperty "every parameter index is below ParamCount and used, with one initial value and name each" <|
            Prop.forAll schedules (fun schedule ->
                match Schedule.resolve schedule with
                // The generator's rules are all in range, so the only refusals are of tie groups that mix kinds.
                | Error message -> message.Contains "the edges tied as"
                | Ok r ->
                    let used = r.Source |> Array.choose (function Param i -> Some i | Fixed _ -> None) |> Set.ofArray
                    used = Set.ofList [ 0 .. r.ParamCount - 1 ]
                    && r.Source.Length = Graph.edgeCount schedule.Shape
                    && r.Init.Length = r.ParamCount
                    && (Array.distinct r.ParamNames).Length = r.ParamCount)
        testProperty "restricted to a node set and tied by sender within it, a schedule learns one coefficient per sender inside, numbered by its first edge, and fixes every other edge at 1" <|
            Prop.forAll shapes (fun shape ->
                let last = min 1 (shape.Layers - 1)
                let nodes = Nodes.union [ Nodes.input; Nodes.layers 0 last ]
                let inLayers node = match Node.layer node with Some l -> l <= last | None -> false
                let inside (e: Edge) = (e.Sender = Input || inLayers e.Sender) && inLayers (Receiver.node e.Receiver)
                let r = resolved (Schedule.learnAll shape |> Schedule.restrict nodes |> Schedule.tie Grouping.BySender (Edges.within nodes))
                let edges = Graph.edges shape
                let senders = edges |> Array.filter inside |> Array.map (fun e -> e.Sender) |> Array.distinct
                let expected = edges |> Array.map (fun e -> if inside e then Param(Array.findIndex ((=) e.Sender) senders) else Fixed 1.0)
                (r.Source = expected && List.ofArray r.ParamNames = [ for s in senders -> Node.name s + "->*" ])
                |> Prop.label $"{r.ParamCount} parameters, {senders.Length} senders inside")
        test "schedules compare by their rules" {
            Expect.equal (Schedule.heads gpt2) (Schedule.heads gpt2) "same rules"
            Expect.notEqual (Schedule.heads gpt2) (Schedule.learnAll gpt2) "different rules"
            Expect.stringContains (sprintf "%A" (Schedule.heads gpt2)) "Qkv" "printable"
        }
        test "fix, learn and initial apply to their edges only, later rules winning" {
            let schedule =
                Schedule.learnAll gpt2
                |> Schedule.fix (Edges.atPort V) 0.0
                |> Schedule.initial (Edges.into Nodes.logits) 0.5
                |> Schedule.learn (Edges.inter [ Edges.atPort V; Edges.from Nodes.input ])
            let r = resolved schedule
            let valueEdges = 12 * (12 + 13 * 66) // one third of the head-input edges
            Expect.equal r.ParamCount (32491 - valueEdges + 144) "V inputs fixed, except from the input"
            let edges = Graph.edges gpt2
            for id, source in Array.indexed r.Source do
                match edges[id], source with
                | { Sender = s; Receiver = HeadIn(_, _, V) }, Fixed 0.0 when s <> Input -> ()
                | { Receiver = HeadIn(_, _, V) }, Fixed _ -> failtest $"{Edge.name edges[id]} should be learned"
                | { Receiver = LogitsIn }, Param i -> Expect.equal r.Init[i] 0.5 (Edge.name edges[id])
                | _, Param i -> Expect.equal r.Init[i] 1.0 (Edge.name edges[id])
                | e, s -> failtest $"{Edge.name e} resolved to %A{s}"
        }
        test "learn keeps the initial value an earlier rule set" {
            let r = resolved (Schedule.fixAll gpt2 0.0 |> Schedule.initial Edges.all 0.3 |> Schedule.learn (Edges.from Nodes.mlps))
            Expect.equal r.ParamCount 2454 "edges out of MLPs, counted in the graph tests"
            Expect.allEqual r.Init 0.3 "initial values"
        }
        testProperty "restrict learns exactly the edges with both ends among the nodes and fixes the rest at 1" <|
            Prop.forAll shapes (fun shape ->
                let first, last = shape.Layers / 2, shape.Layers - 1
                let r = resolved (Schedule.learnAll shape |> Schedule.restrict (Nodes.layers first last))
                let inRange node =
                    match node with
                    | Head(l, _)
                    | Mlp l -> first <= l && l <= last
                    | _ -> false
                Array.zip (Graph.edges shape) r.Source
                |> Array.forall (fun (e, source) ->
                    let inside = inRange e.Sender && inRange (Receiver.node e.Receiver)
                    if inside then source.IsParam else source = Fixed 1.0))
        test "combine applies the later schedule's rules last" {
            Expect.equal (resolved (Schedule.combine (Schedule.fixAll gpt2 0.0) (Schedule.learnAll gpt2))).ParamCount 32491 "learned"
            let fixedLater = resolved (Schedule.combine (Schedule.learnAll gpt2) (Schedule.fixAll gpt2 0.25))
            Expect.equal fixedLater.ParamCount 0 "no parameters"
            Expect.allEqual fixedLater.Source (Fixed 0.25) "all fixed"
            Expect.throws (fun () -> Schedule.combine (Schedule.learnAll gpt2) (Schedule.learnAll { gpt2 with Layers = 2 }) |> ignore) "shapes differ"
        }
        test "values outside [0, 1] are errors naming the edge" {
            let message = errorOf (Schedule.learnAll gpt2 |> Schedule.fix (Edges.into Nodes.logits) 1.5)
            Expect.stringContains message "input->logits is fixed at 1.5" "fixed"
            Expect.stringContains message "and 152 more" "157 problems, 5 shown"
            let message = errorOf (Schedule.learnAll gpt2 |> Schedule.initial (Edges.only [ { Sender = Mlp 3; Receiver = LogitsIn } ]) -0.1)
            Expect.stringContains message "m3->logits starts at -0.1" "initial"
            Expect.isError (Schedule.resolve (Schedule.fixAll gpt2 nan)) "NaN"
            // A value that no learnable edge uses is harmless.
            Expect.isOk (Schedule.resolve (Schedule.fixAll gpt2 1.0 |> Schedule.initial Edges.all 7.0)) "unused initial value"
        }
        test "a tie group mixing fixed and learnable edges is an error naming the group" {
            let schedule =
                Schedule.learnAll gpt2
                |> Schedule.tieBySender
                |> Schedule.fix (Edges.only [ { Sender = Head(0, 0); Receiver = HeadIn(1, 0, Q) } ]) 0.0
            let message = errorOf schedule
            Expect.stringContains message "a0.h0->*" "group"
            Expect.stringContains message "mix" "what is wrong"
        }
        test "a tie group whose edges disagree on their value is an error" {
            let differentInit = Schedule.learnAll gpt2 |> Schedule.tieQkv |> Schedule.initial (Edges.atPort Q) 0.5
            Expect.stringContains (errorOf differentInit) "input->a0.h0 are learnable but start from different values" "initial"
            let differentFixed = Schedule.fixAll gpt2 1.0 |> Schedule.tieQkv |> Schedule.fix (Edges.atPort K) 0.0
            Expect.stringContains (errorOf differentFixed) "fixed at different values" "fixed"
        }
        test "a named tie joins any edges into one parameter of that name" {
            let pair = [ { Sender = Input; Receiver = LogitsIn }; { Sender = Head(0, 0); Receiver = MlpIn 5 } ]
            let r = resolved (Schedule.learnAll gpt2 |> Schedule.tie (Grouping.Named "pair") (Edges.only pair))
            Expect.equal r.ParamCount (32491 - 1) "one fewer"
            let i = Array.findIndex ((=) "pair") r.ParamNames
            let groups = edgesOfParams r
            Expect.equal groups[i] (Set.ofList pair) "the pair"
        }
    ]
