namespace PatchDescent.Model.Toys;

/// <summary>Everything that makes a trained induction model: its shape, its data, and how it is trained.</summary>
public sealed record InductionRecipe(Gpt2Config Config, TriggerTask Task, TrainerOptions Options)
{
    /// <summary>
    /// The recipe of the shipped model: 2 layers with MLPs, d_model 32, 2 heads; vocabulary 32, 4 triggers,
    /// 32 tokens; batch 32, AdamW 3e-3. Scaled down from the pilot's (3 layers, d_model 64, batch 128) so that a
    /// run fits a shared 2-core machine; MODEL.md says what each choice gave.
    /// </summary>
    public static InductionRecipe Default { get; } = new(
        new Gpt2Config(2, 2, 32, 32, 32, 1e-5),
        TriggerTask.Create(vocab: 32, triggers: 4, seqLen: 32, bigramSeed: 0, bigramSharpness: 1.5, triggerRate: 0.25),
        new TrainerOptions(Steps: 6000, BatchSize: 32, LearningRate: 3e-3));

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
