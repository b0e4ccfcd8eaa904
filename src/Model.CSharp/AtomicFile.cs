namespace PatchDescent.Model;

/// <summary>Files written whole or not at all: through a temporary sibling renamed into place, so a reader never sees half a file.</summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> by letting <paramref name="write"/> fill a temporary sibling, then renaming it over the path; the temporary file never outlives a failure.</summary>
    public static void Write(string path, Action<string> write)
    {
        var full = Path.GetFullPath(path);
        var temp = $"{full}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            write(temp);
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>Writes <paramref name="text"/> to <paramref name="path"/> whole or not at all.</summary>
    public static void WriteText(string path, string text) => Write(path, temp => File.WriteAllText(temp, text));

    /// <summary>Writes <paramref name="lines"/> to <paramref name="path"/> whole or not at all.</summary>
    public static void WriteLines(string path, IEnumerable<string> lines) => Write(path, temp => File.WriteAllLines(temp, lines));

    /// <summary>Checks, before any work, that <paramref name="path"/> (given with <paramref name="flag"/>) can be written: not empty, not a folder, not one of <paramref name="inputs"/> (flag, path of a file, or of a folder it must not lie in), in an existing folder that takes a file; returns the full path.</summary>
    public static string Claim(string flag, string path, IEnumerable<(string Flag, string? Path)> inputs)
    {
        var full = OutputFolder.Resolve(flag, path);
        if (Directory.Exists(full)) throw new OutputException(flag, full, "is a folder; give the path of a file");
        foreach (var (inputFlag, input) in inputs)
        {
            if (input is null) continue;
            var inputFull = OutputFolder.Resolve(inputFlag, input);
            if (inputFull == full) throw new OutputException(flag, full, $"is the {inputFlag} input; a run never writes over its inputs");
            if (Directory.Exists(inputFull) && OutputFolder.Holds(inputFull, full))
                throw new OutputException(flag, full, $"lies in the {inputFlag} folder {inputFull}; a run never writes into its inputs' folders");
        }
        var parent = Path.GetDirectoryName(full) ?? full;
        if (File.Exists(parent)) throw new OutputException(flag, full, $"cannot be written: {parent} is a file, not a folder");
        if (!Directory.Exists(parent)) throw new OutputException(flag, full, $"cannot be written: its folder {parent} does not exist");
        var probe = $"{full}.probe-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            File.WriteAllBytes(probe, []);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OutputException(flag, full, $"cannot be written in {parent}: {e.Message.Replace(probe, parent)}");
        }
        finally
        {
            if (File.Exists(probe)) File.Delete(probe);
        }
        return full;
    }
}
