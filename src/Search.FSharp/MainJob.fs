module PatchDescent.Search.MainJob

open System.IO
open PatchDescent.Search.Tasks

let modelDir root = Path.Combine(root, "models", "induction-trigger-attn-2l4h")

let experiment modelDir outDir steps =
    let spec = Induction.ofModelDir modelDir |> Result.defaultWith failwith
    { Experiment.defaults modelDir (Pairs(Induction.generate spec 128 1)) outDir with
        Metric = Some Induction.metric
        BatchSize = 32
        Levels = [ 0.02; 0.05; 0.1; 0.2; 0.5; 1.0 ] }
    |> Experiment.withSteps steps
    // The textbook circuit has 5 to 8 of the 81 edges: aim at 90% sparsity, reached halfway, and hold it for the
    // second half.
    |> fun e -> { e with Train = { e.Train with Sparsity = TargetLagrangian({ Start = 0.0; End = 0.9; WarmupSteps = 0; AnnealSteps = steps / 2 }, 0.5) } }
