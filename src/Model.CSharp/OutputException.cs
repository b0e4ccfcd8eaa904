namespace PatchDescent.Model;

/// <summary>An output path a verb refuses before any work: the message names the flag, the real path and why.</summary>
public sealed class OutputException : Exception
{
    /// <summary>The flag the path was given with, e.g. "--out".</summary>
    public string Flag { get; }

    /// <summary>The resolved path at fault.</summary>
    public string Path { get; }

    /// <summary>A refusal of <paramref name="path"/>, given with <paramref name="flag"/>, because of <paramref name="problem"/>.</summary>
    public OutputException(string flag, string path, string problem) : base($"{flag} {path}: {problem}")
    {
        Flag = flag;
        Path = path;
    }
}
