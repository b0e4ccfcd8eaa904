module PatchDescent.Tests.InductionAcceptanceTests

open System.IO
open Expecto
open PatchDescent.Model
open PatchDescent.Search.Tasks
open PatchDescent.Toys
open PatchDescent.Search
open PatchDescent.Tests.Fixtures

let private modelDir name =
    Path.GetFullPath(Path.Combine(System.AppContext.BaseDirectory, "../../../../models", name))

/// The trained attention-only induction model the repository ships, on which the acceptance is held.
let shippedModel = modelDir "induction-trigger-attn-2l4h"

[<Tests>]
let tests =
    testList "InductionAcceptance" [
        test "the shipped attention-only model: clean heads, p -> i<k> among discovery's top 3, and at 10% of the edges faithfulness >= 0.8 and KL <= 0.1" {
            let task = TriggerTask.Load(Path.Combine(shippedModel, "task.json"))
            use model = Checkpoint.Load shippedModel
            use dir = new TempDir()
            let report = InductionAcceptance.run model task (InductionAcceptance.experiment shippedModel task (dir.File "out"))
            Expect.isTrue (InductionAcceptance.passes report) (String.concat "\n" (InductionAcceptance.lines report))
        }

        for name in [ "induction-trigger-attn-2l4h"; "induction-trigger-2l4h" ] do
            test $"{name}: the mechanism check gives the figures MODEL.md records" {
                let dir = modelDir name
                let task = TriggerTask.Load(Path.Combine(dir, "task.json"))
                use model = Checkpoint.Load dir
                let report = InductionCheck.Run(model, task)
                let recorded = File.ReadAllText(Path.Combine(dir, "MODEL.md"))
                for line in report.Lines() do
                    Expect.stringContains recorded line "MODEL.md records the check as it runs today"
            }
    ]
