module PatchDescent.Tests.CommandLineTests

open Expecto
open PatchDescent.Cli
open PatchDescent.Search
open PatchDescent.Search.Tasks

let private usageError (argv: string list) =
    try
        CommandLine.parse (Array.ofList argv) |> ignore
        failtest $"expected a usage error for %A{argv}"
        ""
    with :? UsageException as e -> e.Message

let private discover argv =
    match CommandLine.parse (Array.ofList ("discover" :: argv)) with
    | Discover request -> request
    | other -> failtest $"expected discover, got %A{other}"

[<Tests>]
let tests =
    testList "CommandLine" [
        test "discover builds the experiment a script builds from Experiment.defaults" {
            let r = discover [ "--model"; "m"; "--data"; "d.jsonl"; "--out"; "o"; "--steps"; "50"; "--granularity"; "heads"; "--seed"; "7"; "--batch-size"; "4" ]
            let expected = Experiment.defaults "m" (JsonlFile "d.jsonl") "o" |> Experiment.withSteps 50
            let expected =
                { expected with
                    Granularity = Granularity.Heads
                    Train = { expected.Train with Seed = 7 }
                    BatchSize = 4 }
            Expect.equal r.Experiment expected "experiment"
            Expect.isNone r.Seeds "one seed"
        }
        test "discover's defaults are Experiment.defaults" {
            let r = discover [ "--model"; "m"; "--data"; "d.jsonl"; "--out"; "o" ]
            Expect.equal r.Experiment (Experiment.defaults "m" (JsonlFile "d.jsonl") "o") "defaults"
        }
        test "evaluate and compare take --device, --dtype and --strict-fp32 as discover does, defaulting to Compute.auto" {
            let given = { Device = "cpu"; Precision = Precision.BFloat16; StrictFp32 = true }
            let options = [ "--device"; "cpu"; "--dtype"; "bfloat16"; "--strict-fp32" ]
            let evaluate extra =
                match CommandLine.parse (Array.ofList ([ "evaluate"; "--model"; "m"; "--circuit"; "c.json"; "--data"; "d" ] @ extra)) with
                | Evaluate r -> r.Compute
                | other -> failtest $"expected evaluate, got %A{other}"
            let compare extra =
                match CommandLine.parse (Array.ofList ([ "compare"; "--model"; "m"; "--data"; "d"; "--out"; "o" ] @ extra)) with
                | Compare r -> r.Experiment.Compute
                | other -> failtest $"expected compare, got %A{other}"
            Expect.equal (evaluate options) given "evaluate"
            Expect.equal (compare options) given "compare"
            Expect.equal (evaluate []) Compute.auto "evaluate's default"
            Expect.equal (compare []) Compute.auto "compare's default"
        }
        test "an integer option beyond int's range gives the range" {
            for option in [ "--seed"; "--steps" ] do
                let message = usageError [ "discover"; "--model"; "m"; "--data"; "d"; "--out"; "o"; option; "99999999999" ]
                Expect.equal message $"{option} must be an integer from -2147483648 to 2147483647, got 99999999999" option
        }
        test "--seeds gives the seed list; with --seed, or with one seed, or a repeated one, it is refused" {
            let base' = [ "--model"; "m"; "--data"; "d"; "--out"; "o" ]
            Expect.equal (discover (base' @ [ "--seeds"; "1, 2,3" ])).Seeds (Some [ 1; 2; 3 ]) "seeds"
            Expect.stringContains (usageError ("discover" :: base' @ [ "--seeds"; "1,2"; "--seed"; "3" ])) "not both" "both"
            Expect.stringContains (usageError ("discover" :: base' @ [ "--seeds"; "1" ])) "at least two" "one seed"
            Expect.stringContains (usageError ("discover" :: base' @ [ "--seeds"; "1,1" ])) "at least two different" "repeated"
            Expect.stringContains (usageError ("discover" :: base' @ [ "--seeds"; "1,x" ])) "integers" "not a number"
        }
        test "toy train-induction changes only what it is given of the default recipe" {
            let d = PatchDescent.Toys.InductionRecipe.Default
            match CommandLine.parse [| "toy"; "train-induction"; "--out"; "m"; "--seed"; "3"; "--steps"; "10"; "--mlp"; "--head-sparsity"; "0" |] with
            | Toy(ToyRequest.TrainInduction r) ->
                Expect.equal r.OutDir "m" "out"
                Expect.equal (r.Recipe.Options.Seed, r.Recipe.Options.Steps) (3, 10) "seed and steps"
                Expect.equal r.Recipe.Options.BatchSize d.Options.BatchSize "batch size from the recipe"
                Expect.isFalse r.Recipe.Config.AttnOnly "--mlp gives blocks with MLPs"
                Expect.equal r.Recipe.Options.HeadSparsity 0.0 "no head pressure"
                Expect.equal r.Recipe.Options.HeadSparsityFrom d.Options.HeadSparsityFrom "its start from the recipe"
                Expect.equal r.Recipe.Task d.Task "the recipe's task"
            | other -> failtest $"expected toy train-induction, got %A{other}"
            match CommandLine.parse [| "toy"; "train-induction"; "--out"; "m" |] with
            | Toy(ToyRequest.TrainInduction r) ->
                Expect.equal r.Recipe.Config d.Config "the recipe's shape"
                Expect.equal (r.Recipe.Options.HeadSparsity, r.Recipe.Options.HeadSparsityFrom) (d.Options.HeadSparsity, d.Options.HeadSparsityFrom) "the recipe's head pressure"
            | other -> failtest $"expected toy train-induction, got %A{other}"
            Expect.stringContains (usageError [ "toy"; "train-induction"; "--out"; "m"; "--heads"; "3" ]) "multiple" "d_model / heads"
            Expect.stringContains (usageError [ "toy"; "train-induction"; "--out"; "m"; "--mlp"; "--attn-only" ]) "contradict" "both block kinds"
            Expect.stringContains (usageError [ "toy"; "train-induction"; "--out"; "m"; "--head-sparsity"; "-1" ]) "--head-sparsity" "negative pressure"
        }
        test "toy train-induction's task options make the task and fit the model to it" {
            match CommandLine.parse [| "toy"; "train-induction"; "--out"; "m"; "--vocab"; "64"; "--triggers"; "6"; "--seq-len"; "64"; "--trigger-rate"; "0.5" |] with
            | Toy(ToyRequest.TrainInduction r) ->
                let t = r.Recipe.Task
                Expect.equal (t.Vocab, t.Triggers.Count, t.SeqLen, t.TriggerRate) (64, 6, 64, 0.5) "task"
                Expect.equal (r.Recipe.Config.VocabSize, r.Recipe.Config.Positions) (64, 64) "the model's vocabulary and positions"
                r.Recipe.Validate() |> ignore
            | other -> failtest $"expected toy train-induction, got %A{other}"
            Expect.stringContains (usageError [ "toy"; "train-induction"; "--out"; "m"; "--trigger-rate"; "1.5" ]) "--trigger-rate" "rate above 1"
        }
        test "toy validate trains the default recipe once per seed" {
            match CommandLine.parse [| "toy"; "validate"; "--seeds"; "1,2,3" |] with
            | Toy(ToyRequest.Validate r) ->
                Expect.equal [ for s, recipe in r.Recipes -> s, recipe.Options.Seed ] [ 1, 1; 2, 2; 3, 3 ] "seeds"
                Expect.equal r.OutDir "out/validate" "default folder"
            | other -> failtest $"expected toy validate, got %A{other}"
        }
        test "--method picks the method, with --ig-steps and --acdc-tau for the methods that take them" {
            let base' = [ "--model"; "m"; "--data"; "d"; "--out"; "o" ]
            Expect.equal (discover base').Experiment.Method Descent "descent by default"
            Expect.equal (discover (base' @ [ "--method"; "eap" ])).Experiment.Method Eap "eap"
            Expect.equal (discover (base' @ [ "--method"; "eap-ig" ])).Experiment.Method (EapIg Method.defaultIgSteps) "eap-ig default steps"
            Expect.equal (discover (base' @ [ "--method"; "eap-ig"; "--ig-steps"; "8" ])).Experiment.Method (EapIg 8) "eap-ig 8 steps"
            Expect.equal (discover (base' @ [ "--method"; "acdc"; "--acdc-tau"; "0.5" ])).Experiment.Method (Acdc 0.5) "acdc tau"
            Expect.stringContains (usageError ("discover" :: base' @ [ "--ig-steps"; "8" ])) "eap-ig only" "steps without eap-ig"
            Expect.stringContains (usageError ("discover" :: base' @ [ "--method"; "acdc"; "--acdc-tau"; "-1" ])) "--acdc-tau" "negative tau"
            Expect.stringContains (usageError ("discover" :: base' @ [ "--method"; "eap"; "--seeds"; "1,2" ])) "descent only" "seeds of a baseline"
        }
        test "compare shares one experiment among the methods, in the order given, all four by default" {
            let compare argv =
                match CommandLine.parse (Array.ofList ("compare" :: argv)) with
                | Compare request -> request
                | other -> failtest $"expected compare, got %A{other}"
            let base' = [ "--model"; "m"; "--data"; "d.jsonl"; "--out"; "o" ]
            let all = compare base'
            Expect.equal all.Methods [ Descent; Eap; EapIg Method.defaultIgSteps; Acdc Method.defaultAcdcTau ] "default methods"
            Expect.equal all.Experiment (Experiment.defaults "m" (JsonlFile "d.jsonl") "o") "the shared experiment"
            let some = compare (base' @ [ "--methods"; "acdc, eap-ig"; "--ig-steps"; "3"; "--acdc-tau"; "0.1"; "--steps"; "40" ])
            Expect.equal some.Methods [ Acdc 0.1; EapIg 3 ] "methods in order"
            Expect.equal some.Experiment.Train.Steps 40 "descent's steps"
            let floored = compare (base' @ [ "--methods"; "descent,prune"; "--prune-floor"; "0.8" ])
            Expect.equal floored.Methods [ Descent; Prune 0.8 ] "prune's floor"
            Expect.equal floored.Experiment.Refine (PruneRefinement 0.8) "and descent's refinement's"
            Expect.stringContains (usageError ("compare" :: base' @ [ "--methods"; "eap,ppo" ])) "'ppo'" "unknown method"
            Expect.stringContains (usageError ("compare" :: base' @ [ "--methods"; "eap,eap" ])) "twice" "repeated method"
        }
        test "missing, unknown and out-of-range options are usage errors that name the option" {
            Expect.stringContains (usageError [ "discover"; "--model"; "m"; "--out"; "o" ]) "--data" "missing"
            Expect.stringContains (usageError [ "info"; "--model"; "m"; "--bogus" ]) "--bogus" "unknown"
            Expect.stringContains (usageError [ "discover"; "--model"; "m"; "--data"; "d"; "--out"; "o"; "--steps"; "0" ]) "--steps" "range"
            Expect.stringContains (usageError [ "discover"; "--model"; "m"; "--data"; "d"; "--out"; "o"; "--granularity"; "edges" ]) "--granularity" "choice"
            Expect.stringContains (usageError [ "frobnicate" ]) "frobnicate" "unknown verb"
        }
        test "generate takes exactly one of --prompt and --prompt-ids" {
            match CommandLine.parse [| "generate"; "--model"; "m"; "--prompt-ids"; "1,2,3"; "--dtype"; "bfloat16" |] with
            | Generate g ->
                Expect.equal g.Prompt (TokenIds [| 1; 2; 3 |]) "ids"
                Expect.equal (g.Tokens, g.Device, g.DType) (20, "auto", "bfloat16") "defaults and dtype"
            | other -> failtest $"%A{other}"
            Expect.stringContains (usageError [ "generate"; "--model"; "m" ]) "exactly one" "neither"
            Expect.stringContains (usageError [ "generate"; "--model"; "m"; "--prompt"; "a"; "--prompt-ids"; "1" ]) "exactly one" "both"
        }
        test "no arguments and --help are help, not errors" {
            for argv in [ [||]; [| "--help" |]; [| "discover"; "--help" |] ] do
                match CommandLine.parse argv with
                | Help text -> Expect.stringContains text "USAGE" $"help for %A{argv}"
                | other -> failtest $"%A{other}"
        }
        test "evaluate reads its ablation and --json" {
            match CommandLine.parse [| "evaluate"; "--model"; "m"; "--circuit"; "c.json"; "--data"; "d"; "--ablation"; "zero"; "--json" |] with
            | Evaluate e ->
                Expect.equal (e.Ablation, e.AblationName, e.Json, e.Data) (AblationChoice.Zero, "zero", true, JsonlFile "d") "evaluate"
            | other -> failtest $"%A{other}"
            match CommandLine.parse [| "evaluate"; "--model"; "m"; "--circuit"; "c.json"; "--data"; "d"; "--ablation"; "mean"; "--mean-data"; "ref.jsonl" |] with
            | Evaluate e -> Expect.equal e.Ablation (AblationChoice.Mean(Some(JsonlFile "ref.jsonl"))) "mean over a reference file"
            | other -> failtest $"%A{other}"
            let refused = usageError [ "evaluate"; "--model"; "m"; "--circuit"; "c"; "--data"; "d"; "--mean-data"; "ref.jsonl" ]
            Expect.stringContains refused "--mean-data is the reference of --ablation mean, not of --ablation patching" "a reference without mean"
        }
        test "discover reads ablation, loss, target edges, per-point runs and checkpoints into the experiment" {
            let base' = [ "--model"; "m"; "--data"; "d.jsonl"; "--out"; "o"; "--steps"; "200" ]
            let r =
                discover (base' @ [ "--ablation"; "mean"; "--loss"; "logit-diff"; "--target-edges"; "12"; "--per-point-runs"
                                    "--checkpoint-every"; "25"; "--resume" ])
            let d = Experiment.defaults "m" (JsonlFile "d.jsonl") "o" |> Experiment.withSteps 200
            let expected =
                { d with
                    Ablation = AblationChoice.Mean None
                    Train = { d.Train with Loss = Loss.logitDiff }
                    TargetEdges = Some 12
                    CurveMode = PerPointRuns
                    Checkpoint = Some { Every = 25; Resume = true } }
            Expect.equal r.Experiment expected "experiment"
            Expect.equal (discover (base' @ [ "--resume" ])).Experiment.Checkpoint (Some { Every = 20; Resume = true }) "a resume checkpoints every 10% of the steps"
            Expect.equal (discover (base' @ [ "--loss"; "cross-entropy" ])).Experiment.Train.Loss Loss.crossEntropy "cross-entropy"
            Expect.stringContains (usageError ("discover" :: base' @ [ "--checkpoint-every"; "0" ])) "--checkpoint-every" "range"
            Expect.stringContains (usageError ("discover" :: base' @ [ "--target-edges"; "-1" ])) "--target-edges" "range"
            Expect.stringContains (usageError ("discover" :: base' @ [ "--target-edges"; "0" ])) "--target-edges must be at least 1" "no edge is no circuit"
            let swap = discover (base' @ [ "--refine"; "swap"; "--prune-floor"; "0.8"; "--refine-trials"; "50" ])
            Expect.equal (swap.Experiment.Refine, swap.Experiment.RefineTrials) (SwapRefinement 0.8, Some 50) "refinement, floor and trials"
            Expect.equal (discover (base' @ [ "--refine"; "none" ])).Experiment.Refine NoRefinement "no refinement"
            Expect.stringContains (usageError ("discover" :: base' @ [ "--method"; "prune"; "--prune-floor"; "1.5" ])) "--prune-floor must lie in (0, 1]" "the floor's range"
            Expect.stringContains (usageError ("discover" :: base' @ [ "--method"; "eap"; "--prune-floor"; "0.9" ])) "--prune-floor applies to prune and to descent's refinement only" "a floor without prune"
            Expect.stringContains (usageError ("discover" :: base' @ [ "--loss"; "l2" ])) "--loss" "choice"
        }
        test "--metric on discover, compare and evaluate names the metric to score with" {
            let r = discover [ "--model"; "m"; "--data"; "d.jsonl"; "--out"; "o"; "--metric"; "answer-logit" ]
            Expect.equal r.Experiment.Metric (Some Metric.AnswerLogit) "discover"
            Expect.equal (discover [ "--model"; "m"; "--data"; "d.jsonl"; "--out"; "o" ]).Experiment.Metric None "none asked: the data's"
            match CommandLine.parse [| "compare"; "--model"; "m"; "--data"; "d.jsonl"; "--out"; "o"; "--metric"; "prob-diff" |] with
            | Invocation.Compare c -> Expect.equal c.Experiment.Metric (Some Metric.PairProbDiff) "compare: each pair's thresholds"
            | other -> failtest $"%A{other}"
            match CommandLine.parse [| "evaluate"; "--model"; "m"; "--circuit"; "c.json"; "--data"; "d.jsonl"; "--metric"; "logit-diff" |] with
            | Invocation.Evaluate e -> Expect.equal e.Metric (Some Metric.LogitDiff) "evaluate"
            | other -> failtest $"%A{other}"
            Expect.stringContains (usageError [ "discover"; "--model"; "m"; "--data"; "d"; "--out"; "o"; "--metric"; "kl" ]) "--metric" "an unknown metric"
        }
        test "discover --task ioi --pairs N trains on the IOI generator's train split, seeded by --seed, and scores with the logit difference" {
            let r = discover [ "--model"; "m"; "--task"; "ioi"; "--pairs"; "20"; "--seed"; "3"; "--out"; "o" ]
            let expected = IoiPairs { Ioi.defaults with Size = 20; Seed = 3; Split = Split.Train }
            Expect.equal r.Experiment.Data (Task expected) "data: a request, resolved by the run"
            Expect.equal (TaskRequest.resolve "" expected) (Ok (Ioi.generate PatchDescent.Model.Tokenizer.Gpt2 { Ioi.defaults with Size = 20; Seed = 3; Split = Split.Train })) "which gives the generator's pairs"
            Expect.equal (r.Experiment.Metric, TaskRequest.metric expected) (None, Metric.LogitDiff) "metric: the task's"
            Expect.equal r.Experiment.Train.Steps (Experiment.defaults "m" (Task expected) "o").Train.Steps "the rest as for --data"
        }
        test "evaluate --task greater-than draws the held-out split unless told otherwise, and scores with the per-pair prob_diff" {
            let evaluate argv =
                match CommandLine.parse (Array.ofList ([ "evaluate"; "--model"; "m"; "--circuit"; "c.json"; "--task"; "greater-than" ] @ argv)) with
                | Evaluate e -> e
                | other -> failtest $"%A{other}"
            let split s = Task(GreaterThanPairs { GreaterThan.defaults with Size = 128; Split = s })
            Expect.equal (evaluate []).Data (split Split.Test) "test split"
            Expect.equal (TaskRequest.metric (GreaterThanPairs GreaterThan.defaults)) Metric.PairProbDiff "scored with prob_diff"
            Expect.equal (evaluate [ "--split"; "train" ]).Data (split Split.Train) "train split"
        }
        test "evaluate takes --data or --task, --pairs/--seed/--split only with --task; data refuses options a task lacks" {
            let base' = [ "evaluate"; "--model"; "m"; "--circuit"; "c" ]
            Expect.stringContains (usageError (base' @ [ "--data"; "d"; "--task"; "ioi" ])) "one of them" "both"
            Expect.stringContains (usageError (base' @ [ "--data"; "d"; "--split"; "test" ])) "go with --task" "--split"
            Expect.stringContains (usageError (base' @ [ "--task"; "ioi"; "--pairs"; "0" ])) "--pairs" "range"
            Expect.stringContains (usageError [ "data"; "greater-than"; "--out"; "f"; "--corruption"; "abc" ]) "IOI's" "IOI only"
            Expect.stringContains (usageError [ "data"; "induction"; "--out"; "f" ]) "--model" "induction needs its model"
        }
        test "data ioi --model names the model whose tokenizer writes the prompts" {
            match CommandLine.parse [| "data"; "ioi"; "--out"; "f.jsonl"; "--model"; "m" |] with
            | Invocation.Data d -> Expect.equal d.ModelDir "m" "the model"
            | other -> failtest $"%A{other}"
        }
        test "data reads the task, the IOI options and the split" {
            match CommandLine.parse [| "data"; "ioi"; "--pairs"; "7"; "--seed"; "3"; "--out"; "f.jsonl"; "--split"; "test"; "--corruption"; "s2-io"; "--prompt-type"; "abba"; "--bos" |] with
            | Invocation.Data d ->
                Expect.equal d.Request (IoiPairs { Size = 7; Seed = 3; Split = Split.Test; Bos = true; Corruption = Ioi.S2Io; PromptType = Ioi.Abba }) "task and settings"
                Expect.equal d.OutFile "f.jsonl" "out"
            | other -> failtest $"%A{other}"
            Expect.stringContains (usageError [ "data"; "--out"; "f" ]) "ioi|greater-than" "task missing"
            match CommandLine.parse [| "data"; "induction"; "--model"; "m"; "--out"; "f.jsonl" |] with
            | Invocation.Data d -> Expect.equal (d.Request, d.ModelDir) (InductionPairs(128, 1), "m") "induction reads its model's task.json"
            | other -> failtest $"%A{other}"
            match CommandLine.parse [| "data"; "greater-than"; "--n"; "9"; "--out"; "f.jsonl" |] with
            | Invocation.Data d -> Expect.equal d.Request (GreaterThanPairs { GreaterThan.defaults with Size = 9; Split = Split.Train }) "--n is --pairs"
            | other -> failtest $"%A{other}"
        }
    ]
