namespace PatchDescent.Search

open System
open System.Collections.Generic
open TorchSharp

/// Every sender's x_s - xc_s computed so far in one pass, stored once and contiguously as
/// [batch * pos, senders, d_model], so that each block of receivers contracts with all its upstream senders in
/// one batched matrix product (positions as the batch: a 36-row coefficient block against the stack runs 2.5x
/// faster on CPU this way than as one [36, senders] x [senders, batch * pos * d_model] product). Plain autograd
/// would save one copy of the stack per receiving layer for the backward pass, quadratic in depth; the
/// contraction below saves only its coefficient block and reads the stack, whose rows below a block's width no
/// later push touches.
type DeltaStack(positions: int64, senders: int, dModel: int64, dtype: torch.ScalarType, device: torch.Device) =
    // Owned here, not by whatever dispose scope is open when the stack is made.
    let buffer = torch.empty([| positions; int64 senders; dModel |], dtype = dtype, device = device).DetachFromDisposeScope()
    let groups = List<torch.Tensor>()
    let mutable filled = 0L
    let mutable generation = 0

    /// The stored deltas, [batch * pos, senders, d_model].
    member _.Buffer = buffer
    /// Counts passes: a backward pass must use the stack of its own forward pass.
    member _.Generation = generation

    /// Starts a new forward pass.
    member _.Begin() =
        generation <- generation + 1
        filled <- 0L
        groups.Clear()

    /// Appends the deltas of the next group of senders, [batch * pos, senders in group, d_model].
    member _.Push(delta: torch.Tensor) =
        using (torch.no_grad()) (fun _ -> buffer.narrow(1L, filled, delta.shape[1]).copy_(delta) |> ignore)
        groups.Add delta
        filled <- filled + delta.shape[1]

    /// sum over the first `w.shape[1]` senders s of w[r, s] * delta_s, as [batch * pos, receivers, d_model];
    /// differentiable in `w` [receivers, senders] and in every pushed delta.
    member this.Contract(w: torch.Tensor) : torch.Tensor =
        let cols = w.shape[1]
        let used =
            groups
            |> Seq.scan (fun (_, total) g -> Some g, total + g.shape[1]) (None, 0L)
            |> Seq.choose (fun (g, total) -> g |> Option.filter (fun _ -> total <= cols))
            |> List.ofSeq
        if (used |> List.sumBy (fun g -> g.shape[1])) <> cols then
            invalidOp $"a receiver block reads {cols} senders, which is not a whole number of pushed groups"
        DeltaContraction.apply([| yield box w; yield box this; yield box generation; for g in used -> box g |])

    interface IDisposable with
        member _.Dispose() = buffer.Dispose()

/// The custom autograd node behind `DeltaStack.Contract`.
and DeltaContraction() =
    inherit torch.autograd.SingleTensorFunction<DeltaContraction>()

    override _.Name = "DeltaContraction"

    override _.forward(ctx, vars) =
        let w = vars[0] :?> torch.Tensor                                   // [receivers, senders]
        let stack = vars[1] :?> DeltaStack
        ctx.save_for_backward(List [ w ])
        ctx.save_data("stack", stack)
        ctx.save_data("generation", vars[2])
        ctx.save_data("sizes", [| for v in vars[3..] -> (v :?> torch.Tensor).shape[1] |])
        // Detached: matmul takes a slow, copying path for a 2-D operand that requires grad, even with autograd off.
        use plain = w.detach()
        plain.matmul(stack.Buffer.narrow(1L, 0L, w.shape[1]))              // [batch * pos, receivers, d_model]

    override _.backward(ctx, grad) =
        let stack = ctx.get_data "stack" :?> DeltaStack
        use w = ctx.get_saved_variables()[0]
        let none = Unchecked.defaultof<torch.Tensor>                        // the stack and the generation are no tensors
        if stack.Generation <> (ctx.get_data "generation" :?> int) then
            // An exception cannot cross the native autograd engine: poison the gradients so the run's NaN guard
            // stops it, and say why.
            eprintfn "error: the engine ran another gradient-recording forward pass on this batch before this one's backward pass; call backward first"
            let nan (shape: int64[]) = torch.full(shape, TorchSharp.Scalar.op_Implicit Double.NaN, dtype = grad.dtype, device = grad.device)
            let sizes = ctx.get_data "sizes" :?> int64[]
            List [ yield nan w.shape; yield none; yield none
                   for size in sizes do yield nan [| grad.shape[0]; size; grad.shape[2] |] ]
        else
            use deltas = stack.Buffer.narrow(1L, 0L, w.shape[1])           // [batch * pos, senders, d_model]
            use deltasT = deltas.transpose(1L, 2L)
            use perPosition = grad.matmul(deltasT)                          // [batch * pos, receivers, senders]
            use wT = w.detach().t()
            use gradDeltas = wT.matmul(grad)                                // [batch * pos, senders, d_model]
            List [ yield perPosition.sum(0L); yield none; yield none
                   yield! gradDeltas.split(ctx.get_data "sizes" :?> int64[], 1L) ]
