using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using TorchSharp;

namespace PatchDescent.Model;

/// <summary>A libtorch folder that cannot be used: missing, incomplete, unloadable, or chosen too late.</summary>
public sealed class LibTorchException(string message) : Exception(message);

/// <summary>Which libtorch TorchSharp runs on: the CPU build bundled with PatchDescent, or the one in a folder the user names, such as a Python environment's <c>torch/lib</c> (CUDA included).</summary>
/// <remarks>
/// TorchSharp 0.107 first asks the runtime for <c>torch_cpu</c> (or <c>torch_cuda</c>) and <c>LibTorchSharp</c> by
/// name, which probes the app's folder and then the loader's path; only when that fails does it copy every native
/// file of the libtorch NuGet package into the NuGet cache and load from there. So this class loads the folder's
/// libraries by full path, in dependency order, then the <c>libLibTorchSharp.so</c> beside TorchSharp.dll (whose
/// GLIBCXX requirement the build has weakened). TorchSharp's later by-name requests find nothing in the app's folder
/// and fall through to the dynamic loader, which answers with the copies already loaded (same soname), so the
/// by-name load succeeds and nothing is copied. That needs an app folder without the bundled CPU libtorch (built
/// with <c>-p:ExternalLibTorch=true</c>): a probe would find the bundled file first and load a second libtorch,
/// which aborts the process when its operators register twice.
/// </remarks>
public static class LibTorchChoice
{
    /// <summary>Scripts and tests name an external libtorch folder in this variable; the host takes <c>--libtorch DIR</c>.</summary>
    public const string EnvironmentVariable = "PATCHDESCENT_LIBTORCH";

    const string TorchSharpNative = "libLibTorchSharp.so";
    const string PythonHint =
        "a Python environment's folder prints with: python3 -c \"import torch, os; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))\"";

    // Dependency order: each library's needs are loaded before it. The CUDA pair is optional (a CPU-only libtorch).
    static readonly string[] Core = ["libc10.so", "libtorch_cpu.so"];
    static readonly string[] Cuda = ["libc10_cuda.so", "libtorch_cuda.so"];
    const string Umbrella = "libtorch.so";

    static string? _directory;

    /// <summary>The external folder in use, or null while the bundled libtorch is.</summary>
    public static string? Directory => _directory;

    /// <summary>Uses the libtorch in <paramref name="directory"/> for the rest of the process; call before the first tensor. <paramref name="namedBy"/> is how the user named it, for messages (default <c>--libtorch DIR</c>).</summary>
    public static void UseDirectory(string directory, string? namedBy = null)
    {
        namedBy ??= $"--libtorch {directory}";
        var dir = Path.GetFullPath(directory).TrimEnd('/');
        if (_directory == dir) return;
        if (_directory is not null)
            throw new LibTorchException($"{namedBy}: this process already uses the libtorch in {_directory}; one process loads one libtorch");
        if (!System.IO.Directory.Exists(dir))
            throw new LibTorchException($"{namedBy}: no such folder; {PythonHint}");
        var missing = Core.Append(Umbrella).Where(f => !File.Exists(Path.Combine(dir, f))).ToList();
        if (missing.Count > 0)
            throw new LibTorchException(
                $"{namedBy}: no libtorch here ({string.Join(", ", missing)} missing); name the folder that holds libtorch.so, {PythonHint}");
        var appFolder = AppFolder;
        if (File.Exists(Path.Combine(appFolder, "libtorch_cpu.so")) && Path.GetFullPath(appFolder).TrimEnd('/') != dir)
            throw new LibTorchException(
                $"{namedBy}: this build bundles a CPU libtorch in {appFolder}, and a second libtorch cannot share the process; " +
                "run the build without it: dotnet fsi build.fsx publish-external-libtorch (or build with -p:ExternalLibTorch=true)");
        var loaded = LoadedPath(TorchSharpNative);
        if (loaded is not null)
            throw new LibTorchException(
                $"{namedBy}: TorchSharp has already loaded {loaded}; the libtorch must be chosen before the first tensor");

        foreach (var file in Core.Concat(Cuda.Where(f => File.Exists(Path.Combine(dir, f)))).Append(Umbrella))
            Load(Path.Combine(dir, file), Cuda.Contains(file));
        var bridge = Path.Combine(appFolder, TorchSharpNative);
        if (!File.Exists(bridge))
            throw new LibTorchException($"{bridge} not found: TorchSharp's native bridge must sit beside TorchSharp.dll; rebuild or republish PatchDescent");
        Load(bridge, cuda: false);
        _directory = dir;
    }

    /// <summary>Chooses the libtorch before the first tensor: <paramref name="directory"/> (the host's <c>--libtorch</c>) when given, else the folder in <see cref="EnvironmentVariable"/>, else the bundled one; a build without the bundled one (ExternalLibTorch) must find libtorch on the loader's path (LD_LIBRARY_PATH) or fails here with the fix.</summary>
    public static void Choose(string? directory)
    {
        var fromEnvironment = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(directory)) UseDirectory(directory);
        else if (!string.IsNullOrEmpty(fromEnvironment)) UseDirectory(fromEnvironment, $"{EnvironmentVariable}={fromEnvironment}");
        else if (!File.Exists(Path.Combine(AppFolder, "libtorch_cpu.so")) && !NativeLibrary.TryLoad("libtorch_cpu.so", out _))
            throw new LibTorchException(
                $"this build of PatchDescent brings no libtorch ({AppFolder} was built with ExternalLibTorch=true) and none is on the loader's path: " +
                $"name one with --libtorch DIR, {EnvironmentVariable}=DIR or LD_LIBRARY_PATH=DIR; {PythonHint}");
    }

    static string AppFolder => Path.GetDirectoryName(typeof(torch).Assembly.Location) ?? AppContext.BaseDirectory;

    static void Load(string path, bool cuda)
    {
        try
        {
            NativeLibrary.Load(path);
        }
        catch (DllNotFoundException e)
        {
            // .NET's message ends with the dynamic loader's own line, which names the missing dependency or the bad file.
            var detail = e.Message.Trim().Split('\n')[^1];
            var fix = cuda
                ? "the CUDA libraries it links against were not found: a pip-installed PyTorch finds them in site-packages/nvidia/*/lib " +
                  "through its RPATH; in another layout add their folders to LD_LIBRARY_PATH, and check the NVIDIA driver with nvidia-smi"
                : "check that the folder holds one complete libtorch of one version (for example a Python environment's torch/lib)";
            throw new LibTorchException($"{path}: cannot be loaded: {detail}\n  fix: {fix}");
        }
    }

    /// <summary>Full path of the mapped library whose file name is <paramref name="fileName"/>, read from /proc/self/maps; null when none is mapped.</summary>
    public static string? LoadedPath(string fileName)
    {
        const string maps = "/proc/self/maps";
        if (!File.Exists(maps)) return null;
        foreach (var line in File.ReadLines(maps))
        {
            var slash = line.IndexOf('/');
            if (slash < 0) continue;
            var path = line[slash..];
            if (Path.GetFileName(path) == fileName) return path;
        }
        return null;
    }

    /// <summary>The libtorch version beside <paramref name="libDirectory"/> when a file says it: a Python install's ../version.py, a libtorch archive's ../build-version, or the NuGet package named in this app's deps.json.</summary>
    public static string? Version(string libDirectory)
    {
        var parent = Path.GetDirectoryName(libDirectory.TrimEnd('/'));
        if (parent is not null)
        {
            var versionPy = Path.Combine(parent, "version.py");
            if (File.Exists(versionPy))
            {
                var text = File.ReadAllText(versionPy);
                var v = Regex.Match(text, @"^__version__\s*=\s*['""]([^'""]+)['""]", RegexOptions.Multiline);
                var c = Regex.Match(text, @"^cuda\s*(?::[^=]*)?=\s*['""]([^'""]+)['""]", RegexOptions.Multiline);
                if (v.Success) return $"PyTorch {v.Groups[1].Value}" + (c.Success ? $", CUDA {c.Groups[1].Value}" : ", no CUDA") + $" ({versionPy})";
            }
            var buildVersion = Path.Combine(parent, "build-version");
            if (File.Exists(buildVersion)) return $"libtorch {File.ReadAllText(buildVersion).Trim()} ({buildVersion})";
        }
        // The bundled natives carry no version file; the package that brought them is named in the app's deps.json.
        var deps = AppContext.GetData("APP_CONTEXT_DEPS_FILES") as string;
        foreach (var file in (deps ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!File.Exists(file) || Path.GetDirectoryName(Path.GetFullPath(file)) != Path.GetFullPath(libDirectory).TrimEnd('/')) continue;
            var m = Regex.Match(File.ReadAllText(file), @"""(libtorch-[a-z0-9.\-]+-linux-x64)/([0-9][^""]*)""");
            if (m.Success) return $"NuGet package {m.Groups[1].Value} {m.Groups[2].Value} ({Path.GetFileName(file)})";
        }
        return null;
    }
}
