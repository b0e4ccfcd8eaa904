namespace PatchDescent.Host;

/// <summary>A command line the user got wrong; printed without a stack trace, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>The options of one verb: `--name value` pairs and `--flag` switches, each read once and checked for leftovers.</summary>
public sealed class CommandLine
{
    readonly Dictionary<string, string?> _options = new();
    readonly HashSet<string> _read = new();
    readonly string _verb;

    /// <summary>Parses <paramref name="args"/> (after the verb); <paramref name="flags"/> are the options that take no value.</summary>
    public CommandLine(string verb, IEnumerable<string> args, params string[] flags)
    {
        _verb = verb;
        var list = args.ToList();
        for (var i = 0; i < list.Count; i++)
        {
            var a = list[i];
            if (!a.StartsWith("--")) throw new UsageException($"{verb}: unexpected argument '{a}'");
            if (flags.Contains(a)) _options[a] = null;
            else if (i + 1 < list.Count) _options[a] = list[++i];
            else throw new UsageException($"{verb}: option {a} needs a value");
        }
    }

    readonly List<string> _missing = new();

    /// <summary>The value of a required option; its absence is reported by <see cref="CheckAllRead"/>, after unknown options.</summary>
    public string Required(string name)
    {
        var value = Optional(name);
        if (value is null) _missing.Add(name);
        return value ?? "";
    }

    /// <summary>The value of an option, or null when absent.</summary>
    public string? Optional(string name)
    {
        _read.Add(name);
        return _options.TryGetValue(name, out var v) ? v : null;
    }

    /// <summary>An integer option with a default.</summary>
    public int Int(string name, int fallback)
    {
        var text = Optional(name);
        if (text is null) return fallback;
        return int.TryParse(text, out var v) ? v : throw new UsageException($"{_verb}: {name} expects an integer, got '{text}'");
    }

    /// <summary>Whether a switch was given.</summary>
    public bool Flag(string name)
    {
        _read.Add(name);
        return _options.ContainsKey(name);
    }

    /// <summary>Fails on any option the verb did not read, so a typo never passes silently, then on missing required ones.</summary>
    public void CheckAllRead()
    {
        var unknown = _options.Keys.Where(k => !_read.Contains(k)).ToList();
        if (unknown.Count > 0) throw new UsageException($"{_verb}: unknown option {string.Join(", ", unknown)}");
        if (_missing.Count > 0) throw new UsageException($"{_verb}: option {string.Join(", ", _missing)} is required");
    }
}
