using System.Text.Json;
using Microsoft.FSharp.Core;
using PatchDescent.Cli;
using PatchDescent.Search;

namespace PatchDescent.Host.Commands;

/// <summary>`patchdescent evaluate --model DIR --circuit FILE (--data FILE.jsonl | --task ioi|greater-than|induction [--pairs N] [--split test|train]) [--ablation patching|mean|zero] [--mean-data FILE.jsonl] [--metric logit-diff|prob-diff|answer-logit|minus-cross-entropy] [--json]`: re-scores a saved circuit.</summary>
public static class Evaluate
{
    /// <summary>Runs the verb: <see cref="Discovery.evaluateSaved"/> on a `circuit.json` or MIB graph, printed as lines or one JSON object.</summary>
    public static int Run(EvaluateRequest request)
    {
        var result = Discovery.evaluateSaved(request.ModelDir, request.CircuitFile, request.Data, request.Ablation, request.Metric, request.Compute);
        var s = result.Scores;
        var edges = result.Circuit.Edges.Count;
        if (request.Json)
        {
            Console.WriteLine(JsonObject(edges, result.Metric, s, result.Warnings));
            return 0;
        }
        var format = result.Format.IsMib ? "MIB graph JSON" : "PatchDescent circuit.json";
        Console.WriteLine($"circuit: {request.CircuitFile} ({format}), {edges:N0} edges, {request.AblationName} ablation");
        Console.WriteLine($"metric {result.Metric}: circuit {s.Circuit:F4}, full {s.Full:F4}, empty {s.Empty:F4}");
        Console.WriteLine($"faithfulness {s.Faithfulness:F3}, KL {s.Kl:F4} nats");
        foreach (var warning in result.Warnings) Console.Error.WriteLine($"warning: {warning}");
        return 0;
    }

    /// <summary>The figures as one JSON object, and its warnings (e.g. a meaningless faithfulness) as an array; NaN becomes null, since JSON has no NaN.</summary>
    static string JsonObject(int edges, string metric, CircuitScores s, IEnumerable<string> warnings)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteNumber("edges", edges);
            w.WriteString("metric", metric);
            foreach (var (name, value) in new[] { ("circuit", s.Circuit), ("full", s.Full), ("empty", s.Empty), ("faithfulness", s.Faithfulness), ("kl", s.Kl) })
            {
                if (double.IsFinite(value)) w.WriteNumber(name, value);
                else w.WriteNull(name);
            }
            w.WriteStartArray("warnings");
            foreach (var warning in warnings) w.WriteStringValue(warning);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }
}
