/// `patchdescent toy check`: the mechanism check of a trigger-task model, and optionally the discovery acceptance.
namespace PatchDescent.Cli

open Argu

/// The options of `toy check`.
type ToyCheckArguments =
    | [<Mandatory; Unique>] Model of dir: string
    | [<Unique>] Acceptance

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Model _ -> "a model folder with a task.json of kind trigger"
            | Acceptance -> "also run discovery and check that it finds the previous-token -> induction key edge"

/// What `toy check` was asked.
type ToyCheckRequest = { ModelDir: string; Acceptance: bool }

/// Reading `toy check`'s options.
module ToyCheckArguments =
    /// The request the parsed options describe.
    let request (r: ParseResults<ToyCheckArguments>) = { ModelDir = r.GetResult Model; Acceptance = r.Contains Acceptance }
