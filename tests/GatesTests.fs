module PatchDescent.Tests.GatesTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open PatchDescent.Search

// The independent computation: plain floats, written from the definitions.

let private sigmoid x = 1.0 / (1.0 + exp -x)
let private clamp01 x = min 1.0 (max 0.0 x)
let private defaults = { Beta = 2.0 / 3.0; Gamma = -0.1; Zeta = 1.1 }
let private handDeterministic (h: HardConcreteSettings) x = clamp01 (sigmoid x * (h.Zeta - h.Gamma) + h.Gamma)
/// P(gate > 0): the stretched gate is positive when the logistic noise L exceeds Beta * log(-Gamma / Zeta) - x.
let private handNonzero (h: HardConcreteSettings) x = sigmoid (x - h.Beta * log (-h.Gamma / h.Zeta))
/// P(gate = 1): the stretched gate reaches 1 when L exceeds Beta * log((1 - Gamma) / (Zeta - 1)) - x.
let private handOne (h: HardConcreteSettings) x = sigmoid (x - h.Beta * log ((1.0 - h.Gamma) / (h.Zeta - 1.0)))

// Generators.

let private logits = Gen.choose (-8000, 8000) |> Gen.map (fun x -> float x / 1000.0) |> Gen.arrayOf |> Gen.filter (fun a -> a.Length > 0)

let private settings =
    gen {
        let! beta = Gen.choose (200, 1500)
        let! gamma = Gen.choose (-500, -10)
        let! zeta = Gen.choose (1010, 1500)
        return { Beta = float beta / 1000.0; Gamma = float gamma / 1000.0; Zeta = float zeta / 1000.0 }
    }

let private gates = Gen.oneof [ Gen.constant Sigmoid; Gen.map HardConcrete settings ]

// The code under test, read back as plain floats.

let private read (t: torch.Tensor) = t.detach().data<float>().ToArray()

let private sampled gate (xs: float[]) (seed: uint64) =
    use scope = torch.NewDisposeScope()
    use generator = new torch.Generator(seed)
    read (Gate.sample gate (torch.tensor xs) generator)

let private deterministic gate (xs: float[]) =
    use scope = torch.NewDisposeScope()
    read (Gate.deterministic gate (torch.tensor xs))

let private expectedL0 gate (xs: float[]) =
    use scope = torch.NewDisposeScope()
    (Gate.expectedL0 gate (torch.tensor xs)).item<float>()

let private within tolerance (expected: float[]) (actual: float[]) =
    (expected.Length = actual.Length && Array.forall2 (fun e a -> abs (e - a) <= tolerance) expected actual)
    |> Prop.label $"expected %A{expected}, got %A{actual}"

/// `count` hard concrete samples of one logit, drawn in a single call.
let private samplesAt h x count = sampled (HardConcrete h) (Array.create count x) 7UL

let private fraction predicate (xs: float[]) = float (Array.filter predicate xs).Length / float xs.Length

[<Tests>]
let tests =
    testList "Gates" [
        testProperty "a Sigmoid gate's sample and deterministic coefficients are sigmoid(log alpha)" <|
            Prop.forAll (Arb.fromGen logits) (fun xs ->
                let expected = Array.map sigmoid xs
                within 1e-12 expected (sampled Sigmoid xs 1UL) .&. within 1e-12 expected (deterministic Sigmoid xs))
        testProperty "a hard concrete gate's deterministic coefficient is clamp(sigmoid(x) * (zeta - gamma) + gamma, 0, 1)" <|
            Prop.forAll (Arb.fromGen (Gen.zip settings logits)) (fun (h, xs) ->
                within 1e-12 (Array.map (handDeterministic h) xs) (deterministic (HardConcrete h) xs))
        testProperty "expected L0 is the mean P(gate > 0) for hard concrete and the mean coefficient for Sigmoid" <|
            Prop.forAll (Arb.fromGen (Gen.zip settings logits)) (fun (h, xs) ->
                within 1e-12 [| Array.averageBy (handNonzero h) xs |] [| expectedL0 (HardConcrete h) xs |]
                .&. within 1e-12 [| Array.averageBy sigmoid xs |] [| expectedL0 Sigmoid xs |])
        test "the default hard concrete gate has the paper's constants" {
            Expect.equal Gate.hardConcrete (HardConcrete defaults) "Beta 2/3, Gamma -0.1, Zeta 1.1"
        }

        testProperty "a hard concrete sample with one seed is one tensor, and with another seed a different one" <|
            Prop.forAll (Arb.fromGen (Gen.zip settings (Gen.choose (0, 1000)))) (fun (h, seed) ->
                let xs = Array.init 64 (fun i -> float (i % 8) - 4.0)
                let first, again = sampled (HardConcrete h) xs (uint64 seed), sampled (HardConcrete h) xs (uint64 seed)
                let other = sampled (HardConcrete h) xs (uint64 seed + 1UL)
                (first = again |> Prop.label "same seed") .&. (first <> other |> Prop.label "next seed"))
        testProperty "every sample lies in [0, 1]" <|
            Prop.forAll (Arb.fromGen (Gen.zip3 gates logits (Gen.choose (0, 1000)))) (fun (gate, xs, seed) ->
                sampled gate xs (uint64 seed) |> Array.forall (fun a -> a >= 0.0 && a <= 1.0))
        test "at log alpha = 0 hard concrete samples are exactly 0 and exactly 1 at the closed-form rates" {
            let samples = samplesAt defaults 0.0 20000
            Expect.floatClose { absolute = 0.02; relative = 0.0 } (fraction ((=) 0.0) samples) (1.0 - handNonzero defaults 0.0) "P(gate = 0)"
            Expect.floatClose { absolute = 0.02; relative = 0.0 } (fraction ((=) 1.0) samples) (handOne defaults 0.0) "P(gate = 1)"
            Expect.isGreaterThan (1.0 - handNonzero defaults 0.0) 0.1 "the hand-computed rate is far from 0, so the check has teeth"
        }
        test "the frequency of nonzero samples over 20000 draws matches expectedL0's per-gate probability" {
            for x in [ -3.0; -1.0; 0.5; 2.0 ] do
                let frequency = fraction (fun a -> a > 0.0) (samplesAt defaults x 20000)
                Expect.floatClose { absolute = 0.02; relative = 0.0 } frequency (expectedL0 Gate.hardConcrete [| x |]) $"log alpha {x}"
        }
        testProperty "a hard concrete sample's gradient is (zeta - gamma) s (1 - s) / beta inside (0, 1) and 0 where clamped" <|
            Prop.forAll (Arb.fromGen (Gen.zip3 settings logits (Gen.choose (0, 1000)))) (fun (h, xs, seed) ->
                use scope = torch.NewDisposeScope()
                use generator = new torch.Generator(uint64 seed)
                let logAlpha = torch.tensor(xs).requires_grad_(true)
                let coefficients = Gate.sample (HardConcrete h) logAlpha generator
                coefficients.sum().backward()
                let gradient = read (nonNull logAlpha.grad)
                let expected =
                    read coefficients |> Array.map (fun a ->
                        if a <= 0.0 || a >= 1.0 then 0.0
                        else
                            let s = (a - h.Gamma) / (h.Zeta - h.Gamma)
                            (h.Zeta - h.Gamma) * s * (1.0 - s) / h.Beta)
                Array.forall Double.IsFinite gradient .&. within 1e-9 expected gradient)

        testProperty "initialLogAlpha round-trips through deterministic for values in (0, 1)" <|
            Prop.forAll (Arb.fromGen (Gen.zip gates (Gen.arrayOf (Gen.choose (1, 999999) |> Gen.map (fun x -> float x / 1e6))))) (fun (gate, init) ->
                within 1e-6 init (deterministic gate (Gate.initialLogAlpha gate init)))
        test "hard concrete's initial 0 and 1 lie one nat past the clamp points and evaluate to exactly 0 and 1" {
            let h = { Beta = 0.5; Gamma = -0.2; Zeta = 1.3 }
            let logAlpha = Gate.initialLogAlpha (HardConcrete h) [| 0.0; 1.0 |]
            Expect.floatClose Accuracy.veryHigh logAlpha[0] (log (0.2 / 1.3) - 1.0) "the logit of 0"
            Expect.floatClose Accuracy.veryHigh logAlpha[1] (log (1.2 / 0.3) + 1.0) "the logit of 1"
            Expect.sequenceEqual (deterministic (HardConcrete h) logAlpha) [| 0.0; 1.0 |] "coefficients"
            let defaultsAtOne = (Gate.initialLogAlpha Gate.hardConcrete [| 1.0 |])[0]
            Expect.floatClose { absolute = 0.001; relative = 0.0 } (handOne defaults defaultsAtOne) 0.858 "P(sample = 1) at initial value 1, as documented"
        }
        test "Sigmoid's initial 0 and 1 are the logits of 1e-6 and 1 - 1e-6" {
            let logAlpha = Gate.initialLogAlpha Sigmoid [| 0.0; 1.0 |]
            Expect.floatClose Accuracy.veryHigh logAlpha[0] (log (1e-6 / (1.0 - 1e-6))) "at 0"
            Expect.floatClose Accuracy.veryHigh logAlpha[1] (log ((1.0 - 1e-6) / 1e-6)) "at 1"
        }
        test "an initial value outside [0, 1] is an error naming its index and value" {
            let message =
                try
                    Gate.initialLogAlpha Gate.hardConcrete [| 0.5; 1.5 |] |> ignore
                    failtest "expected an error"
                with :? ArgumentException as e -> e.Message
            Expect.stringContains message "initial coefficient 1 is 1.5" "message"
        }

        test "the target holds Start through warmup, moves linearly over the anneal, then holds End" {
            let schedule = { Start = 0.1; End = 0.9; WarmupSteps = 10; AnnealSteps = 40 }
            let targets = [ 0; 10; 20; 30; 49; 50; 1000 ] |> List.map (TargetSchedule.at schedule)
            let expected = [ 0.1; 0.1; 0.1 + 0.8 * 10.0 / 40.0; 0.5; 0.1 + 0.8 * 39.0 / 40.0; 0.9; 0.9 ]
            List.iter2 (fun e a -> Expect.floatClose Accuracy.veryHigh a e "target") expected targets
            let jump = { schedule with AnnealSteps = 0 }
            Expect.equal ([ 10; 11 ] |> List.map (TargetSchedule.at jump)) [ 0.1; 0.9 ] "no anneal: End right after warmup"
        }
        testProperty "the penalty is lambda1 (s - t) + lambda2 (s - t)^2, with gradients (s - t), (s - t)^2 and lambda1 + 2 lambda2 (s - t)" <|
            Prop.forAll (Arb.fromGen (Gen.arrayOfLength 4 (Gen.choose (-1000, 1000) |> Gen.map (fun x -> float x / 1000.0)))) (fun v ->
                let s, t, l1, l2 = v[0], v[1], v[2], v[3]
                use scope = torch.NewDisposeScope()
                let sparsity, lambda1, lambda2 = torch.tensor(s).requires_grad_(true), torch.tensor(l1).requires_grad_(true), torch.tensor(l2).requires_grad_(true)
                let penalty = Lagrangian.penalty sparsity t lambda1 lambda2
                penalty.backward()
                let grad (x: torch.Tensor) = (nonNull x.grad).item<float>()
                within 1e-12
                    [| l1 * (s - t) + l2 * (s - t) ** 2.0; s - t; (s - t) ** 2.0; l1 + 2.0 * l2 * (s - t) |]
                    [| penalty.item<float>(); grad lambda1; grad lambda2; grad sparsity |])
    ]
