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
                        LibTorchChoice.Directory is null
                            ? "--device cuda: no CUDA device: this process runs the bundled CPU libtorch; give --libtorch DIR (PATCHDESCENT_LIBTORCH=DIR for scripts) " +
                              "with a CUDA libtorch such as a Python environment's torch/lib, and run `patchdescent doctor` to check it"
                            : $"--device cuda: the libtorch in {LibTorchChoice.Directory} sees no CUDA device; run `patchdescent doctor --libtorch {LibTorchChoice.Directory}` to see why");
                return new Device(c);
            default:
                throw new ArgumentException($"--device '{choice}': expected auto, cpu or cuda");
        }
    }

    /// <summary>On CUDA, lets float32 matrix products use TF32 tensor cores (10-bit mantissa, several times faster on Ampere and later) unless <paramref name="strictFp32"/>; on the CPU there is nothing to set.</summary>
    public static void SetMatmulPrecision(Device device, bool strictFp32)
    {
        if (device.type != DeviceType.CUDA) return;
        backends.cuda.matmul.allow_tf32 = !strictFp32;
        backends.cudnn.allow_tf32 = !strictFp32;
    }

    /// <summary>Resolves "float32" or "bfloat16" to a compute dtype.</summary>
    public static ScalarType ResolveDType(string choice) => choice.ToLowerInvariant() switch
    {
        "float32" or "fp32" => ScalarType.Float32,
        "bfloat16" or "bf16" => ScalarType.BFloat16,
        _ => throw new ArgumentException($"--dtype '{choice}': expected float32 or bfloat16"),
    };
}
