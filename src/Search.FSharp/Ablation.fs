namespace PatchDescent.Search

open System
open TorchSharp
open PatchDescent.Model

/// A reference dataset whose mean sender outputs removed edges carry under mean ablation.
type MeanSource =
    { /// Token ids [sequence][position]; sequences may differ in length unless `PerPosition`.
      Tokens: int64[][]
      /// Mean per position (needs one reference length, the batch's) rather than over all positions.
      PerPosition: bool }

/// What a removed edge (coefficient 0) carries to its receiver instead of the sender's clean output.
[<RequireQualifiedAccess>]
type Ablation =
    /// The sender's output in the corrupted run of the same batch (interchange ablation; the default).
    | Patching
    /// The sender's mean output over a reference dataset.
    | Mean of MeanSource
    /// Nothing: the input-dependent part of the sender's output is zeroed (biases stay, they belong to the receiver).
    | Zero

/// Every sender's output in one run, without biases (they belong to the receivers' constant part).
/// Input [batch, pos, d_model]; Heads[l] [head, batch, pos, d_model]; Mlps[l] [batch, pos, d_model].
type SenderOutputs =
    { Input: torch.Tensor
      Heads: torch.Tensor[]
      Mlps: torch.Tensor[] }

    /// The tensors, for disposal.
    member o.All = Seq.concat [ Seq.singleton o.Input; Seq.ofArray o.Heads; Seq.ofArray o.Mlps ]

    interface IDisposable with
        member o.Dispose() = for t in o.All do t.Dispose()

/// Computing what removed edges carry. Each function computes in its own dispose scope (temporaries outside one can
/// be freed by the finalizer thread mid-call) and hands its results to the caller's scope.
module SenderOutputs =
    let private handOut (o: SenderOutputs) =
        for t in o.All do t.MoveToOuterDisposeScope() |> ignore
        o

    /// The sender outputs of an ordinary forward pass on `tokens`, detached.
    let ofRun (model: Decoder) (tokens: torch.Tensor) (mask: torch.Tensor option) : SenderOutputs =
        use scope = torch.NewDisposeScope()
        use _ = torch.no_grad()
        let layers = model.Layers
        // The input node sends what block 0 reads: the embeddings (token plus position for GPT-2).
        let names =
            [ yield HookPoints.ResidPre 0
              for l in 0 .. layers - 1 do
                  yield HookPoints.Result l
                  if model.HasMlp then yield HookPoints.MlpOut l ]
        let struct (logits, cache) = model.RunWithCache(tokens, names, Option.toObj mask)
        use _ = logits
        use cache = cache
        handOut
            { Input = cache[HookPoints.ResidPre 0].alias()
              Heads = Array.init layers (fun l -> cache[HookPoints.Result l].permute(2, 0, 1, 3).contiguous())
              Mlps =
                if not model.HasMlp then [||]
                else
                    Array.init layers (fun l ->
                        match model.MlpOutputBias l with
                        | null -> cache[HookPoints.MlpOut l].alias()
                        | bias -> cache[HookPoints.MlpOut l] - bias) }

    /// The mean over sequences (and over positions unless per position), kept broadcastable against a batch.
    let mean (perPosition: bool) (o: SenderOutputs) : SenderOutputs =
        use scope = torch.NewDisposeScope()
        let reduce (t: torch.Tensor) (batchDim: int64) =
            let m = t.mean([| batchDim |], keepdim = true)
            if perPosition then m else m.mean([| batchDim + 1L |], keepdim = true)
        handOut
            { Input = reduce o.Input 0L
              Heads = o.Heads |> Array.map (fun t -> reduce t 1L)
              Mlps = o.Mlps |> Array.map (fun t -> reduce t 0L) }

    /// The mean sender outputs of a reference set: per position for sequences of one length, else over every
    /// (sequence, position) of sequences of any lengths, each length run as one batch and the sums pooled, so every
    /// token weighs the same whatever its sequence's length.
    let meanOf (model: Decoder) (source: MeanSource) : SenderOutputs =
        if source.Tokens.Length = 0 then invalidArg "source" "mean ablation needs at least one reference sequence"
        let groups = source.Tokens |> Array.groupBy Array.length
        if source.PerPosition && groups.Length > 1 then
            let lengths = String.Join(", ", Array.map fst groups)
            invalidArg "source" $"per-position mean ablation needs reference sequences of one length, got lengths {lengths}"
        use scope = torch.NewDisposeScope()
        let run (length: int, rows: int64[][]) =
            let tokens = torch.tensor(Array.concat rows, device = model.Device).reshape(int64 rows.Length, int64 length)
            ofRun model tokens None
        if source.PerPosition then
            use outputs = run groups[0]
            handOut (mean true outputs)
        else
            let positions = source.Tokens |> Array.sumBy (fun t -> float t.Length)
            // Sums over sequences and positions, kept broadcastable; heads carry the head dimension first.
            let sum (t: torch.Tensor) (batchDim: int64) = t.sum([| batchDim; batchDim + 1L |], keepdim = true)
            let sums =
                [ for g in groups ->
                    use o = run g
                    { Input = sum o.Input 0L; Heads = o.Heads |> Array.map (fun t -> sum t 1L); Mlps = o.Mlps |> Array.map (fun t -> sum t 0L) } ]
            use one = 1.0.ToScalar()
            use count = positions.ToScalar()
            let pooled (pick: SenderOutputs -> torch.Tensor) =
                (sums |> List.map pick |> List.reduce (fun (a: torch.Tensor) b -> a.add(b, one))).div(count)
            handOut
                { Input = pooled _.Input
                  Heads = Array.init sums.Head.Heads.Length (fun l -> pooled (fun o -> o.Heads[l]))
                  Mlps = Array.init sums.Head.Mlps.Length (fun l -> pooled (fun o -> o.Mlps[l])) }

    /// Zeros shaped to broadcast against any batch.
    let zeros (model: Decoder) : SenderOutputs =
        let z (shape: int64[]) = torch.zeros(shape, dtype = model.DType, device = model.Device)
        let d = int64 model.DModel
        { Input = z [| 1L; 1L; d |]
          Heads = Array.init model.Layers (fun _ -> z [| int64 model.Heads; 1L; 1L; d |])
          Mlps = if not model.HasMlp then [||] else Array.init model.Layers (fun _ -> z [| 1L; 1L; d |]) }
