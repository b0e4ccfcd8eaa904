/// `patchdescent info`: check that a checkpoint loads and print its card.
namespace PatchDescent.Cli

open Argu

/// The options of `info`.
type InfoArguments =
    | [<Mandatory; Unique>] Model of dir: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Model _ -> SharedUsage.model

/// What `info` was asked.
type InfoRequest = { ModelDir: string }

/// Reading `info`'s options.
module InfoArguments =
    /// The request the parsed options describe.
    let request (r: ParseResults<InfoArguments>) = { ModelDir = r.GetResult InfoArguments.Model }
