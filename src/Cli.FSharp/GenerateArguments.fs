/// `patchdescent generate`: a greedy continuation of a prompt.
namespace PatchDescent.Cli

open Argu

/// The options of `generate`.
type GenerateArguments =
    | [<Mandatory; Unique>] Model of dir: string
    | [<Unique>] Prompt of text: string
    | [<Unique>] Prompt_Ids of ids: string
    | [<Unique>] Tokens of count: int
    | Ids
    | [<Unique>] Device of DeviceName
    | [<Unique>] Dtype of DTypeName

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Model _ -> SharedUsage.model
            | Prompt _ -> "the prompt as text (GPT-2's tokenizer, no BOS)"
            | Prompt_Ids _ -> "the prompt as token ids, comma-separated"
            | Tokens _ -> "how many tokens to add (default 20)"
            | Ids -> "also print the generated token ids"
            | Device _ -> SharedUsage.device
            | Dtype _ -> SharedUsage.dtype

/// The prompt, as text or as ids.
type PromptInput =
    | Text of string
    | TokenIds of int[]

/// What `generate` was asked.
type GenerateRequest =
    { ModelDir: string; Prompt: PromptInput; Tokens: int; PrintIds: bool; Device: string; DType: string }

/// Reading `generate`'s options.
module GenerateArguments =
    /// The request the parsed options describe; exactly one of --prompt and --prompt-ids.
    let request (r: ParseResults<GenerateArguments>) =
        let prompt =
            match r.TryGetResult GenerateArguments.Prompt, r.TryGetResult Prompt_Ids with
            | Some text, None -> Text text
            | None, Some ids ->
                match Choices.integers "generate" "--prompt-ids" ids with
                | [] -> raise (UsageException "generate: the prompt has no tokens")
                | ids -> TokenIds(Array.ofList ids)
            | _ -> raise (UsageException "generate: give exactly one of --prompt and --prompt-ids")
        { ModelDir = r.GetResult GenerateArguments.Model
          Prompt = prompt
          Tokens = r.GetResult(Tokens, defaultValue = 20) |> Choices.atLeast "generate" "--tokens" 0
          PrintIds = r.Contains Ids
          Device = Choices.device (r.GetResult(GenerateArguments.Device, defaultValue = Auto))
          DType = Choices.dtype (r.GetResult(GenerateArguments.Dtype, defaultValue = Float32)) }
