using PatchDescent.Search;

namespace PatchDescent.Host;

/// <summary>Training progress from <see cref="StepLog"/>s: one line redrawn in place on a terminal, a plain line per log when output is redirected (a file or a pipe should not fill with carriage returns).</summary>
public sealed class Progress
{
    const int BarWidth = 20;
    readonly TextWriter _output;
    readonly bool _redraw;
    readonly string _prefix;
    int _drawn;

    /// <summary>Writes to <paramref name="output"/>; <paramref name="redraw"/> overwrites one line, else each log gets its own line, led by <paramref name="prefix"/>.</summary>
    public Progress(TextWriter output, bool redraw, string prefix = "")
    {
        _output = output;
        _redraw = redraw;
        _prefix = prefix;
    }

    /// <summary>Progress on standard output, redrawn when it is a terminal.</summary>
    public static Progress ForConsole(string prefix = "") => new(Console.Out, !Console.IsOutputRedirected, prefix);

    /// <summary>Shows one log.</summary>
    public void Report(StepLog log)
    {
        if (!_redraw)
        {
            _output.WriteLine(_prefix + Line(log));
            return;
        }
        var line = $"{_prefix}{Bar(log)} {Line(log)}";
        // A line longer than the terminal wraps, and the carriage return then redraws only its last part.
        var width = TerminalWidth() - 1;
        if (line.Length > width) line = line[..width];
        _output.Write("\r" + line.PadRight(_drawn));
        _drawn = line.Length;
        _output.Flush();
    }

    /// <summary>Ends the redrawn line, so that what follows starts on a line of its own.</summary>
    public void Finish()
    {
        if (_redraw && _drawn > 0) _output.WriteLine();
        _drawn = 0;
    }

    /// <summary>The text of one log: steps, ETA, elapsed time, edges at the threshold and expected, loss terms and target.</summary>
    public static string Line(StepLog log)
    {
        var done = log.Step + 1;
        var terms = string.Join("  ", log.Terms.Select(t => $"{t.Item1} {t.Item2:G4}"));
        var target = log.Target is null ? "" : $"  target sparsity {log.Target.Value:F3}";
        // The rate so far, including time before a resumed checkpoint, which counted its steps too.
        var eta = TimeSpan.FromTicks(log.Elapsed.Ticks / done * (log.TotalSteps - done));
        var width = log.TotalSteps.ToString().Length;
        // What a narrow terminal must not cut off comes first.
        return $"step {done.ToString().PadLeft(width)}/{log.TotalSteps}  eta {Clock(eta)}  elapsed {Clock(log.Elapsed)}  " +
               $"edges {log.EdgesAtThreshold} (expected {log.ExpectedKeptEdges:F1})  {terms}{target}";
    }

    /// <summary>The terminal's width, or 120 where the console cannot tell.</summary>
    static int TerminalWidth()
    {
        try { return Console.WindowWidth > 1 ? Console.WindowWidth : 120; }
        catch (IOException) { return 120; }
    }

    static string Bar(StepLog log)
    {
        var filled = (int)Math.Round(BarWidth * (log.Step + 1) / (double)Math.Max(1, log.TotalSteps));
        return "[" + new string('#', filled) + new string('.', BarWidth - filled) + "]";
    }

    static string Clock(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}:{t.Minutes:D2}:{t.Seconds:D2}" : $"{t.Minutes}:{t.Seconds:D2}";
}
