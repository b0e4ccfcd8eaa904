using System.Text.Json;
using System.Text.Json.Nodes;

namespace PatchDescent.Model;

/// <summary>
/// A folder a verb writes whole: claimed before any work, filled in a temporary sibling, marked with
/// <c>patchdescent-run.json</c> (the verb, the version and every file written), then swapped into place.
/// </summary>
/// <remarks>
/// A folder is the program's only when it carries the mark. An existing folder without it (unless empty), or one that
/// holds an input, is refused. A marked folder is replaced: the files its mark lists go, and every other file or folder
/// in it (a user's notes) is moved into the new run untouched, so nothing the program did not write is ever deleted.
/// A marked folder of another verb is replaced only with <c>force</c>.
/// </remarks>
public sealed class OutputFolder
{
    /// <summary>The mark's file name.</summary>
    public const string MarkFile = "patchdescent-run.json";

    readonly IReadOnlyList<(string Flag, string Path)> _inputs;
    readonly bool _force;

    /// <summary>The flag the folder was given with, e.g. "--out".</summary>
    public string Flag { get; }

    /// <summary>The folder's full path.</summary>
    public string FullPath { get; }

    /// <summary>The verb that writes it, e.g. "discover"; recorded in the mark.</summary>
    public string Verb { get; }

    OutputFolder(string flag, string fullPath, string verb, IReadOnlyList<(string, string)> inputs, bool force)
    {
        (Flag, FullPath, Verb, _inputs, _force) = (flag, fullPath, verb, inputs, force);
    }

    /// <summary>
    /// Checks, before any work, that <paramref name="path"/> (given with <paramref name="flag"/>) may become
    /// <paramref name="verb"/>'s output: a resolvable path, no file, no folder holding one of <paramref name="inputs"/>
    /// (flag, path; null paths are skipped), empty or marked if it exists (another verb's mark needs
    /// <paramref name="force"/>), and a writable folder above it. Throws <see cref="OutputException"/> naming why.
    /// </summary>
    public static OutputFolder Claim(string flag, string path, string verb, IEnumerable<(string Flag, string? Path)> inputs, bool force = false)
    {
        var full = Resolve(flag, path);
        var resolved = inputs.Where(i => i.Path is not null).Select(i => (i.Flag, Resolve(i.Flag, i.Path!))).ToList();
        var folder = new OutputFolder(flag, full, verb, resolved, force);
        folder.Check();
        folder.ProbeWritable();
        return folder;
    }

    /// <summary>
    /// Runs <paramref name="fill"/> on a new temporary folder, marks it with the files it holds, and swaps it in for
    /// <see cref="FullPath"/>, checked again first; on any failure nothing is left behind (no temporary folder, no
    /// parent folder made for it) and an existing folder stays as it was. Returns what <paramref name="fill"/> returned.
    /// </summary>
    public T Write<T>(Func<string, T> fill)
    {
        var created = CreateParents();
        var temp = $"{FullPath}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            Directory.CreateDirectory(temp);
            var result = fill(temp);
            WriteMark(temp);
            Swap(temp);
            return result;
        }
        catch
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, true);
            foreach (var dir in created) if (Directory.Exists(dir) && !Directory.EnumerateFileSystemEntries(dir).Any()) Directory.Delete(dir);
            throw;
        }
    }

    /// <summary>The full path of <paramref name="path"/> without a trailing separator; an empty or unresolvable path is refused, naming <paramref name="flag"/>.</summary>
    internal static string Resolve(string flag, string path)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new OutputException(flag, $"'{path}'", "is empty; give a path");
        string full;
        try
        {
            full = Path.GetFullPath(path);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new OutputException(flag, path, $"is not a usable path: {e.Message}");
        }
        var root = Path.GetPathRoot(full) ?? "";
        return full.Length > root.Length ? full.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar) : full;
    }

    /// <summary>Whether <paramref name="folder"/> is <paramref name="path"/> or lies above it.</summary>
    internal static bool Holds(string folder, string path) =>
        path == folder || path.StartsWith(folder.EndsWith(Path.DirectorySeparatorChar) ? folder : folder + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    /// <summary>The refusals that do not depend on writing anything: a file, an input's folder, a folder that is not the program's.</summary>
    void Check()
    {
        foreach (var (inputFlag, input) in _inputs)
            if (Holds(FullPath, input))
                throw new OutputException(Flag, FullPath,
                    input == FullPath ? $"is the {inputFlag} input; a run never writes over its inputs"
                                      : $"holds the {inputFlag} input {input}; a run never writes into a folder that holds its inputs");
        if (File.Exists(FullPath)) throw new OutputException(Flag, FullPath, "is a file; give a folder");
        if (!Directory.Exists(FullPath)) return;
        var mark = Path.Combine(FullPath, MarkFile);
        if (!File.Exists(mark))
        {
            if (!Directory.EnumerateFileSystemEntries(FullPath).Any()) return;
            throw new OutputException(Flag, FullPath,
                $"exists and was not written by patchdescent (it has no {MarkFile}), so it is left alone; choose a new folder, or empty this one yourself");
        }
        var (verb, _) = ReadMark(mark);
        if (verb != Verb && !_force)
            throw new OutputException(Flag, FullPath,
                $"holds a `{verb}` run; pass --force to replace it with this `{Verb}` run (files no run wrote are kept), or choose another folder");
    }

    /// <summary>The nearest existing folder above the destination takes a new folder; the probe is removed at once.</summary>
    void ProbeWritable()
    {
        var above = Path.GetDirectoryName(FullPath);
        while (above is not null && !Directory.Exists(above))
        {
            if (File.Exists(above)) throw new OutputException(Flag, FullPath, $"cannot be made: {above} is a file, not a folder");
            above = Path.GetDirectoryName(above);
        }
        if (above is null) throw new OutputException(Flag, FullPath, "has no existing folder above it");
        var probe = Path.Combine(above, $".patchdescent-probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OutputException(Flag, FullPath, $"cannot be written: {above} does not take a new folder ({e.Message.Replace(probe, above)})");
        }
        finally
        {
            if (Directory.Exists(probe)) Directory.Delete(probe);
        }
    }

    /// <summary>Makes the missing folders above the destination; returns them, deepest first, so a failure can remove them.</summary>
    List<string> CreateParents()
    {
        var missing = new List<string>();
        for (var above = Path.GetDirectoryName(FullPath); above is not null && !Directory.Exists(above); above = Path.GetDirectoryName(above))
            missing.Add(above);
        for (var i = missing.Count - 1; i >= 0; i--) Directory.CreateDirectory(missing[i]);
        return missing;
    }

    /// <summary>The verb and the listed files (relative, '/'-separated) of a mark; a mark this program cannot have written is refused.</summary>
    (string Verb, HashSet<string> Files) ReadMark(string mark)
    {
        try
        {
            var json = JsonNode.Parse(File.ReadAllText(mark)) as JsonObject ?? throw new JsonException("not a JSON object");
            var verb = json["verb"]?.GetValue<string>() ?? throw new JsonException("no \"verb\"");
            var files = json["files"] as JsonArray ?? throw new JsonException("no \"files\" array");
            return (verb, files.Select(f => f?.GetValue<string>() ?? throw new JsonException("a null file name")).ToHashSet());
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new OutputException(Flag, FullPath, $"its {MarkFile} is not one patchdescent wrote ({e.Message}), so the folder is left alone");
        }
    }

    void WriteMark(string dir)
    {
        var files = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(dir, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Append(MarkFile)
            .Order(StringComparer.Ordinal)
            .Select(f => (JsonNode?)f);
        var mark = new JsonObject
        {
            ["program"] = "patchdescent",
            ["verb"] = Verb,
            ["version"] = typeof(OutputFolder).Assembly.GetName().Version?.ToString(),
            ["files"] = new JsonArray(files.ToArray()),
        };
        File.WriteAllText(Path.Combine(dir, MarkFile), mark.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>What the old folder holds that its mark does not list, relative: whole folders where nothing under them is listed.</summary>
    static List<string> Foreign(string root, HashSet<string> listed)
    {
        var foreign = new List<string>();
        void Walk(string dir)
        {
            foreach (var entry in Directory.EnumerateFileSystemEntries(dir))
            {
                var rel = Path.GetRelativePath(root, entry).Replace(Path.DirectorySeparatorChar, '/');
                if (Directory.Exists(entry) && !File.GetAttributes(entry).HasFlag(FileAttributes.ReparsePoint))
                {
                    if (listed.Any(f => f.StartsWith(rel + "/", StringComparison.Ordinal))) Walk(entry);
                    else foreign.Add(rel);
                }
                else if (!listed.Contains(rel)) foreign.Add(rel);
            }
        }
        Walk(root);
        return foreign;
    }

    void Swap(string temp)
    {
        Check();
        if (!Directory.Exists(FullPath))
        {
            Directory.Move(temp, FullPath);
            return;
        }
        var mark = Path.Combine(FullPath, MarkFile);
        if (!File.Exists(mark))
        {
            // Check() let it through, so it is empty.
            Directory.Delete(FullPath);
            Directory.Move(temp, FullPath);
            return;
        }
        var (_, listed) = ReadMark(mark);
        var foreign = Foreign(FullPath, listed);
        var clash = foreign.FirstOrDefault(rel => Path.Exists(Path.Combine(temp, rel)));
        if (clash is not null)
            throw new OutputException(Flag, FullPath,
                $"holds {clash}, which no run wrote and which this run would replace; move it out of the folder and run again");
        var old = $"{FullPath}.old-{Environment.ProcessId}-{Guid.NewGuid():N}";
        Directory.Move(FullPath, old);
        Directory.Move(temp, FullPath);
        foreach (var rel in foreign)
        {
            var (from, to) = (Path.Combine(old, rel), Path.Combine(FullPath, rel));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            if (Directory.Exists(from) && !File.GetAttributes(from).HasFlag(FileAttributes.ReparsePoint)) Directory.Move(from, to);
            else File.Move(from, to);
        }
        // Only the files the old mark lists are left in it.
        Directory.Delete(old, true);
    }
}
