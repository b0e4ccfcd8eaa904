/// `patchdescent data`: write a task's generated pairs as JSONL, to inspect or reuse.
namespace PatchDescent.Cli

open Argu
open PatchDescent.Search.Tasks

/// The options of `data`.
type DataArguments =
    | [<MainCommand; ExactlyOnce; First>] Task of TaskName
    | [<Mandatory; Unique>] Out of file: string
    | [<Unique>] Model of dir: string
    | [<Unique; AltCommandLine("--n")>] Pairs of count: int
    | [<Unique>] Seed of int
    | [<Unique>] Split of SplitName
    | [<Unique>] Corruption of CorruptionName
    | [<Unique>] Prompt_Type of PromptTypeName
    | Bos

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Task _ -> "the task"
            | Out _ -> "the JSONL file to write, one pair a line: IOI and greater-than with their text beside the token ids, induction ids only (written whole or not at all)"
            | Model _ -> "induction: the model folder whose task.json describes the sequences; IOI and greater-than: the model whose tokenizer (tokenizer.json) writes the prompts (default GPT-2's)"
            | Pairs _ -> "number of pairs (default 128)"
            | Seed _ -> "the data seed (default 1)"
            | Split _ -> "train (the default) or test: held-out prompts, never in train"
            | Corruption _ -> "IOI: abc (IO, S1, S2 all new names; the default), s2-random or s2-io"
            | Prompt_Type _ -> "IOI: abba, baba or mixed (the default)"
            | Bos -> "prepend the tokenizer's BOS (GPT-2's <|endoftext|>) to every prompt (default none, as ACDC)"

/// What `data` was asked: the task, how to generate it (induction: on which model's task.json; IOI and greater-than:
/// with which model's tokenizer, "" for GPT-2's), and where to write it.
type DataRequest = { Request: TaskRequest; ModelDir: string; OutFile: string }

/// Reading `data`'s options.
module DataArguments =
    /// The request the parsed options describe.
    let request (r: ParseResults<DataArguments>) =
        let d = TaskChoice.defaults
        let task = r.GetResult Task
        let settings =
            { Size = r.GetResult(Pairs, defaultValue = d.Size) |> Choices.atLeast "data" "--pairs" 1
              Seed = r.GetResult(Seed, defaultValue = d.Seed)
              Split = r.GetResult(Split, defaultValue = d.Split)
              Bos = r.Contains Bos
              Corruption = r.TryGetResult Corruption
              PromptType = r.TryGetResult Prompt_Type }
        let modelDir =
            match task, r.TryGetResult Model with
            | Induction, None -> raise (UsageException "data: induction needs --model DIR, the folder whose task.json describes its sequences")
            | _, Some dir -> dir
            | _, None -> ""
        { Request = TaskChoice.request task (TaskChoice.check "data" task settings); ModelDir = modelDir; OutFile = r.GetResult Out }
