using PatchDescent.Cli;
using PatchDescent.Toys;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent toy compile-induction|train-induction|check|validate`: the small models whose circuits are known.</summary>
public static class Toy
{
    /// <summary>Runs the subcommand asked for.</summary>
    public static int Run(ToyRequest request) => request switch
    {
        ToyRequest.CompileInduction compile => Compile(compile.outDir, compile.seed, compile.force),
        ToyRequest.TrainInduction train => TrainInduction.Run(train.Item),
        ToyRequest.Check check => ToyCheck.Run(check.Item),
        ToyRequest.Validate validate => ToyValidate.Run(validate.Item),
        _ => throw new InvalidOperationException($"the host has no command for {request}"),
    };

    static int Compile(string outDir, int seed, bool force)
    {
        CompiledInduction.Write(outDir, seed, force);
        Console.WriteLine($"wrote the compiled induction model (seed {seed}) to {outDir}: config.json, model.safetensors, task.json, MODEL.md");
        Console.WriteLine($"its circuit: {string.Join(", ", CompiledInduction.CircuitEdges)}");
        return 0;
    }
}
