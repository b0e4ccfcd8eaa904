using TorchSharp;
using static TorchSharp.torch;

namespace PatchDescent.Model;

/// <summary>The device a model runs on, as the user names it: auto, cpu or cuda.</summary>
public static class DeviceChoice
{
    /// <summary>Resolves "auto" (CUDA when TorchSharp sees it, else CPU), "cpu" or "cuda[:N]"; asking for CUDA without one is an error.</summary>
    public static Device Resolve(string choice)
    {
        switch (choice.ToLowerInvariant())
        {
            case "auto":
                return cuda.is_available() ? CUDA : CPU;
            case "cpu":
                return CPU;
            case var c when c == "cuda" || c.StartsWith("cuda:"):
                if (!cuda.is_available())
                    throw new ArgumentException(
                        "--device cuda: TorchSharp sees no CUDA device; this build uses the bundled CPU libtorch unless a CUDA libtorch is supplied");
                return new Device(c);
            default:
                throw new ArgumentException($"--device '{choice}': expected auto, cpu or cuda");
        }
    }

    /// <summary>Resolves "float32" or "bfloat16" to a compute dtype.</summary>
    public static ScalarType ResolveDType(string choice) => choice.ToLowerInvariant() switch
    {
        "float32" or "fp32" => ScalarType.Float32,
        "bfloat16" or "bf16" => ScalarType.BFloat16,
        _ => throw new ArgumentException($"--dtype '{choice}': expected float32 or bfloat16"),
    };
}
