/// `patchdescent toy`: the small models with known circuits that PatchDescent builds and ships.
namespace PatchDescent.Cli

open Argu

/// The verbs of `toy`.
[<RequireQualifiedAccess>]
type ToyArguments =
    | [<CliPrefix(CliPrefix.None); SubCommand>] Train_Induction of ParseResults<TrainInductionArguments>
    | [<CliPrefix(CliPrefix.None); SubCommand>] Check of ParseResults<ToyCheckArguments>
    | [<CliPrefix(CliPrefix.None); SubCommand>] Validate of ParseResults<ToyValidateArguments>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Train_Induction _ -> "train a GPT-2 on the trigger task (Bietti et al. 2023), deterministically on the CPU"
            | Check _ -> "the mechanism check of a trigger-task model: head scores, losses, ablations"
            | Validate _ -> "train the recipe with several seeds and run the whole check on each"

/// What `toy` was asked.
type ToyRequest =
    | TrainInduction of TrainInductionRequest
    | Check of ToyCheckRequest
    | Validate of ToyValidateRequest

/// Reading `toy`'s options.
module ToyArguments =
    /// The request of the sub-verb given.
    let request (r: ParseResults<ToyArguments>) =
        match r.GetSubCommand() with
        | ToyArguments.Train_Induction t -> TrainInduction(TrainInductionArguments.request t)
        | ToyArguments.Check c -> Check(ToyCheckArguments.request c)
        | ToyArguments.Validate v -> Validate(ToyValidateArguments.request v)
