/// The fast interpolated-patching engine: one forward pass in which every receiver reads
/// resid - sum_s (1 - a_e) (x_s - xc_s), the "delta" form of const + sum_s (a_e x_s + (1 - a_e) xc_s).
module PatchDescent.Search.Engine

open System
open TorchSharp
open PatchDescent.Model

/// What one receiver node's rows read in a circuit pass: per row, whether it reads constant + sent minus the listed
/// sender columns (true) or constant plus them (false), the needed columns upstream, which sent sums, when any row
/// reads sent (empty otherwise), and whether the node was computed at each prompt's last real token alone. Equal reads
/// of equal deltas give the node the same delta (bit for bit on the CPU, where the tests check it; a GPU's products may
/// round differently as the number of heads recomputed together changes).
type internal Reads = { Rows: (bool * int list) list; Upstream: int list; LastOnly: bool }

/// Circuit passes' deltas, one slot per sender column, [senders, batch * pos, d_model], and what each slot's node read
/// when it was computed: consecutive trials of a search differ in a few edges, so a pass recomputes only the nodes
/// whose reads changed or read a recomputed node, and takes every other node's delta from its slot. A slot that holds
/// no node's delta holds zeros, so that a product spanning it adds exactly nothing, whatever the deltas were. Beside
/// the slots, `constants` rows hold what removed edges carry to each receiver group of the batch, the same in every pass.
type internal CircuitCache(senders: int, constants: int, dModel: int64, dtype: torch.ScalarType, device: torch.Device, onDispose: unit -> unit) =
    let rowsPerPosition = int64 (senders + constants)
    let mutable capacity = 0L
    let mutable storage: torch.Tensor option = None
    let mutable slots: torch.Tensor option = None
    let mutable constantRows: torch.Tensor option = None
    let mutable constantsFilled = false
    let mutable owner: obj | null = null
    let computed: Reads option[] = Array.create senders None
    /// Each column's reads when its slot was computed; None for a slot that holds zeros.
    member _.Computed = computed
    /// The slots for a pass over `rows` rows of `batch`, as the last pass left them when it was on the same batch,
    /// emptied otherwise.
    member _.For(batch: obj, rows: int64) : torch.Tensor =
        if not (obj.ReferenceEquals(owner, batch)) || slots.Value.shape[1] <> rows then
            for t in [ slots; constantRows ] do t |> Option.iter (fun t -> t.Dispose())
            if rows > capacity then
                storage |> Option.iter (fun t -> t.Dispose())
                // Left as allocated: the slots are zeroed and the constants filled before either is read.
                storage <- Some(torch.empty([| rowsPerPosition * rows * dModel |], dtype = dtype, device = device).DetachFromDisposeScope())
                capacity <- rows
            let part first count =
                storage.Value.narrow(0L, first * rows * dModel, count * rows * dModel).view(count, rows, dModel).DetachFromDisposeScope()
            let viewed = part 0L (int64 senders)
            viewed.zero_() |> ignore
            slots <- Some viewed
            constantRows <- Some(part (int64 senders) (int64 constants))
            constantsFilled <- false
            Array.fill computed 0 senders None
            owner <- batch
        slots.Value
    /// The batch's constant rows, [constants, batch * pos, d_model], filled by `fill` on the first pass on the batch
    /// after `For` took it.
    member _.Constants(fill: torch.Tensor -> unit) : torch.Tensor =
        let rows = constantRows.Value
        if not constantsFilled then
            fill rows
            constantsFilled <- true
        rows
    /// Empties a slot whose node this pass does not compute: it is no longer kept consistent with what it read.
    member _.Drop(column: int) =
        if computed[column].IsSome then
            slots.Value[int64 column].zero_() |> ignore
            computed[column] <- None
    interface IDisposable with
        member _.Dispose() =
            for t in [ slots; constantRows; storage ] do t |> Option.iter (fun t -> t.Dispose())
            onDispose ()

/// One batch made ready for the engine: the clean input, what removed edges carry, the attention mask, and where
/// each prompt's last real token is.
type PreparedBatch internal (clean: torch.Tensor, carried: SenderOutputs, keyMask: torch.Tensor, lastPositions: torch.Tensor, ownsCarried: bool) =
    let mutable cache: CircuitCache option = None
    /// The clean token + position embeddings, [batch, pos, d_model].
    member _.CleanInput = clean
    /// What each sender carries on a removed edge.
    member _.Carried = carried
    /// True where attention may not look, [batch|1, 1, query, key].
    member _.KeyMask = keyMask
    /// The position of each prompt's last real token, [batch] int64 (the last position when the batch has no mask).
    member _.LastPositions = lastPositions
    /// The batch's own circuit cache, where the engine gave it one.
    member internal _.Cache with get () = cache and set (c: CircuitCache option) = cache <- c
    interface IDisposable with
        member _.Dispose() =
            cache |> Option.iter (fun c -> (c :> IDisposable).Dispose())
            clean.Dispose()
            keyMask.Dispose()
            lastPositions.Dispose()
            if ownsCarried then (carried :> IDisposable).Dispose()

/// A contiguous block of edge coefficients: the edges into `Rows` receivers from the first `Cols` senders.
type private Block = { Offset: int; Rows: int; Cols: int }

/// A schedule and an ablation compiled against one model: the only place these values become tensors.
type CompiledEngine internal (model: Decoder, resolved: ResolvedSchedule, ablation: Ablation, cacheBudget: int64) =
    let shape = resolved.Shape
    let heads, layers = model.Heads, model.Layers
    let device, dtype = model.Device, model.DType

    // Edge ids are ordered by receiver, then sender; a layer's q, k, v receivers are adjacent, so each
    // receiver group's coefficients form one dense [receivers, upstream senders] block.
    let block (first: Receiver) rows =
        { Offset = Graph.receiverOffset shape first; Rows = rows; Cols = Graph.upstreamCount shape first }
    let headBlocks = Array.init layers (fun l -> block (HeadIn(l, 0, Q)) (3 * heads))
    let mlpBlocks = if not model.HasMlp then [||] else Array.init layers (fun l -> block (MlpIn l) 1)
    let logitsBlock = block LogitsIn 1
    // Where passes store their sender deltas, shared by every batch: a recording pass's stack lives until its
    // backward pass, and passes that record no gradient get their own, so evaluating in between is safe.
    let newStack () = new DeltaStack(Graph.senderCount shape, int64 model.DModel, dtype, device)
    let recording = newStack ()
    let scratch = newStack ()
    // Each batch keeps its own last circuit pass while the batches' caches fit in `cacheBudget` bytes together; a batch
    // past that shares the engine's cache, which keeps the last pass on whichever batch it was.
    let mutable cachedBytes = 0L
    // A cache's constant rows: before each layer's heads, before its MLP, and before the logits.
    let perLayer = if model.HasMlp then 2 else 1
    let headsConstant l = l * perLayer
    let mlpConstant l = l * perLayer + 1
    let logitsConstant = layers * perLayer
    let newCache onDispose = new CircuitCache(Graph.senderCount shape, logitsConstant + 1, int64 model.DModel, dtype, device, onDispose)
    let shared = newCache ignore
    let cacheFor (batch: PreparedBatch) (rows: int64) =
        match batch.Cache with
        | Some c -> c
        | None ->
            let bytes = int64 (Graph.senderCount shape + logitsConstant + 1) * rows * int64 model.DModel * int64 (torch.finfo(dtype).bits / 8)
            if cachedBytes + bytes > cacheBudget then shared
            else
                cachedBytes <- cachedBytes + bytes
                let c = newCache (fun () -> cachedBytes <- cachedBytes - bytes)
                batch.Cache <- Some c
                c

    // Constructed in a dispose scope: a temporary outside one is only reachable through its native handle, and
    // the finalizer thread may free it while the next native call still reads it. The scope is a `use`, so that a
    // throw still pops it: TorchSharp's scope removal pops whatever is on top of the thread's stack, and a leaked
    // scope would leave an enclosing one, disposed, as the thread's current scope for every later test.
    let isParam, paramIndex, fixedValue, wQkv, bQkv, means =
        use constructionScope = torch.NewDisposeScope()
        let src = resolved.Source
        let isParam = torch.tensor(src |> Array.map (function Param _ -> true | Fixed _ -> false), device = device)
        let index = torch.tensor(src |> Array.map (function Param i -> int64 i | Fixed _ -> 0L), device = device)
        let fixedV = torch.tensor(src |> Array.map (function Fixed v -> float32 v | Param _ -> 0.0f), device = device).``to``(dtype)
        // Per-head projections batched over heads: [3 * head, d_model, d_head] and [3 * head, 1, d_head] (or none).
        let wQkv = Array.init layers model.QkvWeights
        let bQkv = Array.init layers (model.QkvBias >> Option.ofObj)
        let means =
            match ablation with
            | Ablation.Mean source -> Some(SenderOutputs.meanOf model source)
            | Ablation.Patching -> None
            | Ablation.Zero -> Some(SenderOutputs.zeros model)
        // Detached only once everything is built, so that a throw above leaves nothing outside the scope.
        for t in [ isParam; index; fixedV ] @ List.ofArray wQkv @ List.choose id (List.ofArray bQkv) @ (means |> Option.map (fun m -> List.ofSeq m.All) |> Option.defaultValue []) do
            t.DetachFromDisposeScope() |> ignore
        isParam, index, fixedV, wQkv, bQkv, means

    // The steps both passes share, each in the caller's dispose scope.
    /// Layer l's heads on their receivers' normalized inputs [3 * count, batch * pos, d_model] (every head's q row,
    /// then its k row, then its v row) with those heads' rows of the projections: each head's result,
    /// [count, batch * pos, d_model].
    let headResults l (normalized: torch.Tensor) (w: torch.Tensor) (bias: torch.Tensor option) (wO: torch.Tensor) b p (keyMask: torch.Tensor) =
        use one = 1.0.ToScalar()
        let count = normalized.shape[0] / 3L
        let projected = normalized.bmm(w)                                      // [3 * count, batch * pos, d_head]
        let qkv = match bias with Some bias -> projected.add(bias, one) | None -> projected
        let qkv = qkv.view(3L, count, b, p, -1L).permute(0L, 2L, 1L, 3L, 4L)   // [3, batch, count, pos, d_head]
        let z = model.Attention(l, qkv[0], qkv[1], qkv[2], keyMask)           // [batch, count, pos, d_head]
        z.permute(1L, 0L, 2L, 3L).reshape(count, b * p, -1L).bmm(wO)
    /// The MLP sender's delta, [1, batch * pos, d_model], from the MLP's output: the output bias belongs to the
    /// receivers' constant part, not to the edge.
    let mlpDelta l (out: torch.Tensor) (carried: torch.Tensor) =
        let sent = match model.MlpOutputBias l with null -> out | bias -> out - bias
        let b, p, d = out.shape[0], out.shape[1], out.shape[2]
        (sent - carried).view(1L, b * p, d)
    /// Every loss and metric reads the last real token alone, so the unembedding, the largest product of a short
    /// prompt (d_model x 50,257 a position for GPT-2), runs there alone: [batch, 1, vocab] from [batch, pos, d_model].
    let unembedLast (final: torch.Tensor) (batch: PreparedBatch) =
        let b, d = final.shape[0], final.shape[2]
        let last = final.gather(1L, batch.LastPositions.view(-1L, 1L, 1L).expand(b, 1L, d)) // [batch, 1, d_model]
        model.Unembed last

    // Each receiver node's rows of the block it reads through (a head's q, k and v rows, an MLP's one row; the logits
    // are node -1), readers first: readers come after what they read, so walking them in this order settles each node
    // before its senders.
    let readersFirst =
        [| for l in layers - 1 .. -1 .. 0 do
               if model.HasMlp then yield (mlpBlocks[l].Cols, mlpBlocks[l], [ 0 ])
               for h in heads - 1 .. -1 .. 0 do yield (headBlocks[l].Cols + h, headBlocks[l], [ h; heads + h; 2 * heads + h ]) |]
        |> Array.append [| (-1, logitsBlock, [ 0 ]) |]
    let isMlpColumn =
        let mlps = Set.ofSeq (mlpBlocks |> Seq.map (fun blk -> blk.Cols))
        mlps.Contains

    /// The model the engine runs.
    member _.Model = model
    /// The compiled schedule.
    member _.Schedule = resolved
    /// Number of learnable coefficients.
    member _.ParamCount = resolved.ParamCount
    /// The schedule's initial values as a tensor [params] on the model's device.
    member _.InitialCoefficients() =
        use scope = torch.NewDisposeScope()
        torch.tensor(resolved.Init |> Array.map float32, device = device).``to``(dtype).MoveToOuterDisposeScope()

    /// Every edge's coefficient [edges] from the learnable ones [params].
    member _.EdgeCoefficients(coefficients: torch.Tensor) : torch.Tensor =
        if resolved.ParamCount = 0 then fixedValue.alias()
        else torch.where(isParam, coefficients.``to``(dtype).index_select(0L, paramIndex), fixedValue)

    /// Readies a batch: clean tokens [batch, pos], corrupted tokens of the same shape (needed for patching), optional
    /// mask [batch, pos] (1 on real tokens, 0 on padding; right padding only, at least one real token a prompt).
    member _.Prepare(clean: torch.Tensor, corrupted: torch.Tensor option, mask: torch.Tensor option) : PreparedBatch =
        use scope = torch.NewDisposeScope()
        let lastPositions =
            match mask with
            | None ->
                use last = (clean.shape[1] - 1L).ToScalar()
                torch.full([| clean.shape[0] |], last, dtype = torch.int64, device = device)
            | Some m ->
                use zero = 0L.ToScalar()
                let real = m.``to``(device).ne(zero)
                let counts = real.sum(1L, ``type`` = torch.int64)
                let rightPadded = torch.arange(clean.shape[1], device = device).unsqueeze(0L).lt(counts.unsqueeze(1L))
                if not (real.eq(rightPadded).all().item<bool>()) || counts.min().item<int64>() < 1L then
                    invalidArg "mask" "the mask must be right padding (1s, then only 0s) with at least one real token a prompt"
                use one = 1L.ToScalar()
                counts.sub(one)
        let carried, owns =
            match ablation, corrupted, means with
            | Ablation.Patching, Some corrupted, _ ->
                if corrupted.shape <> clean.shape then
                    invalidArg "corrupted" $"corrupted tokens {corrupted.shape} differ in shape from clean tokens {clean.shape}"
                SenderOutputs.ofRun model corrupted mask, true
            | Ablation.Patching, None, _ -> invalidArg "corrupted" "patching ablation needs corrupted tokens"
            | Ablation.Mean source, _, Some m when source.PerPosition && m.Input.shape[1] <> clean.shape[1] ->
                invalidArg "clean" $"per-position mean ablation was computed for {m.Input.shape[1]} positions, the batch has {clean.shape[1]}"
            | _, _, Some m -> m, false
            | _, _, None -> failwith "unreachable: non-patching ablations precompute their outputs"
        let input = using (torch.no_grad()) (fun _ -> model.InputEmbedding clean)
        let keyMask = model.CausalAndPaddingMask(clean.shape[1], Option.toObj mask)
        scope.MoveToOuter(input, keyMask, lastPositions) |> ignore
        if owns then for t in carried.All do t.MoveToOuterDisposeScope() |> ignore
        new PreparedBatch(input, carried, keyMask, lastPositions, owns)

    /// The nodes a circuit of 0/1 edge coefficients needs computed, by sender column (the stack's order: the input,
    /// then each layer's heads and its MLP): those read through a kept edge by a needed receiver (the logits always
    /// read) and, under patching, fed by a kept edge from a needed sender (the input always sends). Any other node is
    /// read by nobody, or (patching only, where what a removed edge carries is the corrupted run's own output) reads
    /// the corrupted run's residual and so sends exactly what a removed edge carries: its delta is 0.
    member private _.Needed(kept: int -> bool) : bool[] =
        let columns = Graph.senderCount shape
        let isKept (blk: Block) row col = kept (blk.Offset + row * blk.Cols + col)
        let patching = match ablation with Ablation.Patching -> true | Ablation.Mean _ | Ablation.Zero -> false
        let fed = Array.create columns (not patching)
        fed[0] <- true
        for node, blk, rows in Array.rev readersFirst do
            if patching && node >= 0 then
                fed[node] <- rows |> List.exists (fun r -> Seq.exists (fun c -> fed[c] && isKept blk r c) (seq { 0 .. blk.Cols - 1 }))
        let needed = Array.zeroCreate columns
        for node, blk, rows in readersFirst do
            if node < 0 || needed[node] then
                for r in rows do
                    for c in 0 .. blk.Cols - 1 do
                        if fed[c] && isKept blk r c then needed[c] <- true
        needed

    /// Of the nodes `Needed` lists, those some reader needs at every position, by sender column: what a head reads
    /// through a kept edge (its keys and values read every position, and a head is computed whole) and what such a node
    /// reads. Any other needed node, an MLP read only by the logits or by MLPs like it, matters at each prompt's last
    /// real token alone, where the logits read, and is computed there alone, its slot zero elsewhere. A row that reads
    /// constant + sent minus what it removes (see `Reads`) is right everywhere still: a removed sender's slot cancels.
    member private _.Whole(kept: int -> bool, needed: bool[]) : bool[] =
        let whole = Array.init (Graph.senderCount shape) (fun c -> not (isMlpColumn c))
        for node, blk, rows in readersFirst do
            if node >= 0 && needed[node] && whole[node] then
                for r in rows do
                    for c in 0 .. blk.Cols - 1 do
                        if needed[c] && kept (blk.Offset + r * blk.Cols + c) then whole[c] <- true
        whole

    /// `Forward` for a circuit, every edge coefficient exactly 0 or 1, without autograd: each receiver reads the
    /// removed edges' constant part (what the corrupted run, or the mean or zero ablation, sums to there, summed once a
    /// batch) plus its kept edges' deltas, and only the nodes `Needed` lists are computed, so a small circuit costs a
    /// fraction of a pass; an MLP that no head reads is computed at each prompt's last real token alone (see `Whole`).
    /// Of those nodes, one whose reads are what they were in the batch's last circuit pass keeps its delta from the
    /// batch's `CircuitCache`, so a trial that differs from the one before in a few edges recomputes only what they
    /// reach. It equals the dense pass up to rounding, and a circuit's logits do not depend on the passes before (see
    /// `Reads`).
    member private this.CircuitForward(edges: float[], batch: PreparedBatch) : torch.Tensor =
        use scope = torch.NewDisposeScope()
        use one = 1.0.ToScalar()
        let needed = this.Needed(fun e -> edges[e] = 1.0)
        let whole = this.Whole((fun e -> edges[e] = 1.0), needed)
        let xIn = batch.CleanInput
        let b, p, d = xIn.shape[0], xIn.shape[1], xIn.shape[2]
        let n = b * p
        let carried = batch.Carried
        let columns = Graph.senderCount shape
        let cache = cacheFor batch n
        let slots, computed = cache.For(batch, n), cache.Computed
        let recomputed = Array.zeroCreate<bool> columns
        for c in 0 .. columns - 1 do
            if not needed[c] then cache.Drop c
        let index (values: int list) = torch.tensor(values |> List.map int64 |> Array.ofList, device = device)
        // Each prompt's last real token as a row of batch * pos, [batch]; in the pass's scope, which outlives the layers'.
        let lastRows =
            use stride = p.ToScalar()
            torch.arange(b, device = device).mul_(stride).add_(batch.LastPositions)
        if needed[0] && computed[0].IsNone then
            slots[0L].copy_((xIn - carried.Input).view(n, d)) |> ignore
            computed[0] <- Some { Rows = []; Upstream = []; LastOnly = false }
            recomputed[0] <- true
        // The reads of a node's rows of a block: each row reads its kept needed senders, or, keeping more than half
        // of them, constant + sent minus the ones it removes, so that no row's product is wider than half the needed
        // senders and the full circuit's rows need none.
        let readsOf (blk: Block) (rows: int list) =
            let upstream = [ for c in 0 .. blk.Cols - 1 do if needed[c] then c ]
            let count = upstream.Length
            let rowReads =
                [ for r in rows ->
                      let isKept c = edges[blk.Offset + r * blk.Cols + c] = 1.0
                      let kept = upstream |> List.filter isKept
                      let complement = 2 * kept.Length > count
                      complement, (if complement then upstream |> List.filter (isKept >> not) else kept) ]
            { Rows = rowReads; Upstream = (if List.exists fst rowReads then upstream else []); LastOnly = false }
        // A node is recomputed when its reads changed, or it reads a node recomputed in this pass.
        let stale column (reads: Reads) =
            computed[column] <> Some reads
            || reads.Rows |> List.exists (fun (_, cs) -> cs |> List.exists (fun c -> recomputed[c]))
            || reads.Upstream |> List.exists (fun c -> recomputed[c])
        // The rows' inputs from their reads; rows that read the same senders share one input, so a layer whose rows all
        // keep everything normalizes one input, not 3 * heads. At every row of batch * pos, or (lastOnly) at each
        // prompt's last real token: rows = batch * pos or batch. Returns the distinct inputs, [distinct, rows, d_model],
        // and for each receiver row which of them it reads.
        let receiverInputs lastOnly (constant: torch.Tensor) (sent: torch.Tensor) (reads: (bool * int list) list) =
            let rows = if lastOnly then b else n
            // [k, batch * pos, d_model] -> [k, rows, d_model]
            let atRows (t: torch.Tensor) = if lastOnly then t.index_select(1L, lastRows) else t
            let constant, sent = atRows (constant.view(1L, -1L, d)), atRows (sent.view(1L, -1L, d))
            let distinct = List.distinct reads
            let which = reads |> List.map (fun r -> List.findIndex ((=) r) distinct)
            let count = int64 distinct.Length
            let withSent = distinct |> List.map fst
            let start =
                if List.forall id withSent then (constant + sent).view(1L, rows, d)
                elif not (List.exists id withSent) then constant.view(1L, rows, d)
                else
                    use flags = torch.tensor(withSent |> List.map (fun f -> if f then 1.0f else 0.0f) |> Array.ofList, device = device)
                    use flagged = flags.``to``(dtype).view(count, 1L, 1L)
                    torch.addcmul(constant.view(1L, rows, d), flagged, sent.view(1L, rows, d), one) // [distinct, rows, d_model]
            let read = distinct |> List.collect snd |> List.distinct |> List.sort
            let inputs =
                if read.IsEmpty then start.expand(count, rows, d)
                else
                    // The product reads the slots from the first read to the last, those between weighing 0, or, when
                    // they are fewer than half of that span, a copy of the read slots alone: a product's cost is the
                    // slots it reads.
                    let first = List.head read
                    let span = List.last read - first + 1
                    let gathered = 2 * read.Length < span
                    let width = if gathered then read.Length else span
                    let place = if gathered then read |> List.indexed |> List.map (fun (i, c) -> c, i) |> Map.ofList else Map.empty
                    let w = Array.zeroCreate<float32> (distinct.Length * width)
                    distinct |> List.iteri (fun i (complement, read) ->
                        for c in read do
                            w[i * width + (if gathered then place[c] else c - first)] <- if complement then -1.0f else 1.0f)
                    use wT = torch.tensor(w, device = device).view(count, int64 width).``to``(dtype)
                    use senders =
                        if gathered then
                            use at = index read
                            (atRows (slots.index_select(0L, at))).view(int64 width, rows * d)
                        else (atRows (slots.narrow(0L, int64 first, int64 width))).view(int64 width, rows * d)
                    torch.addmm(start.view(-1L, rows * d), wT, senders, 1.0f, 1.0f).view(count, rows, d)
            inputs, which
        // Layer l's q, k and v rows normalized, [rows, batch * pos, d_model], from their distinct inputs.
        let normalizedRows l (inputs: torch.Tensor, which: int list) =
            let normalized = model.NormalizeAttentionInput(l, inputs)          // [distinct, batch * pos, d_model]
            let rows = int64 which.Length
            if normalized.shape[0] = rows then normalized
            elif normalized.shape[0] = 1L then normalized.expand(rows, n, d)
            else
                use at = index which
                normalized.index_select(0L, at)
        // The sum of the needed senders' deltas in these columns, [batch, pos, d_model].
        let sentBy (cs: int list) =
            match cs with
            | [] -> torch.zeros_like xIn
            | first :: _ when List.last cs - first + 1 = cs.Length -> slots.narrow(0L, int64 first, int64 cs.Length).sum(0L).view(b, p, d)
            | _ ->
                use at = index cs
                slots.index_select(0L, at).sum(0L).view(b, p, d)
        // What the removed edges carry into each receiver group, [batch, pos, d_model]: the same for every circuit, so
        // summed once a batch.
        let constants =
            cache.Constants(fun rows ->
                use fillScope = torch.NewDisposeScope()
                let mutable constant = (torch.zeros_like xIn).add(carried.Input, one)
                for l in 0 .. layers - 1 do
                    rows[int64 (headsConstant l)].copy_(constant.view(n, d)) |> ignore
                    constant <- constant.add(carried.Heads[l].sum(0L), one)
                    match model.AttentionOutputBias l with
                    | null -> ()
                    | bias -> constant <- constant.add(bias, one)
                    if model.HasMlp then
                        rows[int64 (mlpConstant l)].copy_(constant.view(n, d)) |> ignore
                        constant <- constant.add(carried.Mlps[l], one)
                        match model.MlpOutputBias l with
                        | null -> ()
                        | bias -> constant <- constant.add(bias, one)
                rows[int64 logitsConstant].copy_(constant.view(n, d)) |> ignore)
        let constantAt row = constants[int64 row].view(b, p, d)
        // The sum of the needed senders' deltas so far, [batch, pos, d_model].
        let mutable sent = sentBy (if needed[0] then [ 0 ] else [])
        for l in 0 .. layers - 1 do
            use layerScope = torch.NewDisposeScope()
            let sentBefore = sent
            let column h = headBlocks[l].Cols + h
            let live = [ for h in 0 .. heads - 1 do if needed[column h] then h ]
            let readsOfHead h = readsOf headBlocks[l] [ h; heads + h; 2 * heads + h ]
            let dirty = [ for h in live do let reads = readsOfHead h in if stale (column h) reads then h, reads ]
            if not dirty.IsEmpty then
                let heads' = List.map fst dirty
                let count = int64 dirty.Length
                let rows = [ for which in 0 .. 2 do for h in heads' -> which * heads + h ]
                let rowReads = [ for which in 0 .. 2 do for _, reads in dirty -> reads.Rows[which] ]
                // Every head recomputed takes the tensors whole: selecting them all would copy the layer's projections.
                let select (indices: int list) (t: torch.Tensor) =
                    if dirty.Length = heads then t
                    else
                        use at = index indices
                        t.index_select(0L, at)
                let normalized = normalizedRows l (receiverInputs false (constantAt (headsConstant l)) sent rowReads) // [3 * count, batch * pos, d_model]
                let results =
                    headResults l normalized (select rows wQkv[l]) (bQkv[l] |> Option.map (select rows))
                        (select heads' (model.HeadOutputWeights l)) b p batch.KeyMask // [count, batch * pos, d_model]
                let deltas = results.view(count, b, p, d) - select heads' carried.Heads[l] // [count, batch, pos, d_model]
                use at = index (heads' |> List.map column)
                slots.index_copy_(0L, at, deltas.view(count, n, d)) |> ignore
                for h, reads in dirty do
                    computed[column h] <- Some reads
                    recomputed[column h] <- true
            if not live.IsEmpty then sent <- sent.add(sentBy (live |> List.map column), one)
            if model.HasMlp then
                let mlp = mlpBlocks[l].Cols
                if needed[mlp] then
                    let reads = { readsOf mlpBlocks[l] [ 0 ] with LastOnly = not whole[mlp] }
                    if stale mlp reads then
                        let input = fst (receiverInputs reads.LastOnly (constantAt (mlpConstant l)) sent reads.Rows)
                        if reads.LastOnly then
                            // The slot is zero away from the last tokens, where no reader keeps it (see `Whole`).
                            // The mean and zero ablations' outputs broadcast over the batch, or its positions too.
                            let carriedLast = carried.Mlps[l].expand(b, p, d).reshape(n, d).index_select(0L, lastRows).view(b, 1L, d)
                            let delta = mlpDelta l (model.MlpOutput(l, input.view(b, 1L, d))) carriedLast // [1, batch, d_model]
                            slots[int64 mlp].zero_().index_copy_(0L, lastRows, delta.view(b, d)) |> ignore
                        else
                            let delta = mlpDelta l (model.MlpOutput(l, input.view(b, p, d))) carried.Mlps[l] // [1, batch * pos, d_model]
                            slots[int64 mlp].copy_(delta.view(n, d)) |> ignore
                        computed[mlp] <- Some reads
                        recomputed[mlp] <- true
                    sent <- sent.add(slots[int64 mlp].view(b, p, d), one)
            // A layer with nothing needed leaves sent as the pass's scope owns it; moving it would hand it to the caller.
            if not (obj.ReferenceEquals(sent, sentBefore)) then sent <- sent.MoveToOuterDisposeScope()
        // The logits read each prompt's last real token alone.
        let final = (fst (receiverInputs true (constantAt logitsConstant) sent (readsOf logitsBlock [ 0 ]).Rows)).view(b, 1L, d)
        (model.Unembed final).MoveToOuterDisposeScope()

    /// Logits at each prompt's last real token, [batch, 1, vocab], with every edge interpolated by its coefficient;
    /// differentiable in `coefficients` [params]. Without autograd, coefficients of exactly 0 and 1 alone (a circuit)
    /// take `CircuitForward`, which computes only the circuit's nodes.
    member this.Forward(coefficients: torch.Tensor, batch: PreparedBatch) : torch.Tensor =
        let records = torch.is_grad_enabled() && coefficients.requires_grad
        let hard =
            if records then None
            else
                use scope = torch.NewDisposeScope()
                let edges = (this.EdgeCoefficients coefficients).cpu().``to``(torch.float64).contiguous().data<float>().ToArray()
                if edges |> Array.forall (fun v -> v = 0.0 || v = 1.0) then Some edges else None
        match hard with
        | Some edges -> this.CircuitForward(edges, batch)
        | None -> this.DenseForward(coefficients, batch)

    /// `Forward` for any coefficients: every receiver reads resid - sum_s (1 - a_rs) (x_s - xc_s) over all senders.
    member private this.DenseForward(coefficients: torch.Tensor, batch: PreparedBatch) : torch.Tensor =
        use scope = torch.NewDisposeScope()
        // The numbers go to libtorch as held Scalars (see `Gate`'s note): `1.0 - a` and `a + b` would each make a
        // Scalar that only the finalizer frees, possibly mid-call.
        use one = 1.0.ToScalar()
        let removed = (this.EdgeCoefficients coefficients).neg().add(one, one)  // [edges], 1 - a
        let xIn = batch.CleanInput
        let b, p, d = xIn.shape[0], xIn.shape[1], xIn.shape[2]
        let n = b * p
        let stack = if torch.is_grad_enabled() && coefficients.requires_grad then recording else scratch
        stack.Begin n
        // Senders are pushed in groups (the input; per layer its heads, then its MLP) as x_s - xc_s.
        stack.Push((xIn - batch.Carried.Input).view(1L, n, d))
        // The block's receivers read resid - sum_s (1 - a_rs) (x_s - xc_s): [receivers, batch * pos, d_model].
        let receiverInputs (resid: torch.Tensor) (blk: Block) =
            let w = removed.narrow(0L, int64 blk.Offset, int64 (blk.Rows * blk.Cols)).view(int64 blk.Rows, int64 blk.Cols)
            stack.Subtract(resid, w)
        let mutable resid = xIn
        for l in 0 .. layers - 1 do
            // Autograd keeps what the backward pass needs; this scope frees the rest of the layer as soon as it is
            // done instead of at the end of the pass (about 70 MB a layer for GPT-2 small at batch 8 x 32).
            use layerScope = torch.NewDisposeScope()
            let inputs = receiverInputs resid headBlocks[l]                     // [3 * head, batch * pos, d_model]
            let normalized = model.NormalizeAttentionInput(l, inputs)
            let results = headResults l normalized wQkv[l] bQkv[l] (model.HeadOutputWeights l) b p batch.KeyMask // [head, batch * pos, d_model]
            let deltas = results.view(int64 heads, b, p, d) - batch.Carried.Heads[l] // [head, batch, pos, d_model]
            stack.Push(deltas.view(int64 heads, n, d))
            resid <- resid.add(results.sum(0L).view(b, p, d), one)
            match model.AttentionOutputBias l with
            | null -> ()
            | bias -> resid <- resid.add(bias, one)
            if model.HasMlp then
                let input = (receiverInputs resid mlpBlocks[l]).view(b, p, d)
                let out = model.MlpOutput(l, input)                               // [batch, pos, d_model]
                stack.Push(mlpDelta l out batch.Carried.Mlps[l])
                resid <- resid.add(out, one)
            resid <- resid.MoveToOuterDisposeScope()
        (unembedLast ((receiverInputs resid logitsBlock).view(b, p, d)) batch).MoveToOuterDisposeScope() // [batch, 1, vocab]

    interface IDisposable with
        member _.Dispose() =
            for t in [ isParam; paramIndex; fixedValue ] do t.Dispose()
            for t in Seq.append wQkv (Seq.choose id bQkv) do t.Dispose()
            means |> Option.iter (fun m -> (m :> IDisposable).Dispose())
            for s in [ recording; scratch ] do (s :> IDisposable).Dispose()
            (shared :> IDisposable).Dispose()

/// `compile` with the bytes the batches' own circuit caches may take together; past them, batches share one.
let compileWithCacheBudget (model: Decoder) (schedule: ResolvedSchedule) (ablation: Ablation) (bytes: int64) : CompiledEngine =
    let expected = { Layers = model.Layers; Heads = model.Heads; HasMlp = model.HasMlp }
    if schedule.Shape <> expected then
        invalidArg "schedule" $"the schedule is for %A{schedule.Shape}, the model is %A{expected}"
    if bytes < 0L then invalidArg "bytes" $"the circuit caches' budget is {bytes} bytes; it must be 0 or more"
    new CompiledEngine(model, schedule, ablation, bytes)

/// Compiles a resolved schedule and an ablation against a model. The schedule's shape must be the model's. The
/// batches' own circuit caches take at most 2 GiB together: the default IOI run's 8 batches on GPT-2 small take
/// 1.3 GB, and Llama-3.1-8B's cache is 2.19 GiB a batch of 256 tokens in bfloat16, which a GPU cannot hold 8 of beside
/// the model.
let compile (model: Decoder) (schedule: ResolvedSchedule) (ablation: Ablation) : CompiledEngine =
    compileWithCacheBudget model schedule ablation (2L <<< 30)

/// The graph shape of a model.
let shapeOf (model: Decoder) = { Layers = model.Layers; Heads = model.Heads; HasMlp = model.HasMlp }
