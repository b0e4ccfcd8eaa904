module PatchDescent.Tests.Tasks.SplitTests

open Expecto
open PatchDescent.Search.Tasks

[<Tests>]
let tests =
    testList "Split" [
        test "a prompt's split follows FNV-1a's published values: \"a\" hashes to 0xE40C292C (0 mod 5, held out), \"\" to 0x811C9DC5 (1 mod 5)" {
            Expect.equal (0xE40C292Cu % 5u, 0x811C9DC5u % 5u) (0u, 1u) "the residues"
            Expect.equal (Split.ofPrompt "a") Test "\"a\""
            Expect.equal (Split.ofPrompt "") Train "\"\""
        }
        test "about a fifth of prompts are held out" {
            let held = [ for i in 1 .. 5000 -> Split.ofPrompt $"prompt {i}" ] |> List.filter ((=) Test) |> List.length
            Expect.isTrue (held > 850 && held < 1150) $"{held} of 5000 held out"
        }
    ]
