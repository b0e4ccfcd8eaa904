module PatchDescent.Tests.HookTests

open System.Collections.Generic
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open PatchDescent.Model
open PatchDescent.Tests.Fixtures

let private quick n = { FsCheckConfig.defaultConfig with maxTest = n }

let private hooks (pairs: (string * (torch.Tensor -> torch.Tensor)) seq) =
    let d = Dictionary<string, Hook>()
    for name, f in pairs do d[name] <- Hook f
    d :> IReadOnlyDictionary<_, _>

[<Tests>]
let tests =
    testList "Hooks" [
        test "the hook points of a 1-layer model with an MLP are TransformerLens's names, in its forward order" {
            // Written out from TransformerLens's HookedTransformer (hook_embed, hook_pos_embed, then each block's).
            let expected =
                [ "hook_embed"; "hook_pos_embed"; "blocks.0.hook_resid_pre"; "blocks.0.ln1.hook_normalized"
                  "blocks.0.attn.hook_q"; "blocks.0.attn.hook_k"; "blocks.0.attn.hook_v"; "blocks.0.attn.hook_pattern"
                  "blocks.0.attn.hook_z"; "blocks.0.attn.hook_result"; "blocks.0.hook_attn_out"; "blocks.0.hook_resid_mid"
                  "blocks.0.ln2.hook_normalized"; "blocks.0.mlp.hook_pre"; "blocks.0.mlp.hook_post"; "blocks.0.hook_mlp_out"
                  "blocks.0.hook_resid_post"; "ln_final.hook_normalized" ]
            Expect.sequenceEqual (HookPoints.All(Gpt2Config(1, 2, 8, 6, 13, 1e-5))) expected "names and order"
        }
        testPropertyWithConfig (quick 15) "caching every activation and injecting it back unchanged gives the same logits" <|
            Prop.forAll (Arb.fromGen configAndTokens) (fun (c, tokens) ->
                use model = Gpt2.Random(c, 11, std = 0.3)
                use input = tokenTensor tokens
                let struct (logits, cache) = model.RunWithCache(input)
                use logits = logits
                use cache = cache
                Expect.sequenceEqual cache.Names (HookPoints.All c) "every hook point, in forward order"
                use injected = model.RunWithHooks(input, hooks [ for n in cache.Names -> n, (fun _ -> cache[n]) ])
                maxAbsDiff logits injected < 1e-5)

        testPropertyWithConfig (quick 15) "per-head hook_result summed plus b_O equals hook_attn_out" <|
            Prop.forAll (Arb.fromGen configAndTokens) (fun (c, tokens) ->
                use model = Gpt2.Random(c, 12, std = 0.3)
                let struct (logits, cache) = model.RunWithCache(tokenTensor tokens, [ for l in 0 .. c.Layers - 1 do yield HookPoints.Result l; yield HookPoints.AttnOut l ])
                use _ = logits
                use cache = cache
                [ 0 .. c.Layers - 1 ] |> List.forall (fun l ->
                    use summed = cache[HookPoints.Result l].sum(2) + model.Blocks[l].BO
                    cache[HookPoints.Result l].shape = [| int64 tokens.Length; int64 tokens[0].Length; int64 c.Heads; int64 c.DModel |]
                    && maxAbsDiff summed cache[HookPoints.AttnOut l] < 1e-5))

        testPropertyWithConfig (quick 15) "replacing hook_resid_pre of layer l with another input's reproduces that input's logits" <|
            Prop.forAll (Arb.fromGen (Gen.zip tinyConfig (Gen.choose (0, 1)))) (fun (c, layerChoice) ->
                let l = min layerChoice (c.Layers - 1)
                use model = Gpt2.Random(c, 13, std = 0.3)
                use a = torch.randint(int64 c.VocabSize, [| 2L; int64 c.Positions |], dtype = torch.ScalarType.Int64)
                use b = torch.randint(int64 c.VocabSize, [| 2L; int64 c.Positions |], dtype = torch.ScalarType.Int64)
                let struct (logitsB, cacheB) = model.RunWithCache(b, [ HookPoints.ResidPre l ])
                use logitsB = logitsB
                use cacheB = cacheB
                use patched = model.RunWithHooks(a, hooks [ HookPoints.ResidPre l, (fun _ -> cacheB[HookPoints.ResidPre l]) ])
                maxAbsDiff patched logitsB < 1e-5)

        test "a hook that returns another shape is refused, naming the hook point" {
            use model = Gpt2.Random(Gpt2Config(1, 2, 8, 6, 11, 1e-5), 1)
            let e = Expect.throwsC (fun () -> (model.RunWithHooks(tokenTensor [| [| 1; 2 |] |], hooks [ HookPoints.ResidPre 0, (fun x -> x.sum(-1)) ])).Dispose()) id
            Expect.stringContains e.Message (HookPoints.ResidPre 0) "names the hook"
        }
        test "an unknown hook name is refused" {
            use model = Gpt2.Random(Gpt2Config(1, 2, 8, 6, 11, 1e-5, true), 1)
            let e = Expect.throwsC (fun () -> (model.RunWithHooks(tokenTensor [| [| 1 |] |], hooks [ HookPoints.MlpOut 0, id ])).Dispose()) id
            Expect.stringContains e.Message (HookPoints.MlpOut 0) "names it"
        }
        test "500 forwards with caching leave the number of live tensors unchanged" {
            use model = Gpt2.Random(Gpt2Config(2, 2, 8, 6, 11, 1e-5), 1)
            use tokens = tokenTensor [| [| 1; 2; 3; 4 |]; [| 5; 6; 7; 8 |] |]
            let stats = DisposeScopeManager.Statistics
            let run () =
                let struct (logits, cache) = model.RunWithCache(tokens)
                logits.Dispose()
                cache.Dispose()
            run ()
            let before = stats.ThreadTotalLiveCount
            for _ in 1 .. 500 do run ()
            Expect.equal stats.ThreadTotalLiveCount before "live tensors after 500 cached forwards"
        }
    ]
