namespace PatchDescent.Toys

open PatchDescent.Model
open PatchDescent.Search
open PatchDescent.Search.Tasks

type AcceptanceReport =
    { Mechanism: InductionReport
      KeyEdge: Edge option
      KeyEdgeRank: int
      Top: (Edge * float) list
      AtLevel: CurvePoint
      Discovery: DiscoveryResult }

module InductionAcceptance =
    let level = 0.1

    let steps = 1000

    let experiment modelDir task outDir =
        let defaults = Experiment.defaults modelDir (Pairs(TriggerPairs.generate task 300 1)) outDir |> Experiment.withSteps steps
        { defaults with
            Metric = Some TriggerPairs.metric
            Levels = List.sort (List.distinct (level :: defaults.Levels)) }

    let run (model: Gpt2) task experiment =
        let mechanism = InductionCheck.Run(model, task)
        let discovery = Discovery.runOn model experiment ignore
        let shape = { Layers = model.Config.Layers; Heads = model.Config.Heads; HasMlp = not model.Config.AttnOnly }
        let scores, ranking = discovery.Scores, discovery.Ranking
        // 1 for the best-ranked edge of the one ranking (`DiscoveryResult.Ranking`).
        let rankOf e = ranking |> Array.filter (fun x -> x >= ranking[Graph.edgeId shape e]) |> Array.length
        // Every previous-token head feeding every induction head is a p -> i<k> edge of the mechanism; with
        // redundant induction heads the circuit needs one of them, so the best-ranked stands for the mechanism.
        let keyEdge =
            [ for p in mechanism.PreviousTokenHeads do
                for i in mechanism.InductionHeads do
                    if p.Layer < i.Layer then yield { Sender = Head(p.Layer, p.Head); Receiver = HeadIn(i.Layer, i.Head, K) } ]
            |> List.sortBy rankOf
            |> List.tryHead
        let rank = keyEdge |> Option.map rankOf
        let top =
            Graph.edges shape
            |> Array.map (fun e -> e, scores[Graph.edgeId shape e])
            |> Array.sortBy (fun (e, _) -> -ranking[Graph.edgeId shape e])
            |> Array.truncate 10
            |> List.ofArray
        { Mechanism = mechanism
          KeyEdge = keyEdge
          KeyEdgeRank = defaultArg rank 0
          Top = top
          AtLevel = discovery.Curve.Points |> List.minBy (fun p -> abs (float p.K - level * float scores.Length))
          Discovery = discovery }

    let passes r =
        r.Mechanism.Passes && r.KeyEdge.IsSome && r.KeyEdgeRank <= 3
        && r.AtLevel.Faithfulness >= 0.8 && r.AtLevel.Kl <= 0.1

    let lines r =
        let inv (f: System.FormattableString) = System.FormattableString.Invariant f
        [ yield! r.Mechanism.Lines()
          yield "top edges by discovery score:"
          for e, s in r.Top do yield inv $"  {Edge.name e,-22} {s:F3}"
          match r.KeyEdge with
          | Some e -> yield inv $"key edge p -> i<k> = {Edge.name e}: rank {r.KeyEdgeRank} (bar: top 3)"
          | None -> yield "key edge p -> i<k>: none (no previous-token or no induction head passed the bars)"
          let p = r.AtLevel
          yield inv $"at {level:P0} of the edges ({p.Edges} kept after pruning of k = {p.K}): faithfulness {p.Faithfulness:F3} (bar >= 0.8), KL {p.Kl:F4} nats (bar <= 0.1)"
          let verdict = if passes r then "PASS" else "FAIL"
          yield $"acceptance: {verdict}" ]
