namespace PatchDescent.Model;

/// <summary>A checkpoint, config or input that does not have the shape PatchDescent needs; the message names the file and tensor.</summary>
public sealed class ModelFormatException : Exception
{
    /// <summary>The file at fault.</summary>
    public string File { get; }

    /// <summary>The tensor or field at fault, when there is one.</summary>
    public string? Item { get; }

    /// <summary>An error in <paramref name="file"/>, optionally about one tensor or field.</summary>
    public ModelFormatException(string file, string? item, string problem)
        : base(item is null ? $"{file}: {problem}" : $"{file}: '{item}': {problem}")
    {
        File = file;
        Item = item;
    }
}
