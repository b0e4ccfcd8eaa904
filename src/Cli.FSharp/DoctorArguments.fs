/// `patchdescent doctor`: which libtorch this process runs, whether it sees CUDA, and the GPUs.
namespace PatchDescent.Cli

open Argu

/// The options of `doctor`.
type DoctorArguments =
    | [<Unique>] Device of DeviceName

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Device _ -> "the device to try a matrix product and its backward on (default auto: CUDA when present)"

/// What `doctor` was asked.
type DoctorRequest = { Device: string }

/// Reading `doctor`'s options.
module DoctorArguments =
    /// The request the parsed options describe.
    let request (r: ParseResults<DoctorArguments>) =
        { Device = Choices.device (r.GetResult(DoctorArguments.Device, defaultValue = Auto)) }
