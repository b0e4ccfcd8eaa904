module PatchDescent.Tests.TokenizerTests

open Expecto
open FsCheck
open FsCheck.FSharp
open PatchDescent.Model

let private gpt2 = Tokenizer.Gpt2

/// Strings of arbitrary Unicode scalar values (no lone surrogates, which no UTF-8 text can hold).
let private unicodeText =
    Gen.choose (0, 0x10FFFF)
    |> Gen.filter (fun c -> c < 0xD800 || c > 0xDFFF)
    |> Gen.map System.Char.ConvertFromUtf32
    |> Gen.listOf
    |> Gen.map (String.concat "")
    |> Arb.fromGen

[<Tests>]
let tests =
    testList "GPT-2 tokenizer" [
        test "\"Hello world\" is [15496, 995]" {
            Expect.sequenceEqual (gpt2.Encode "Hello world") [| 15496; 995 |] "ids"
        }
        test "\" Mary\" is one token, 5335" {
            Expect.sequenceEqual (gpt2.Encode " Mary") [| 5335 |] "ids"
        }
        test "<|endoftext|> decodes from id 50256" {
            Expect.equal (gpt2.Decode [ Tokenizer.EndOfText ]) "<|endoftext|>" "special token"
        }
        testProperty "decode (encode s) = s for arbitrary Unicode text" <|
            Prop.forAll unicodeText (fun s -> gpt2.Decode(gpt2.Encode s) = s)
    ]
