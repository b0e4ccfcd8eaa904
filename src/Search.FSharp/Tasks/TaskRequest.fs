namespace PatchDescent.Search.Tasks

open PatchDescent.Search

type TaskRequest =
    | InductionPairs of size: int * seed: int
    | IoiPairs of Ioi.Options
    | GreaterThanPairs of GreaterThan.Options

[<CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module TaskRequest =
    let name request =
        match request with
        | InductionPairs _ -> Induction.name
        | IoiPairs _ -> Ioi.name
        | GreaterThanPairs _ -> GreaterThan.name

    let metric request =
        match request with
        | InductionPairs _ -> Induction.metric
        | IoiPairs _ -> Ioi.metric
        | GreaterThanPairs _ -> GreaterThan.metric

    let resolve modelDir request =
        match request with
        | InductionPairs (size, seed) -> Induction.ofModelDir modelDir |> Result.map (fun spec -> Induction.generate spec size seed)
        | IoiPairs options -> Ok (Ioi.generate options)
        | GreaterThanPairs options -> Ok (GreaterThan.generate options)
