module PatchDescent.Tests.Gpt2ConfigTests

open System.IO
open Expecto
open PatchDescent.Model
open PatchDescent.Tests.Fixtures

/// The fields of Hugging Face's gpt2 config.json (abridged), unknown ones included.
let private gpt2Json = """{
  "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
  "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
  "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12,
  "n_layer": 12, "n_positions": 1024, "resid_pdrop": 0.1, "summary_type": "cls_index",
  "task_specific_params": {"text-generation": {"do_sample": true, "max_length": 50}}, "vocab_size": 50257 }"""

let private loadText (text: string) =
    use dir = new TempDir()
    let path = dir.File "config.json"
    File.WriteAllText(path, text)
    Gpt2Config.Load path


[<Tests>]
let tests =
    testList "Gpt2Config" [
        test "reads Hugging Face's gpt2 config.json and ignores unknown fields" {
            let c = loadText gpt2Json
            Expect.equal c Gpt2Config.Gpt2Small "GPT-2 small"
            Expect.equal c.DHead 64 "d_head"
            Expect.equal c.DMlp 3072 "d_mlp"
        }
        test "a missing required field is an error naming it" {
            let text = gpt2Json.Replace("\"n_head\": 12,", "")
            let e = Expect.throwsC (fun () -> loadText text |> ignore) id
            Expect.stringContains e.Message "n_head" "names the field"
            Expect.stringContains e.Message "config.json" "names the file"
        }
        test "an activation other than gelu_new is refused" {
            let e = Expect.throwsC (fun () -> loadText (gpt2Json.Replace("gelu_new", "relu")) |> ignore) id
            Expect.stringContains e.Message "activation_function" "names the field"
        }
        test "n_embd not divisible by n_head is refused" {
            let e = Expect.throwsC (fun () -> loadText (gpt2Json.Replace("\"n_head\": 12", "\"n_head\": 7")) |> ignore) id
            Expect.stringContains e.Message "n_embd" "names the field"
        }
        test "a field of the wrong type names the field and what it must be" {
            for field, value, what in [ "n_layer", "\"12\"", "must be an integer"; "layer_norm_epsilon", "\"small\"", "must be a number"; "activation_function", "3", "must be a string" ] do
                let original = System.Text.RegularExpressions.Regex.Match(gpt2Json, $"\"{field}\": [^,]+").Value
                let e = Expect.throwsC (fun () -> loadText (gpt2Json.Replace(original, $"\"{field}\": {value}")) |> ignore) id
                Expect.stringContains e.Message $"'{field}': {what}, found {value}" $"names {field}"
        }
        test "an n_embd whose MLP width overflows an integer is refused naming n_embd" {
            let e = Expect.throwsC (fun () -> loadText (gpt2Json.Replace("\"n_embd\": 768", "\"n_embd\": 1000000008").Replace("\"n_head\": 12", "\"n_head\": 8")) |> ignore) id
            Expect.stringContains e.Message "'n_embd'" "names n_embd"
            Expect.isFalse (e.Message.Contains "n_inner") "not n_inner"
        }
        test "attn_only is read and round-trips through ToJson" {
            let c = Gpt2Config(2, 4, 32, 16, 64, 1e-5, true)
            Expect.equal (loadText (c.ToJson())) c "round trip"
        }
        test "text that is not JSON is an error naming the file" {
            let e = Expect.throwsC (fun () -> loadText "{ not json" |> ignore) id
            Expect.isTrue (e :? ModelFormatException) "ModelFormatException"
            Expect.stringContains e.Message "not valid JSON" "says why"
        }
    ]
