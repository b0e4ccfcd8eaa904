module PatchDescent.Tests.Methods.EapIgTests

open Expecto
open FsCheck
open FsCheck.FSharp
open PatchDescent.Search
open PatchDescent.Search.Methods
open PatchDescent.Tests.Methods.Setup

let private quick n = { FsCheckConfig.defaultConfig with maxTest = n }

[<Tests>]
let tests =
    testList "EapIg" [
        testPropertyWithConfig (quick 5) "completeness: the attributions sum to m(all 1) - m(all 0), to within the midpoint rule's error" <|
            Prop.forAll cases (fun case ->
                use s = new Setup(case)
                let n = s.Engine.ParamCount
                let total = EapIg.attributions 128 s.Engine s.Batches Loss.logitDiffMetric |> Array.sum
                let expected = s.LogitDiff(Array.create n 1.0) - s.LogitDiff(Array.create n 0.0)
                // The midpoint rule's error falls as 1 / m^2, so at 128 steps it is about a third of the gap to 64
                // steps (Richardson); a path that bends sharply on some random tiny model gets that much room, and no
                // more: a wrong attribution moves both sums alike and leaves the gap small.
                let coarse = EapIg.attributions 64 s.Engine s.Batches Loss.logitDiffMetric |> Array.sum
                let quadrature = abs (total - coarse) / 3.0
                Expect.floatClose { absolute = 1e-3 + 3.0 * quadrature; relative = 1e-3 } total expected "sum of attributions")

        testPropertyWithConfig (quick 5) "the attributions converge: 64 and 128 steps agree to 1e-2 of the largest" <|
            Prop.forAll cases (fun case ->
                use s = new Setup(case)
                let a64 = EapIg.attributions 64 s.Engine s.Batches Loss.logitDiffMetric
                let a128 = EapIg.attributions 128 s.Engine s.Batches Loss.logitDiffMetric
                let scale = max 1e-9 (a128 |> Array.map abs |> Array.max)
                let gap = Array.map2 (fun a b -> abs (a - b)) a64 a128 |> Array.max
                // The midpoint rule's error is about |g''| / (24 m^2); some random tiny models bend sharply enough
                // along the path for a gap of 2e-3 at m = 64 (seen once in a few hundred cases), so 1e-2.
                Expect.isLessThan (gap / scale) 1e-2 "relative gap")

        testPropertyWithConfig (quick 5) "one step is the gradient at every coefficient 1/2, by central differences" <|
            Prop.forAll cases (fun case ->
                use s = new Setup(case)
                let n = s.Engine.ParamCount
                let one = EapIg.attributions 1 s.Engine s.Batches Loss.logitDiffMetric
                let h = 1e-5
                for i in 0 .. n - 1 do
                    let at d = s.LogitDiff(Array.init n (fun j -> if j = i then 0.5 + d else 0.5))
                    Expect.floatClose { absolute = 1e-5; relative = 1e-5 } one[i] ((at h - at -h) / (2.0 * h)) s.Engine.Schedule.ParamNames[i])

        test "fewer than one step is refused" {
            use s = new Setup({ Config = PatchDescent.Model.Gpt2Config(1, 1, 3, 6, 13, 1e-5, true); Seed = 1; Granularity = Granularity.Full })
            Expect.throwsC (fun () -> EapIg.attributions 0 s.Engine s.Batches Loss.logitDiffMetric |> ignore) (fun e ->
                Expect.stringContains e.Message "at least 1 step" "says why")
        }
    ]
