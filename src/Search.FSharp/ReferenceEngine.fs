/// The seed's algorithm, kept as the oracle and the baseline. For each receiver it runs an ordinary hooked
/// forward pass in which the input embedding (block 0's residual input), head results and MLP outputs upstream of
/// the receiver are overwritten, per receiver, with a_e x_s + (1 - a_e) xc_s, so that the receiver reads exactly
/// const + sum over senders s of (a_e x_s + (1 - a_e) xc_s); the receiver's output is read from that pass.
/// The heads of one layer (q, k, v inputs separately) are stacked in the batch dimension. Slow on purpose.
module PatchDescent.Search.ReferenceEngine

open System.Collections.Generic
open TorchSharp
open PatchDescent.Model

/// Logits [batch, pos, vocab] of the interpolated model, differentiable in `coefficients` [params].
let forward (model: Decoder) (schedule: ResolvedSchedule) (carried: SenderOutputs) (coefficients: torch.Tensor)
            (clean: torch.Tensor) (mask: torch.Tensor option) : torch.Tensor =
    use scope = torch.NewDisposeScope()
    let shape = schedule.Shape
    let batch = clean.shape[0]
    // Held for the whole pass: TorchSharp's `1.0 - a` and `a + b` make Scalars only the finalizer frees (see `Gate`).
    use one = 1.0.ToScalar()

    let coefficient (sender: Node) (receiver: Receiver) : torch.Tensor =
        match schedule.Source[Graph.edgeId shape { Sender = sender; Receiver = receiver }] with
        | Fixed v -> torch.tensor(v, dtype = model.DType, device = model.Device)
        | Param i -> coefficients[int64 i].``to``(model.DType)

    // What each sender outputs in this pass (filled in topological order) and what it carries when removed.
    let current = Dictionary<Node, torch.Tensor>()
    let carriedBy = function
        | Input -> carried.Input
        | Head(l, h) -> carried.Heads[l][int64 h]
        | Mlp l -> carried.Mlps[l]
        | Logits -> invalidArg "sender" "logits send nothing"
    current[Input] <- model.InputEmbedding clean

    let interpolated sender receiver =
        let a = coefficient sender receiver
        (a * current[sender]).add(a.neg().add(one, one) * carriedBy sender, one)

    let withMlpBias l (sent: torch.Tensor) = match model.MlpOutputBias l with null -> sent | bias -> sent.add(bias, one)
    let withoutMlpBias l (out: torch.Tensor) = match model.MlpOutputBias l with null -> out.alias() | bias -> out - bias

    let isUpstream receiver sender = Graph.senderIndex shape sender < Graph.upstreamCount shape receiver

    /// Hooks that overwrite every upstream sender's output, copy i of the batch reading as receivers[i].
    let upstreamHooks (receivers: Receiver list) : (string * Hook) list =
        let stacked (perReceiver: Receiver -> torch.Tensor) = torch.cat([| for r in receivers -> perReceiver r |], 0L)
        let r0 = List.head receivers
        [ yield HookPoints.ResidPre 0, Hook(fun _ -> stacked (interpolated Input))
          for l in 0 .. model.Layers - 1 do
              if isUpstream r0 (Head(l, 0)) then
                  yield HookPoints.Result l,
                        Hook(fun _ -> stacked (fun r -> torch.stack([| for h in 0 .. model.Heads - 1 -> interpolated (Head(l, h)) r |], 2L)))
              if shape.HasMlp && isUpstream r0 (Mlp l) then
                  yield HookPoints.MlpOut l, Hook(fun _ -> stacked (fun r -> withMlpBias l (interpolated (Mlp l) r))) ]

    let run (receivers: Receiver list) (extra: (string * Hook) list) =
        let copies = int64 receivers.Length
        let hooks = Dictionary<string, Hook>()
        for name, hook in upstreamHooks receivers @ extra do hooks[name] <- hook
        let maskCopies = mask |> Option.map (fun m -> m.repeat(copies, 1L))
        model.RunWithHooks(clean.repeat(copies, 1L), hooks, Option.toObj maskCopies)

    let copy (t: torch.Tensor) i = t.narrow(0L, int64 i * batch, batch)
    for l in 0 .. model.Layers - 1 do
        // One pass for all 3 * heads receivers of the layer: copy port * heads + h reads as head h's port input.
        let receivers = [ for port in [ Q; K; V ] do for h in 0 .. model.Heads - 1 -> HeadIn(l, h, port) ]
        let assemble portIndex =
            Hook(fun (x: torch.Tensor) ->                                        // [copies * batch, pos, head, d_head]
                let own = torch.stack([| for h in 0 .. model.Heads - 1 -> (copy x (portIndex * model.Heads + h)).select(2L, int64 h) |], 2L)
                own.repeat(int64 receivers.Length, 1L, 1L, 1L))
        let readHeads =
            Hook(fun (result: torch.Tensor) ->                                   // [copies * batch, pos, head, d_model]
                for h in 0 .. model.Heads - 1 do
                    current[Head(l, h)] <- (copy result 0).select(2L, int64 h).MoveToOuterDisposeScope()
                result)
        (run receivers [ HookPoints.Q l, assemble 0; HookPoints.K l, assemble 1; HookPoints.V l, assemble 2
                         HookPoints.Result l, readHeads ]).Dispose()
        if shape.HasMlp then
            let readMlp =
                Hook(fun (out: torch.Tensor) ->
                    current[Mlp l] <- (withoutMlpBias l out).MoveToOuterDisposeScope()
                    out)
            (run [ MlpIn l ] [ HookPoints.MlpOut l, readMlp ]).Dispose()
    let logits = run [ LogitsIn ] []
    logits.MoveToOuterDisposeScope()
