using System.Runtime.InteropServices;

namespace PatchDescent.Model;

/// <summary>One NVIDIA GPU as its driver reports it; <see cref="ProcessUsedBytes"/> is this process's share, null where the driver does not say (MIG, containers).</summary>
public sealed record GpuInfo(int Index, string Name, long TotalBytes, long UsedBytes, long? ProcessUsedBytes);

/// <summary>GPU names and memory from the NVIDIA driver's management library (NVML, libnvidia-ml.so.1), which every driver install has.</summary>
/// <remarks>
/// TorchSharp 0.107 exposes neither device names nor the CUDA caching allocator's statistics, so this is where both
/// come from. The caching allocator keeps the blocks it has reserved, so this process's NVML figure after a run is
/// its reserved peak plus the CUDA context (about 0.5 GiB), which is what <c>bench</c> reports.
/// </remarks>
public static unsafe class Nvml
{
    const string Library = "libnvidia-ml.so.1";
    const int Success = 0, InsufficientSize = 7;
    const ulong NotAvailable = ulong.MaxValue;

    [StructLayout(LayoutKind.Sequential)]
    struct Memory { public ulong Total, Free, Used; }

    [StructLayout(LayoutKind.Sequential)]
    struct ProcessInfo { public uint Pid; public ulong UsedGpuMemory; public uint GpuInstanceId, ComputeInstanceId; }

    static readonly Lazy<(IntPtr Handle, string? Error)> Loaded = new(() =>
    {
        if (!NativeLibrary.TryLoad(Library, out var handle))
            return (IntPtr.Zero, $"{Library} not found: no NVIDIA driver is installed on this machine (or its library folder is not on the loader's path)");
        var init = (delegate* unmanaged<int>)NativeLibrary.GetExport(handle, "nvmlInit_v2");
        var rc = init();
        return rc == Success ? (handle, null) : (handle, $"nvmlInit failed: {ErrorString(handle, rc)}; check the driver with nvidia-smi");
    });

    /// <summary>Why NVML cannot answer on this machine, or null when it can.</summary>
    public static string? Unavailable => Loaded.Value.Error;

    static string ErrorString(IntPtr handle, int rc)
    {
        var f = (delegate* unmanaged<int, byte*>)NativeLibrary.GetExport(handle, "nvmlErrorString");
        return $"{Marshal.PtrToStringUTF8((IntPtr)f(rc))} (NVML error {rc})";
    }

    static IntPtr Export(string name) => NativeLibrary.GetExport(Loaded.Value.Handle, name);

    static void Check(int rc, string what)
    {
        if (rc != Success) throw new InvalidOperationException($"NVML {what}: {ErrorString(Loaded.Value.Handle, rc)}");
    }

    /// <summary>Every GPU the driver sees, with its memory; an empty list when NVML is unavailable (see <see cref="Unavailable"/>).</summary>
    public static IReadOnlyList<GpuInfo> Devices()
    {
        if (Unavailable is not null) return [];
        uint count;
        Check(((delegate* unmanaged<uint*, int>)Export("nvmlDeviceGetCount_v2"))(&count), "device count");
        return Enumerable.Range(0, (int)count).Select(Device).ToList();
    }

    /// <summary>This process's memory on GPU <paramref name="index"/> in bytes, or null when NVML is unavailable or does not report it.</summary>
    public static long? ProcessUsedBytes(int index) => Unavailable is null ? Device(index).ProcessUsedBytes : null;

    static GpuInfo Device(int index)
    {
        IntPtr device;
        Check(((delegate* unmanaged<uint, IntPtr*, int>)Export("nvmlDeviceGetHandleByIndex_v2"))((uint)index, &device), $"device {index}");
        var name = stackalloc byte[96];
        Check(((delegate* unmanaged<IntPtr, byte*, uint, int>)Export("nvmlDeviceGetName"))(device, name, 96), $"device {index} name");
        Memory memory;
        Check(((delegate* unmanaged<IntPtr, Memory*, int>)Export("nvmlDeviceGetMemoryInfo"))(device, &memory), $"device {index} memory");
        return new GpuInfo(index, Marshal.PtrToStringUTF8((IntPtr)name) ?? "?", (long)memory.Total, (long)memory.Used, OwnUsage(device));
    }

    static long? OwnUsage(IntPtr device)
    {
        // Older drivers lack _v3; both take the same 24-byte record.
        if (!NativeLibrary.TryGetExport(Loaded.Value.Handle, "nvmlDeviceGetComputeRunningProcesses_v3", out var f) &&
            !NativeLibrary.TryGetExport(Loaded.Value.Handle, "nvmlDeviceGetComputeRunningProcesses_v2", out f))
            return null;
        var list = (delegate* unmanaged<IntPtr, uint*, ProcessInfo*, int>)f;
        var capacity = 64u;
        while (true)
        {
            var infos = new ProcessInfo[capacity];
            var count = capacity;
            int rc;
            fixed (ProcessInfo* p = infos) rc = list(device, &count, p);
            if (rc == InsufficientSize) { capacity = count + 16; continue; }
            if (rc != Success) return null;
            var pid = (uint)Environment.ProcessId;
            foreach (var info in infos.Take((int)count))
                if (info.Pid == pid) return info.UsedGpuMemory == NotAvailable ? null : (long)info.UsedGpuMemory;
            // In a container the driver may list host pids, which never match ours.
            return null;
        }
    }

    /// <summary>Bytes as GiB with two decimals, the unit the benchmarks report.</summary>
    public static string GiB(long bytes) => $"{bytes / (double)(1L << 30):F2} GiB";
}
