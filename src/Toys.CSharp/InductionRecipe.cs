using PatchDescent.Model;
using PatchDescent.Search.Tasks;

namespace PatchDescent.Toys;

/// <summary>Everything that makes a trained induction model: its shape, its data, and how it is trained.</summary>
public sealed record InductionRecipe(Gpt2Config Config, TriggerTask Task, TrainerOptions Options)
{
    /// <summary>
    /// The recipe of the shipped attention-only model (models/induction-trigger-attn-2l4h): 2 layers without MLPs,
    /// d_model 128, 4 heads; vocabulary 64, 6 triggers, 64 tokens; 10,000 steps of batch 64, AdamW 3e-3, and from
    /// step 5,000, once the induction mechanism has formed, a head pressure of 0.3 that leaves one previous-token and
    /// one induction head instead of redundant copies. MODEL.md says what each choice gave.
    /// </summary>
    public static InductionRecipe Default { get; } = new(
        new Gpt2Config(2, 4, 128, 64, 64, 1e-5, AttnOnly: true),
        TriggerTask.Create(vocab: 64, triggers: 6, seqLen: 64, bigramSeed: 0, bigramSharpness: 1.5, triggerRate: 0.25),
        new TrainerOptions(Steps: 10000, BatchSize: 64, LearningRate: 3e-3, HeadSparsity: 0.3, HeadSparsityFrom: 5000));

    /// <summary>Checks that the task fits the model: the same vocabulary, and sequences no longer than its positions.</summary>
    public InductionRecipe Validate()
    {
        if (Task.Vocab != Config.VocabSize)
            throw new ArgumentException($"the task's vocabulary ({Task.Vocab}) differs from the model's ({Config.VocabSize})");
        if (Task.SeqLen > Config.Positions)
            throw new ArgumentException($"the task's {Task.SeqLen}-token sequences exceed the model's {Config.Positions} positions");
        return this;
    }

    /// <summary>Initialises a model with the options' seed and trains it (<see cref="Trainer.Train"/>).</summary>
    public Gpt2 Train(Action<TrainLog> onLog)
    {
        Validate();
        var model = Trainer.Initialize(Config, Options.Seed);
        try
        {
            Trainer.Train(model, Task, Options, onLog);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Writes config.json, model.safetensors (the recipe in its metadata) and task.json into <paramref name="dir"/>.</summary>
    public void Save(Gpt2 model, string dir)
    {
        Checkpoint.Save(model, dir, new Dictionary<string, string> { ["patchdescent"] = $"trigger-task induction model, {Options}" });
        Task.Save(dir);
    }
}
