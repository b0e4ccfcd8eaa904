using PatchDescent.Cli;
using PatchDescent.Model.Toys;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent toy compile-induction --out DIR [--seed S]`: the small models whose circuits are known.</summary>
public static class Toy
{
    /// <summary>Runs the verb.</summary>
    public static int Run(ToyRequest request)
    {
        // One subcommand so far: F# compiles a one-case union to a plain class with the case's fields.
        CompiledInduction.Write(request.outDir, request.seed);
        Console.WriteLine($"wrote the compiled induction model (seed {request.seed}) to {request.outDir}: config.json, model.safetensors, task.json, MODEL.md");
        Console.WriteLine($"its circuit: {string.Join(", ", CompiledInduction.CircuitEdges)}");
        return 0;
    }
}
