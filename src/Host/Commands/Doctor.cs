using System.Diagnostics;
using PatchDescent.Cli;
using PatchDescent.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent doctor [--device auto|cpu|cuda]`: which libtorch this process loaded and from where, its version, CUDA, the GPUs, and a matrix product with its backward on the device.</summary>
public static class Doctor
{
    const string Fix = "  fix: ";

    /// <summary>Runs the verb: 0 when the device asked for works, 1 otherwise, with the fix printed.</summary>
    public static int Run(DoctorRequest request)
    {
        // The first call into TorchSharp loads the native libraries; /proc/self/maps then says which files they are.
        var cudaAvailable = cuda.is_available();
        var cpuLib = LibTorchChoice.LoadedPath("libtorch_cpu.so");
        var cudaLib = LibTorchChoice.LoadedPath("libtorch_cuda.so");
        var folder = cpuLib is null ? null : Path.GetDirectoryName(cpuLib);
        Console.WriteLine($"libtorch       {(LibTorchChoice.Directory is null ? "bundled with PatchDescent (CPU build)" : $"external, chosen: {LibTorchChoice.Directory}")}");
        Console.WriteLine($"loaded from    {folder ?? "? (libtorch_cpu.so is not mapped)"}");
        Console.WriteLine($"version        {(folder is null ? null : LibTorchChoice.Version(folder)) ?? "not readable (no version.py or build-version beside the folder)"}");
        Console.WriteLine($"TorchSharp     {typeof(torch).Assembly.GetName().Version}, bridge {LibTorchChoice.LoadedPath("libLibTorchSharp.so") ?? "?"}");
        Console.WriteLine($"CUDA           {(cudaAvailable ? $"available, {cuda.device_count()} device(s), cuDNN {(cuda.is_cudnn_available() ? "available" : "not available")}" : "not available")}" +
                          $"{(cudaLib is null ? "; libtorch_cuda.so not loaded" : $"; {cudaLib}")}");
        if (!cudaAvailable)
            Console.WriteLine(Fix + (cudaLib is null
                ? "this libtorch is a CPU build. For CUDA, run the external-libtorch build (dotnet fsi build.fsx publish-external-libtorch) with " +
                  "--libtorch DIR naming a CUDA libtorch, e.g. python3 -c \"import torch, os; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))\""
                : "libtorch_cuda.so loaded but sees no GPU: check the driver with nvidia-smi, and that CUDA_VISIBLE_DEVICES does not hide the GPUs"));

        var gpus = Nvml.Devices();
        if (Nvml.Unavailable is { } why) Console.WriteLine($"GPUs (NVML)    none read: {why}");
        foreach (var g in gpus)
            Console.WriteLine($"GPU {g.Index}          {g.Name}, {Nvml.GiB(g.TotalBytes)} total, {Nvml.GiB(g.UsedBytes)} in use");

        Device device;
        try
        {
            device = DeviceChoice.Resolve(request.Device);
        }
        catch (ArgumentException e)
        {
            Console.WriteLine($"device         {request.Device}: {e.Message}");
            return 1;
        }
        var (ok, ms) = TryMatmulBackward(device);
        Console.WriteLine($"device         {device}: matrix product and backward {(ok ? $"ok ({ms:F1} ms)" : "gave a wrong gradient")}");
        return ok ? 0 : 1;
    }

    /// <summary>d/dx sum(x w) = w summed over its columns, for every row of x: an exact check in small integers.</summary>
    static (bool Ok, double Ms) TryMatmulBackward(Device device)
    {
        using var scope = NewDisposeScope();
        var sw = Stopwatch.StartNew();
        var x = arange(6, dtype: ScalarType.Float32, device: device).view(2, 3).requires_grad_(true);
        var w = arange(12, dtype: ScalarType.Float32, device: device).view(3, 4);
        x.matmul(w).sum().backward();
        var got = x.grad!.cpu().data<float>().ToArray();
        sw.Stop();
        // Row sums of w = [[0..3], [4..7], [8..11]]: 6, 22, 38, the same for both rows of x.
        return (got.SequenceEqual([6f, 22f, 38f, 6f, 22f, 38f]), sw.Elapsed.TotalMilliseconds);
    }
}
