module PatchDescent.Tests.Methods.EapTests

open Expecto
open FsCheck
open FsCheck.FSharp
open PatchDescent.Search
open PatchDescent.Search.Methods
open PatchDescent.Tests.Methods.Setup

let private quick n = { FsCheckConfig.defaultConfig with maxTest = n }

[<Tests>]
let tests =
    testList "Eap" [
        testPropertyWithConfig (quick 8) "each attribution is the metric's finite difference when its coefficient moves from 1 to 1 - h" <|
            Prop.forAll cases (fun case ->
                use s = new Setup(case)
                let n = s.Engine.ParamCount
                let attributions = Eap.attributions s.Engine s.Batches Loss.logitDiffMetric
                let m1 = s.LogitDiff(Array.create n 1.0)
                let h = 1e-6
                for i in 0 .. n - 1 do
                    let moved = Array.init n (fun j -> if j = i then 1.0 - h else 1.0)
                    let difference = (m1 - s.LogitDiff moved) / h
                    Expect.floatClose { absolute = 1e-4; relative = 1e-4 } attributions[i] difference $"parameter {s.Engine.Schedule.ParamNames[i]}")

        testPropertyWithConfig (quick 5) "scores are |attributions| on learnable edges, and fixed edges score their value times the largest" <|
            Prop.forAll cases (fun case ->
                use s = new Setup(case)
                let attributions = Eap.attributions s.Engine s.Batches Loss.logitDiffMetric
                let scores = Eap.scores s.Engine s.Batches Loss.logitDiffMetric
                let top = attributions |> Array.map abs |> Array.max
                Expect.equal scores.Length (Graph.edgeCount s.Shape) "one score per edge"
                s.Engine.Schedule.Source |> Array.iteri (fun id source ->
                    match source with
                    | Param i -> Expect.equal scores[id] (abs attributions[i]) "learnable edge"
                    | Fixed v -> Expect.equal scores[id] (v * top) "fixed edge"))

        test "the planted path's edges carry every attribution: the rest are exactly 0" {
            use model = plantedModel ()
            use s = new Setup({ Config = model.Config; Seed = 3; Granularity = Granularity.Full }, model)
            let scores = Eap.scores s.Engine s.Batches Loss.logitDiffMetric
            let plantedIds = set [ for n in planted -> Graph.edgeId s.Shape (List.exactlyOne (Result.defaultWith failwith (Edge.parse n))) ]
            for id in 0 .. scores.Length - 1 do
                if not (plantedIds.Contains id) then Expect.equal scores[id] 0.0 (Edge.name (Graph.edge s.Shape id))
            Expect.isGreaterThan (plantedIds |> Seq.sumBy (fun id -> scores[id])) 0.0 "the path is attributed"
        }
    ]
