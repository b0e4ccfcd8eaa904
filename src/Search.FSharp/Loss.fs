namespace PatchDescent.Search

open TorchSharp

[<RequireQualifiedAccess>]
type Term =
    | Kl
    | LogitDiff
    | ProbDiff of ThresholdSet
    | PairProbDiff
    | CrossEntropy
    | L1

type Loss =
    | Term of Term
    | Weighted of weight: float * Loss
    | Sum of Loss list

    static member (+)(a: Loss, b: Loss) =
        let parts = function Sum losses -> losses | loss -> [ loss ]
        Sum(parts a @ parts b)

    static member (*)(weight: float, loss: Loss) = Weighted(weight, loss)

[<NoEquality; NoComparison>]
type LossInputs =
    { Patched: torch.Tensor
      Full: torch.Tensor
      Answers: torch.Tensor
      Wrongs: torch.Tensor option
      Thresholds: torch.Tensor option
      Coefficients: torch.Tensor option }

[<NoEquality; NoComparison>]
type LossValue = { Total: torch.Tensor; Terms: (string * torch.Tensor) list }

module Term =
    let name term =
        match term with
        | Term.Kl -> "kl"
        | Term.LogitDiff -> "logit_diff"
        | Term.ProbDiff _ | Term.PairProbDiff -> "prob_diff"
        | Term.CrossEntropy -> "cross_entropy"
        | Term.L1 -> "l1"

module Loss =
    let kl = Term Term.Kl
    let logitDiff = Term Term.LogitDiff
    let probDiff above atOrBelow = Term(Term.ProbDiff { Above = above; AtOrBelow = atOrBelow })
    let pairProbDiff = Term Term.PairProbDiff
    let crossEntropy = Term Term.CrossEntropy
    let l1 = Term Term.L1

    let terms loss =
        let rec collect loss =
            match loss with
            | Term t -> [ t ]
            | Weighted(_, l) -> collect l
            | Sum ls -> List.collect collect ls
        collect loss |> List.distinct

    let need term (input: 'a option) (what: string) =
        match input with
        | Some x -> x
        | None -> invalidArg "inputs" $"the {Term.name term} term needs {what}, which the loss inputs lack"

    /// Logits [batch, vocab] at the last position, after checking they are [batch, pos, vocab].
    let lastPosition term (what: string) (logits: torch.Tensor) =
        if logits.dim() <> 3L then invalidArg "inputs" $"the {Term.name term} term needs {what} logits [batch, pos, vocab], got %A{logits.shape}"
        logits.select(1L, -1L)

    /// Ids [batch] checked against the logits' batch and vocabulary; returned as [batch, 1] for gather.
    let column term (what: string) (logits: torch.Tensor) (ids: torch.Tensor) =
        if ids.shape <> [| logits.shape[0] |] then
            invalidArg "inputs" $"the {Term.name term} term needs {what} [{logits.shape[0]}], one per prompt, got %A{ids.shape}"
        ids.unsqueeze(1L)

    let logitDifference term (inputs: LossInputs) =
        let last = lastPosition term "patched" inputs.Patched
        let wrongs = need term inputs.Wrongs "wrong-answer ids (Wrongs)"
        let pick what ids = last.gather(1L, column term what last ids).squeeze(1L)
        (pick "answer ids" inputs.Answers - pick "wrong-answer ids" wrongs).mean()

    /// Mean over pairs of sum over tokens of probability * weight, for weights [batch, vocab].
    let pairProbDifference term (inputs: LossInputs) =
        let probs = (lastPosition term "patched" inputs.Patched).softmax(1L)
        let weights = need term inputs.Thresholds "per-pair threshold weights (Thresholds)"
        if weights.shape <> probs.shape then
            invalidArg "inputs" $"the {Term.name term} term needs threshold weights [batch, vocab] = %A{probs.shape}, got %A{weights.shape}"
        (probs * weights.``to``(probs.dtype)).sum(1L).mean()

    let thresholdWeights (sets: ThresholdSet[]) (vocabSize: int) (device: torch.Device) =
        use scope = torch.NewDisposeScope()
        let weights = Array.zeroCreate<float32> (sets.Length * vocabSize)
        sets |> Array.iteri (fun pair set ->
            for ids, sign in [ set.Above, 1.0f; set.AtOrBelow, -1.0f ] do
                for id in ids do
                    if id < 0 || id >= vocabSize then
                        invalidArg "sets" $"pair {pair}'s threshold token id {id} is outside the vocabulary [0, {vocabSize})"
                    weights[pair * vocabSize + id] <- weights[pair * vocabSize + id] + sign)
        torch.tensor(weights, device = device).reshape(int64 sets.Length, int64 vocabSize).MoveToOuterDisposeScope()

    let value (inputs: LossInputs) (term: Term) : torch.Tensor =
        match term with
        | Term.Kl ->
            let patched = lastPosition term "patched" inputs.Patched
            if inputs.Full.shape <> inputs.Patched.shape then
                invalidArg "inputs" $"the kl term needs full logits shaped like the patched ones, %A{inputs.Patched.shape}, got %A{inputs.Full.shape}"
            let logP = (lastPosition term "full" inputs.Full).detach().log_softmax(1L)
            let logQ = patched.log_softmax(1L)
            (logP.exp() * (logP - logQ)).sum(1L).mean()
        | Term.LogitDiff -> (logitDifference term inputs).neg()
        | Term.ProbDiff t ->
            let probs = (lastPosition term "patched" inputs.Patched).softmax(1L)
            let vocab = int probs.shape[1]
            let total (ids: int list) =
                for id in ids do
                    if id < 0 || id >= vocab then invalidArg "inputs" $"the prob_diff term's token id {id} is outside the vocabulary [0, {vocab})"
                let index = torch.tensor(ids |> Array.ofList |> Array.map int64, device = probs.device)
                probs.index_select(1L, index).sum(1L)
            (total t.Above - total t.AtOrBelow).mean().neg()
        | Term.PairProbDiff -> (pairProbDifference term inputs).neg()
        | Term.CrossEntropy ->
            let logQ = (lastPosition term "patched" inputs.Patched).log_softmax(1L)
            logQ.gather(1L, column term "answer ids" logQ inputs.Answers).mean().neg()
        | Term.L1 ->
            let a = need term inputs.Coefficients "the coefficients (Coefficients)"
            if a.numel() = 0L then invalidArg "inputs" "the l1 term needs at least one coefficient; the schedule learns none"
            a.mean()

    let evaluate (loss: Loss) (inputs: LossInputs) : LossValue =
        use scope = torch.NewDisposeScope()
        // A term that appears under several weights is computed once.
        let values = [ for t in terms loss -> t, value inputs t ]
        let rec total loss =
            match loss with
            | Term t -> List.find (fst >> (=) t) values |> snd
            | Weighted(w, l) ->
                // Held until the product exists: TorchSharp leaves its own conversion to the finalizer (see `Gate`).
                use weight = w.ToScalar()
                (total l).mul(weight)
            | Sum [] -> invalidArg "loss" "the loss is an empty sum; give it at least one term"
            | Sum(l :: ls) ->
                use one = 1.0.ToScalar()
                ls |> List.fold (fun (acc: torch.Tensor) x -> acc.add(total x, one)) (total l)
        let sum = total loss
        let kept = sum :: List.map snd values
        // A bare term's total is the term's own tensor: move each tensor out exactly once. Distinct by reference, not
        // by PhysicalHash: two tensors whose hashes collided would leave one in the scope, disposed with it.
        let moved = System.Collections.Generic.HashSet<torch.Tensor>(HashIdentity.Reference)
        for t in kept do if moved.Add t then t.MoveToOuterDisposeScope() |> ignore
        { Total = sum; Terms = [ for t, v in values -> Term.name t, v ] }

    let logitDiffMetric (inputs: LossInputs) =
        use scope = torch.NewDisposeScope()
        (logitDifference Term.LogitDiff inputs).MoveToOuterDisposeScope()

    let pairProbDiffMetric (inputs: LossInputs) =
        use scope = torch.NewDisposeScope()
        (pairProbDifference Term.PairProbDiff inputs).MoveToOuterDisposeScope()
