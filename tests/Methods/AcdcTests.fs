module PatchDescent.Tests.Methods.AcdcTests

open Expecto
open FsCheck
open FsCheck.FSharp
open PatchDescent.Search
open PatchDescent.Search.Methods
open PatchDescent.Tests.Methods.Setup

let private quick n = { FsCheckConfig.defaultConfig with maxTest = n }

let private edgeId shape name = Graph.edgeId shape (List.exactlyOne (Result.defaultWith failwith (Edge.parse name)))

[<Tests>]
let tests =
    testList "Acdc" [
        test "on the planted-dependency model it keeps exactly the planted path, and tries no edge into a head that reaches nothing" {
            use model = plantedModel ()
            use s = new Setup({ Config = model.Config; Seed = 3; Granularity = Granularity.Full }, model)
            let r = Acdc.run 1e-6 s.Engine s.Batches
            Expect.equal (set [ for e in Circuit.edges r.Circuit -> Edge.name e ]) (set planted) "kept edges"
            for name in planted do Expect.isGreaterThanOrEqual r.Scores[edgeId s.Shape name] 1e-6 name
            // The 5 edges into the logits are tried first; only a1.h1 -> logits survives among the heads', so only
            // a1.h1's 9 input edges (q, k, v from 3 senders) are tried, and those into a1.h0 and layer 0 are dropped untried.
            Expect.equal r.Trials (5 + 9) "trials"
            for port in [ "q"; "k"; "v" ] do
                for name in [ $"input->a0.h0<{port}>"; $"input->a0.h1<{port}>"; $"a0.h1->a1.h0<{port}>" ] do
                    Expect.equal r.Scores[edgeId s.Shape name] 0.0 $"untried {name} scores 0"
        }

        testPropertyWithConfig (quick 5) "its reported KL is the KL of the circuit it keeps, computed from plain arrays" <|
            Prop.forAll cases (fun case ->
                use s = new Setup(case)
                let r = Acdc.run 0.01 s.Engine s.Batches
                let kl = s.Kl(Circuit.coefficients s.Engine.Schedule r.Circuit)
                Expect.floatClose { absolute = 1e-9; relative = 1e-6 } r.Kl kl "KL")

        testPropertyWithConfig (quick 5) "tau 0 keeps what cannot be removed for free; an infinite tau removes every learnable edge" <|
            Prop.forAll cases (fun case ->
                use s = new Setup(case)
                let all = Acdc.run infinity s.Engine s.Batches
                let fixedAboveZero = set [ for id, src in Array.indexed s.Engine.Schedule.Source do match src with Fixed v when v > 0.0 -> id | _ -> () ]
                Expect.equal all.Circuit.Edges fixedAboveZero "only fixed edges stay"
                Expect.floatClose { absolute = 1e-9; relative = 1e-6 } all.Kl (s.Kl(Array.zeroCreate s.Engine.ParamCount)) "KL of the empty circuit"
                let strict = Acdc.run 0.0 s.Engine s.Batches
                Expect.isLessThanOrEqual strict.Kl 1e-12 "with tau 0 no removal may raise the KL")

        test "a negative tau is refused" {
            use s = new Setup({ Config = PatchDescent.Model.Gpt2Config(1, 1, 3, 6, 13, 1e-5, true); Seed = 1; Granularity = Granularity.Full })
            Expect.throwsC (fun () -> Acdc.run -1.0 s.Engine s.Batches |> ignore) (fun e -> Expect.stringContains e.Message "tau" "names tau")
        }
    ]
