namespace PatchDescent.Search.Tasks

open PatchDescent.Model
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
        // The model's own tokenizer, GPT-2's where no model is named.
        let generated generate =
            try
                use tokenizer = if System.String.IsNullOrEmpty modelDir then Tokenizer.Gpt2 else Tokenizer.ForModel modelDir
                Ok (generate tokenizer)
            with
            | Failure message -> Error $"{name request}: {message}"
            | :? ModelFormatException as e -> Error e.Message
        match request with
        | InductionPairs (size, seed) -> Induction.ofModelDir modelDir |> Result.map (fun spec -> Induction.generate spec size seed)
        | IoiPairs options -> generated (fun t -> Ioi.generate t options)
        | GreaterThanPairs options -> generated (fun t -> GreaterThan.generate t options)
