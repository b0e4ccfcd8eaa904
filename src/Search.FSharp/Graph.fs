namespace PatchDescent.Search

open System.Text.RegularExpressions

type GraphShape = { Layers: int; Heads: int; HasMlp: bool }

type Node =
    | Input
    | Head of layer: int * head: int
    | Mlp of layer: int
    | Logits

type Qkv =
    | Q
    | K
    | V

type Receiver =
    | HeadIn of layer: int * head: int * port: Qkv
    | MlpIn of layer: int
    | LogitsIn

type Edge = { Sender: Node; Receiver: Receiver }

[<RequireQualifiedAccess>]
type Granularity =
    | Full
    | Heads

[<RequireQualifiedAccess>]
type NodeKind =
    | Input
    | Head
    | Mlp
    | Logits

[<RequireQualifiedAccess>]
type NodeSet =
    | All
    | OfKind of NodeKind
    | InLayers of first: int * last: int
    | Only of Set<Node>
    | AnyOf of NodeSet list
    | AllOf of NodeSet list
    | Not of NodeSet

[<RequireQualifiedAccess>]
type EdgeSet =
    | All
    | From of NodeSet
    | Into of NodeSet
    | AtPort of Qkv
    | Only of Set<Edge>
    | AnyOf of EdgeSet list
    | AllOf of EdgeSet list
    | Not of EdgeSet

module Node =
    let name node =
        match node with
        | Input -> "input"
        | Head(l, h) -> $"a{l}.h{h}"
        | Mlp l -> $"m{l}"
        | Logits -> "logits"

    // Canonical numbers only (no sign, no leading zero), so that name (parse s) = s; at most 9 digits, so no overflow.
    let private number = "(0|[1-9][0-9]{0,8})"
    let private headPattern = Regex($"^a{number}\\.h{number}$")
    let private mlpPattern = Regex($"^m{number}$")

    let parse (text: string) =
        let headMatch = headPattern.Match text
        let mlpMatch = mlpPattern.Match text
        match text with
        | "input" -> Ok Input
        | "logits" -> Ok Logits
        | _ when headMatch.Success -> Ok(Head(int headMatch.Groups[1].Value, int headMatch.Groups[2].Value))
        | _ when mlpMatch.Success -> Ok(Mlp(int mlpMatch.Groups[1].Value))
        | _ -> Error $"'{text}' is not a node name: expected input, logits, aL.hH (head H of layer L) or mL (MLP of layer L)"

    let layer node =
        match node with
        | Head(l, _)
        | Mlp l -> Some l
        | Input
        | Logits -> None

    let kind node =
        match node with
        | Input -> NodeKind.Input
        | Head _ -> NodeKind.Head
        | Mlp _ -> NodeKind.Mlp
        | Logits -> NodeKind.Logits

module Receiver =
    let private portName port =
        match port with
        | Q -> "q"
        | K -> "k"
        | V -> "v"

    let node receiver =
        match receiver with
        | HeadIn(l, h, _) -> Head(l, h)
        | MlpIn l -> Mlp l
        | LogitsIn -> Logits

    let name receiver =
        match receiver with
        | HeadIn(_, _, port) -> $"{Node.name (node receiver)}<{portName port}>"
        | _ -> Node.name (node receiver)

    let private portPattern = Regex "^(.*)<([qkv])>$"

    // A port-less head name means all three of its inputs.
    let parse (text: string) =
        let portMatch = portPattern.Match text
        let nodeText = if portMatch.Success then portMatch.Groups[1].Value else text
        match Node.parse nodeText, portMatch.Success with
        | Error e, _ -> Error e
        | Ok(Head(l, h)), true ->
            let port = match portMatch.Groups[2].Value with "q" -> Q | "k" -> K | _ -> V
            Ok [ HeadIn(l, h, port) ]
        | Ok(Head(l, h)), false -> Ok [ HeadIn(l, h, Q); HeadIn(l, h, K); HeadIn(l, h, V) ]
        | Ok(Mlp l), false -> Ok [ MlpIn l ]
        | Ok Logits, false -> Ok [ LogitsIn ]
        | Ok Input, _ -> Error "the input receives nothing"
        | Ok node, true -> Error $"only heads have <q>, <k>, <v> inputs, and {Node.name node} is not a head"

module Edge =
    let name edge = $"{Node.name edge.Sender}->{Receiver.name edge.Receiver}"

    let parse (text: string) =
        let fail reason = Error $"'{text}' is not an edge name: {reason}"
        match text.Split "->" with
        | [| senderText; receiverText |] ->
            match Node.parse senderText, Receiver.parse receiverText with
            | Error e, _
            | _, Error e -> fail e
            | Ok Logits, _ -> fail "the logits send nothing"
            | Ok sender, Ok receivers -> Ok [ for r in receivers -> { Sender = sender; Receiver = r } ]
        | _ -> fail "expected SENDER->RECEIVER, as in a3.h7->a5.h1<q>, input->m0 or m11->logits"

module Nodes =
    let all = NodeSet.All
    let input = NodeSet.OfKind NodeKind.Input
    let heads = NodeSet.OfKind NodeKind.Head
    let mlps = NodeSet.OfKind NodeKind.Mlp
    let logits = NodeSet.OfKind NodeKind.Logits
    let layer l = NodeSet.InLayers(l, l)
    let layers first last = NodeSet.InLayers(first, last)
    let only nodes = NodeSet.Only(Set.ofList nodes)
    let union sets = NodeSet.AnyOf sets
    let inter sets = NodeSet.AllOf sets
    let except a b = NodeSet.AllOf [ a; NodeSet.Not b ]

    let rec contains set node =
        match set with
        | NodeSet.All -> true
        | NodeSet.OfKind k -> Node.kind node = k
        | NodeSet.InLayers(first, last) ->
            match Node.layer node with
            | Some l -> first <= l && l <= last
            | None -> false
        | NodeSet.Only nodes -> nodes.Contains node
        | NodeSet.AnyOf sets -> sets |> List.exists (fun s -> contains s node)
        | NodeSet.AllOf sets -> sets |> List.forall (fun s -> contains s node)
        | NodeSet.Not s -> not (contains s node)

module Edges =
    let all = EdgeSet.All
    let from nodes = EdgeSet.From nodes
    let into nodes = EdgeSet.Into nodes
    let touching nodes = EdgeSet.AnyOf [ EdgeSet.From nodes; EdgeSet.Into nodes ]
    let within nodes = EdgeSet.AllOf [ EdgeSet.From nodes; EdgeSet.Into nodes ]
    let atPort port = EdgeSet.AtPort port
    let only edges = EdgeSet.Only(Set.ofList edges)
    let union sets = EdgeSet.AnyOf sets
    let inter sets = EdgeSet.AllOf sets
    let except a b = EdgeSet.AllOf [ a; EdgeSet.Not b ]

    let rec contains set edge =
        match set with
        | EdgeSet.All -> true
        | EdgeSet.From nodes -> Nodes.contains nodes edge.Sender
        | EdgeSet.Into nodes -> Nodes.contains nodes (Receiver.node edge.Receiver)
        | EdgeSet.AtPort port ->
            match edge.Receiver with
            | HeadIn(_, _, p) -> p = port
            | _ -> false
        | EdgeSet.Only edges -> edges.Contains edge
        | EdgeSet.AnyOf sets -> sets |> List.exists (fun s -> contains s edge)
        | EdgeSet.AllOf sets -> sets |> List.forall (fun s -> contains s edge)
        | EdgeSet.Not s -> not (contains s edge)

// The layout: senders are input, then per layer H heads and (with MLPs) one MLP, so a layer spans
// `block` = H + mlp senders. Receivers read a prefix of the senders: a head input of layer l reads
// 1 + l*block, an MLP input 1 + l*block + H (its own layer's heads too), the logits all 1 + L*block.
// Edges are numbered receiver by receiver, so each receiver's edges form one contiguous id range.
module Graph =
    let gpt2Small = { Layers = 12; Heads = 12; HasMlp = true }

    let private mlp shape = if shape.HasMlp then 1 else 0
    let private block shape = shape.Heads + mlp shape

    let senderCount shape = 1 + shape.Layers * block shape

    let private inShape shape node =
        match node with
        | Input
        | Logits -> true
        | Head(l, h) -> 0 <= l && l < shape.Layers && 0 <= h && h < shape.Heads
        | Mlp l -> shape.HasMlp && 0 <= l && l < shape.Layers

    let private describe shape =
        let mlps = if shape.HasMlp then "with MLPs" else "attention-only"
        $"{shape.Layers} layers x {shape.Heads} heads, {mlps}"

    let senderIndex shape node =
        if not (inShape shape node) then
            invalidArg (nameof node) $"{Node.name node} is not a node of the graph of {describe shape}"
        match node with
        | Input -> 0
        | Head(l, h) -> 1 + l * block shape + h
        | Mlp l -> 1 + l * block shape + shape.Heads
        | Logits -> invalidArg (nameof node) "the logits send nothing, so they have no sender index"

    let sender shape index =
        if index < 0 || index >= senderCount shape then
            invalidArg (nameof index) $"sender index {index} is outside 0..{senderCount shape - 1} for {describe shape}"
        if index = 0 then
            Input
        else
            let l, within = (index - 1) / block shape, (index - 1) % block shape
            if within < shape.Heads then Head(l, within) else Mlp l

    let senders shape = Array.init (senderCount shape) (sender shape)

    let receivers shape =
        [| for l in 0 .. shape.Layers - 1 do
               for port in [ Q; K; V ] do
                   for h in 0 .. shape.Heads - 1 do
                       yield HeadIn(l, h, port)
               if shape.HasMlp then
                   yield MlpIn l
           yield LogitsIn |]

    let upstreamCount shape receiver =
        match receiver with
        | HeadIn(l, _, _) -> 1 + l * block shape
        | MlpIn l -> 1 + l * block shape + shape.Heads
        | LogitsIn -> senderCount shape

    // Edges into the receivers of layers 0..l-1: each layer j has 3H head inputs reading 1 + j*block senders
    // and (with MLPs) one MLP input reading 1 + j*block + H; summing j over 0..l-1 gives the closed form.
    let private layerOffset shape l =
        let h, m, b = shape.Heads, mlp shape, block shape
        (3 * h + m) * (l + b * l * (l - 1) / 2) + m * h * l

    let private portIndex port =
        match port with
        | Q -> 0
        | K -> 1
        | V -> 2

    let receiverOffset shape receiver =
        match receiver with
        | HeadIn(l, h, port) -> layerOffset shape l + (portIndex port * shape.Heads + h) * (1 + l * block shape)
        | MlpIn l -> layerOffset shape l + 3 * shape.Heads * (1 + l * block shape)
        | LogitsIn -> layerOffset shape shape.Layers

    let edgeCount shape = layerOffset shape shape.Layers + senderCount shape

    let private receiverInShape shape receiver =
        match receiver with
        | HeadIn(l, h, _) -> inShape shape (Head(l, h))
        | MlpIn l -> inShape shape (Mlp l)
        | LogitsIn -> true

    let contains shape edge =
        edge.Sender <> Logits
        && inShape shape edge.Sender
        && receiverInShape shape edge.Receiver
        && senderIndex shape edge.Sender < upstreamCount shape edge.Receiver

    let edgeId shape edge =
        if not (contains shape edge) then
            invalidArg (nameof edge) $"{Edge.name edge} is not an edge of the graph of {describe shape}"
        receiverOffset shape edge.Receiver + senderIndex shape edge.Sender

    let edge shape id =
        if id < 0 || id >= edgeCount shape then
            invalidArg (nameof id) $"edge id {id} is outside 0..{edgeCount shape - 1} for {describe shape}"
        // The last layer l whose first edge id is <= id; l = Layers means the logits.
        let rec search lo hi = // invariant: layerOffset lo <= id < layerOffset (hi + 1)
            if lo = hi then lo
            else
                let mid = (lo + hi + 1) / 2
                if layerOffset shape mid <= id then search mid hi else search lo (mid - 1)
        let l = search 0 shape.Layers
        let within = id - layerOffset shape l
        if l = shape.Layers then
            { Sender = sender shape within; Receiver = LogitsIn }
        else
            let upstream = 1 + l * block shape
            let headInputs = 3 * shape.Heads
            if within < headInputs * upstream then
                let r = within / upstream
                let port = [| Q; K; V |][r / shape.Heads]
                { Sender = sender shape (within % upstream); Receiver = HeadIn(l, r % shape.Heads, port) }
            else
                { Sender = sender shape (within - headInputs * upstream); Receiver = MlpIn l }

    let edges shape =
        [| for r in receivers shape do
               for s in 0 .. upstreamCount shape r - 1 -> { Sender = sender shape s; Receiver = r } |]
