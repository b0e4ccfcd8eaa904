namespace PatchDescent.Search

open System
open System.Collections.Generic
open TorchSharp

/// Every sender's x_s - xc_s computed so far in one pass, stored once and contiguously, sender-major, as
/// [senders, batch * pos, d_model], so that each block of receivers contracts with all its upstream senders in
/// one matrix product, [receivers, senders] x [senders, batch * pos * d_model], whose result is laid out as the
/// receivers' projections read it, and whose backward pass adds into the stack's gradient in place (`addmm_`)
/// instead of through a [batch * pos, senders, d_model] temporary (bench --profile, GPT-2-small shape, 8 x 32 tokens:
/// 121 ms against 232 ms for a step's blocks; the forward product is slower, 120 ms against 75, and the step is faster).
///
/// Plain autograd would save one copy of the stack per receiving layer for the backward pass, quadratic in depth,
/// and would hold one gradient of the stack per receiving layer. Here two custom autograd nodes share two buffers:
/// a push copies a group's deltas into the stack and hands autograd a token; a contraction reads the stack, and in
/// the backward pass adds its share of the stack's gradient into one gradient buffer; the push's backward pass, which
/// autograd runs after every contraction that read the group, returns the group's slice of that buffer.
///
/// One stack serves every batch of an engine, one pass at a time: its storage grows to the largest batch seen, and
/// each pass views its first senders * batch * pos * d_model elements as its own contiguous stack.
type DeltaStack(senders: int, dModel: int64, dtype: torch.ScalarType, device: torch.Device) =
    // Owned here, not by whatever dispose scope is open when a pass begins: the storage, its gradient (made by the
    // first backward pass), and the views of the rows the current pass uses.
    let mutable capacity = 0L
    let mutable storage: torch.Tensor option = None
    let mutable gradientStorage: torch.Tensor option = None
    let mutable rows = 0L
    let mutable buffer: torch.Tensor option = None
    let mutable gradient: torch.Tensor option = None
    let dispose (t: torch.Tensor option) = t |> Option.iter (fun t -> t.Dispose())
    let zeros () = torch.zeros([| int64 senders * capacity * dModel |], dtype = dtype, device = device).DetachFromDisposeScope()
    // The current pass's first elements of a flat storage, [senders, rows, d_model], contiguous.
    let viewed (flat: torch.Tensor) = flat.narrow(0L, 0L, int64 senders * rows * dModel).view(int64 senders, rows, dModel).DetachFromDisposeScope()
    let tokens = List<torch.Tensor>()
    let sizes = List<int64>()
    // Tensors handed to autograd from a backward pass: the native side holds its own reference once the node
    // returns, so these wrappers are released at the next backward node or pass instead of at the end of the
    // caller's dispose scope, which would keep every step's gradients alive until the step ends.
    let handedOver = List<torch.Tensor>()
    let mutable filled = 0L
    let mutable generation = 0

    /// The stored deltas of the current pass, [senders, batch * pos, d_model].
    member _.Buffer = match buffer with Some b -> b | None -> invalidOp "the stack is read before its first pass began"
    /// The gradient of the loss with respect to the stored deltas, accumulated during a backward pass.
    member _.Gradient =
        match gradient with
        | Some g -> g
        | None ->
            let whole = match gradientStorage with Some g -> g | None -> zeros ()
            gradientStorage <- Some whole
            let g = viewed whole
            g.zero_() |> ignore
            gradient <- Some g
            g
    /// Counts passes: a backward pass must use the stack of its own forward pass.
    member _.Generation = generation

    /// Starts a new forward pass over `positions` = batch * pos rows.
    member this.Begin(positions: int64) =
        generation <- generation + 1
        filled <- 0L
        for t in tokens do t.Dispose()
        tokens.Clear()
        sizes.Clear()
        this.ReleaseHandedOver()
        dispose buffer
        dispose gradient
        gradient <- None
        if positions > capacity then
            dispose storage
            dispose gradientStorage
            gradientStorage <- None
            storage <- Some(torch.empty([| int64 senders * positions * dModel |], dtype = dtype, device = device).DetachFromDisposeScope())
            capacity <- positions
        rows <- positions
        buffer <- storage |> Option.map viewed

    /// Appends the deltas of the next group of senders, [senders in group, batch * pos, d_model].
    member this.Push(delta: torch.Tensor) =
        let size = delta.shape[0]
        // The token outlives the caller's per-layer dispose scope: later contractions take it as input.
        let token = DeltaPush.apply([| box delta; box this; box generation; box filled |]).DetachFromDisposeScope()
        tokens.Add token
        sizes.Add size
        filled <- filled + size

    /// resid minus the sum over the first `w.shape[1]` senders s of w[r, s] * delta_s, as [receivers, batch * pos,
    /// d_model], from resid [batch, pos, d_model]; differentiable in `w` [receivers, senders], in resid and in every
    /// pushed delta.
    member this.Subtract(resid: torch.Tensor, w: torch.Tensor) : torch.Tensor =
        let cols = w.shape[1]
        let groups = sizes |> Seq.scan (+) 0L |> Seq.skip 1 |> Seq.takeWhile (fun total -> total <= cols) |> Seq.length
        if (Seq.take groups sizes |> Seq.sum) <> cols then
            invalidOp $"a receiver block reads {cols} senders, which is not a whole number of pushed groups"
        DeltaContraction.apply([| yield box w; yield box resid; yield box this; yield box generation; for t in Seq.take groups tokens -> box t |])

    /// Keeps a wrapper handed to autograd until the next backward node or pass.
    member internal _.HandOver(t: torch.Tensor) =
        handedOver.Add(t.DetachFromDisposeScope())
        t

    /// Releases the wrappers handed over earlier.
    member internal _.ReleaseHandedOver() =
        for t in handedOver do t.Dispose()
        handedOver.Clear()

    interface IDisposable with
        member this.Dispose() =
            this.ReleaseHandedOver()
            for t in tokens do t.Dispose()
            for t in [ buffer; gradient; storage; gradientStorage ] do dispose t

/// Shared by both nodes: the check that a backward pass reads the stack of its own forward pass.
and private Stale =
    /// NaN of the given shape, with a message: an exception cannot cross the native autograd engine, so the gradient
    /// is poisoned for the run's NaN guard to stop, and stderr says why.
    static member Poison(like: torch.Tensor, shape: int64[]) =
        eprintfn "error: the engine ran another gradient-recording forward pass (on any of its batches) before this one's backward pass; call backward first"
        use nan = Double.NaN.ToScalar()
        torch.full(shape, nan, dtype = like.dtype, device = like.device)

/// Copies a group's deltas into the stack; its output is a token that contractions take as input, so autograd
/// back-propagates into the group only after every contraction that read it.
and DeltaPush() =
    inherit torch.autograd.SingleTensorFunction<DeltaPush>()

    override _.Name = "DeltaPush"

    override _.forward(ctx, vars) =
        let delta = vars[0] :?> torch.Tensor                               // [senders in group, batch * pos, d_model]
        let stack = vars[1] :?> DeltaStack
        let offset = vars[3] :?> int64
        stack.Buffer.narrow(0L, offset, delta.shape[0]).copy_(delta) |> ignore
        ctx.save_data("stack", stack)
        ctx.save_data("generation", vars[2])
        ctx.save_data("offset", offset)
        ctx.save_data("size", delta.shape[0])
        ctx.save_data("rows", delta.shape[1])
        torch.zeros([| 1L |], dtype = delta.dtype, device = delta.device)

    override _.backward(ctx, grad) =
        let stack = ctx.get_data "stack" :?> DeltaStack
        stack.ReleaseHandedOver()
        let offset, size = ctx.get_data "offset" :?> int64, ctx.get_data "size" :?> int64
        let none = Unchecked.defaultof<torch.Tensor>                        // the stack, generation and offset are no tensors
        let slice =
            if stack.Generation <> (ctx.get_data "generation" :?> int) then
                // The pass's own rows: a later pass on another batch may use a different number of them.
                Stale.Poison(grad, [| size; ctx.get_data "rows" :?> int64; stack.Buffer.shape[2] |])
            else stack.Gradient.narrow(0L, offset, size)
        grad.Dispose()
        List [ stack.HandOver slice; none; none; none ]

/// Subtracts a block of coefficients times the stack from the residual (see `DeltaStack`), in one product whose output
/// starts as the residual, so that no [receivers, batch * pos, d_model] difference, nor its negated gradient, is made.
and DeltaContraction() =
    inherit torch.autograd.SingleTensorFunction<DeltaContraction>()

    override _.Name = "DeltaContraction"

    override _.forward(ctx, vars) =
        let w = vars[0] :?> torch.Tensor                                   // [receivers, senders]
        let resid = vars[1] :?> torch.Tensor                               // [batch, pos, d_model]
        let stack = vars[2] :?> DeltaStack
        ctx.save_for_backward(List [ w ])
        ctx.save_data("stack", stack)
        ctx.save_data("generation", vars[3])
        ctx.save_data("tokens", vars.Length - 4)
        ctx.save_data("resid", (resid.requires_grad, resid.shape))
        let senders = stack.Buffer.narrow(0L, 0L, w.shape[1])               // [senders, batch * pos, d_model]
        let n, d = senders.shape[1], senders.shape[2]
        // Detached: matmul takes a slow, copying path for a 2-D operand that requires grad, even with autograd off.
        use plain = w.detach()
        use detached = resid.detach()
        use start = detached.reshape(1L, n * d)
        use flat = senders.view(w.shape[1], n * d)
        use product = start.addmm(plain, flat, 1.0f, -1.0f)                 // [receivers, batch * pos * d_model]
        product.view(w.shape[0], n, d)                                      // [receivers, batch * pos, d_model]

    override _.backward(ctx, grad) =
        let stack = ctx.get_data "stack" :?> DeltaStack
        stack.ReleaseHandedOver()
        use w = ctx.get_saved_variables()[0]
        let none = Unchecked.defaultof<torch.Tensor>                        // the stack and the generation are no tensors
        let flatGrad = grad.reshape(w.shape[0], -1L)                        // [receivers, batch * pos * d_model]
        // The first layer's residual is the clean input alone, which needs no gradient.
        let gradResid =
            match ctx.get_data "resid" :?> bool * int64[] with
            | true, shape ->
                use summed = flatGrad.sum(0L)
                stack.HandOver(summed.view(shape))                          // [batch, pos, d_model]
            | false, _ -> none
        let gradW =
            if stack.Generation <> (ctx.get_data "generation" :?> int) then Stale.Poison(grad, w.shape)
            else
                use scope = torch.NewDisposeScope()
                let cols = w.shape[1]
                let deltas = stack.Buffer.narrow(0L, 0L, cols)              // [senders, batch * pos, d_model]
                let flatDeltas = deltas.view(cols, -1L)                     // [senders, batch * pos * d_model]
                // beta and alpha cross as floats, so no Scalar is made for the finalizer to free (see `Gate`'s note).
                stack.Gradient.narrow(0L, 0L, cols).view(cols, -1L).addmm_(w.detach().t(), flatGrad, 1.0f, -1.0f) |> ignore
                flatGrad.mm(flatDeltas.t()).neg_().MoveToOuterDisposeScope() // [receivers, senders]
        let tokenGrads = List.init (ctx.get_data "tokens" :?> int) (fun _ -> torch.zeros([| 1L |], dtype = grad.dtype, device = grad.device))
        flatGrad.Dispose()
        grad.Dispose()
        List [ yield stack.HandOver gradW; yield gradResid; yield none; yield none; for t in tokenGrads -> stack.HandOver t ]
