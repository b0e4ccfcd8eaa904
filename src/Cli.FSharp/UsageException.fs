namespace PatchDescent.Cli

open System

/// A command line the user got wrong: the host prints the message without a stack trace and exits with 2.
type UsageException(message: string) =
    inherit Exception(message)
