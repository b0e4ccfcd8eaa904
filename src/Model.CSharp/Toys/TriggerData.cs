using System.Text.Json;
using System.Text.Json.Nodes;

namespace PatchDescent.Model.Toys;

/// <summary>One sampled sequence of the trigger task and the output token each trigger was followed by in it.</summary>
public sealed record TriggerSequence(int[] Tokens, IReadOnlyDictionary<int, int> Outputs)
{
    /// <summary>Positions t whose token only induction predicts: token t-1 is a trigger that also occurred before t-1.</summary>
    public IReadOnlyList<int> PredictablePositions(TriggerTask task)
    {
        var seen = new HashSet<int>();
        var positions = new List<int>();
        for (var t = 1; t < Tokens.Length; t++)
        {
            var previous = Tokens[t - 1];
            if (!task.IsTrigger(previous)) continue;
            if (!seen.Add(previous)) positions.Add(t);
        }
        return positions;
    }
}

/// <summary>
/// The trigger task of Bietti et al. 2023 ("Birth of a Transformer"): tokens follow a random global bigram table,
/// except that each trigger token is always followed by an output token drawn afresh for each sequence, so only
/// induction (find the trigger's earlier occurrence, copy what followed it) predicts what follows a trigger's
/// second occurrence.
/// </summary>
public sealed class TriggerTask(int vocab, IReadOnlyList<int> triggers, int seqLen, int bigramSeed, double bigramSharpness, double triggerRate)
{
    /// <summary>Vocabulary size.</summary>
    public int Vocab { get; } = vocab;
    /// <summary>The trigger tokens, in increasing order as given.</summary>
    public IReadOnlyList<int> Triggers { get; } = triggers.ToArray();
    /// <summary>Tokens per sequence.</summary>
    public int SeqLen { get; } = seqLen;
    /// <summary>Seed of the bigram table.</summary>
    public int BigramSeed { get; } = bigramSeed;
    /// <summary>Each bigram row is softmax(sharpness * standard normal draws).</summary>
    public double BigramSharpness { get; } = bigramSharpness;
    /// <summary>The probability that a trigger (drawn uniformly) follows a non-trigger token; otherwise the bigram row draws it.</summary>
    public double TriggerRate { get; } = triggerRate;

    /// <summary>The pilot's recipe (vocabulary 64, 6 triggers, 64 tokens), with triggers after a fifth of the non-trigger tokens.</summary>
    public static TriggerTask Default { get; } =
        Create(vocab: 64, triggers: 6, seqLen: 64, bigramSeed: 0, bigramSharpness: 1.5, triggerRate: 0.2);

    /// <summary>A task whose triggers are drawn (without replacement, seeded by <paramref name="bigramSeed"/>) from the vocabulary.</summary>
    public static TriggerTask Create(int vocab, int triggers, int seqLen, int bigramSeed, double bigramSharpness, double triggerRate)
    {
        if (triggers < 1 || triggers >= vocab)
            throw new ArgumentException($"the trigger task needs between 1 and vocab - 1 = {vocab - 1} triggers; got {triggers}");
        var rng = new Random(bigramSeed);
        var chosen = Enumerable.Range(0, vocab).OrderBy(_ => rng.Next()).Take(triggers).Order().ToArray();
        return new TriggerTask(vocab, chosen, seqLen, bigramSeed, bigramSharpness, triggerRate).Validate("trigger task");
    }

    /// <summary>Checks that the numbers describe a task that can be sampled; <paramref name="source"/> names where they came from.</summary>
    public TriggerTask Validate(string source)
    {
        if (Vocab < 2) throw new ModelFormatException(source, "vocab", $"must be at least 2, found {Vocab}");
        if (SeqLen < 2) throw new ModelFormatException(source, "seq_len", $"must be at least 2, found {SeqLen}");
        if (Triggers.Count == 0 || Triggers.Count >= Vocab)
            throw new ModelFormatException(source, "triggers", $"needs 1 to {Vocab - 1} tokens, found {Triggers.Count}");
        var outside = Triggers.Where(t => t < 0 || t >= Vocab).ToList();
        if (outside.Count > 0) throw new ModelFormatException(source, "triggers", $"token {outside[0]} is outside [0, {Vocab})");
        if (Triggers.Distinct().Count() != Triggers.Count)
            throw new ModelFormatException(source, "triggers", "lists a token twice");
        if (!(BigramSharpness >= 0)) throw new ModelFormatException(source, "bigram_sharpness", $"must be 0 or more, found {BigramSharpness}");
        if (!(TriggerRate is >= 0 and < 1)) throw new ModelFormatException(source, "trigger_rate", $"must be in [0, 1), found {TriggerRate}");
        return this;
    }

    /// <summary>Whether <paramref name="token"/> is a trigger.</summary>
    public bool IsTrigger(int token) => _triggerSet.Contains(token);

    readonly HashSet<int> _triggerSet = triggers.ToHashSet();

    /// <summary>The bigram table: row i is the distribution of the token after a non-trigger token i when no trigger is drawn; it gives triggers probability 0.</summary>
    public IReadOnlyList<IReadOnlyList<double>> Bigram { get; } = BigramTable(vocab, triggers.ToHashSet(), bigramSeed, bigramSharpness);

    /// <summary>The tokens outputs are drawn from: every token that is not a trigger, in increasing order.</summary>
    public IReadOnlyList<int> OutputTokens => Enumerable.Range(0, Vocab).Where(t => !IsTrigger(t)).ToArray();

    static double[][] BigramTable(int vocab, HashSet<int> triggers, int seed, double sharpness)
    {
        // Seeded separately from the sequences (and offset from the trigger draw), so the table is a fixed part of the task.
        var rng = new Random(seed + 7919);
        return Enumerable.Range(0, vocab).Select(_ =>
        {
            var logits = Enumerable.Range(0, vocab).Select(_ => sharpness * StandardNormal(rng)).ToArray();
            var max = logits.Max();
            var w = logits.Select((x, j) => triggers.Contains(j) ? 0 : Math.Exp(x - max)).ToArray();
            var sum = w.Sum();
            return w.Select(x => x / sum).ToArray();
        }).ToArray();
    }

    static double StandardNormal(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    static int Draw(IReadOnlyList<double> distribution, Random rng)
    {
        var u = rng.NextDouble();
        for (var i = 0; i < distribution.Count; i++)
        {
            u -= distribution[i];
            if (u < 0) return i;
        }
        return distribution.Count - 1;   // rounding left a sliver past the last entry
    }

    /// <summary>
    /// One sequence: each trigger's output is drawn uniformly from <see cref="OutputTokens"/>, the first token uniformly
    /// from the vocabulary, and every later token is the output of its predecessor if that is a trigger, else a
    /// uniformly drawn trigger with probability <see cref="TriggerRate"/>, else drawn from the predecessor's bigram row.
    /// </summary>
    public TriggerSequence Sample(Random rng)
    {
        var outputTokens = OutputTokens;
        var outputs = Triggers.ToDictionary(t => t, _ => outputTokens[rng.Next(outputTokens.Count)]);
        var tokens = new int[SeqLen];
        tokens[0] = rng.Next(Vocab);
        for (var t = 1; t < SeqLen; t++)
            tokens[t] = outputs.TryGetValue(tokens[t - 1], out var o) ? o
                : rng.NextDouble() < TriggerRate ? Triggers[rng.Next(Triggers.Count)]
                : Draw(Bigram[tokens[t - 1]], rng);
        return new TriggerSequence(tokens, outputs);
    }

    /// <summary>The entropy of the next token after a non-trigger token (trigger draw included), averaged over the non-trigger rows (nats): the loss a perfect bigram model reaches there.</summary>
    public double MeanBigramEntropy =>
        OutputTokens.Average(i =>
        {
            var r = TriggerRate;
            var triggers = r > 0 ? -r * Math.Log(r / Triggers.Count) : 0;
            return triggers - Bigram[i].Where(p => p > 0).Sum(p => (1 - r) * p * Math.Log((1 - r) * p));
        });

    /// <summary>The task.json text: <c>{"task": "induction", "kind": "trigger", ...}</c>, everything that regenerates the data.</summary>
    public string ToJson() => new JsonObject
    {
        ["task"] = "induction",
        ["kind"] = "trigger",
        ["vocab"] = Vocab,
        ["triggers"] = new JsonArray(Triggers.Select(t => (JsonNode)t).ToArray()),
        ["seq_len"] = SeqLen,
        ["bigram_seed"] = BigramSeed,
        ["bigram_sharpness"] = BigramSharpness,
        ["trigger_rate"] = TriggerRate,
    }.ToJsonString(new JsonSerializerOptions { WriteIndented = true });

    /// <summary>Reads a task.json of kind "trigger"; errors name the file and the field.</summary>
    public static TriggerTask Load(string path)
    {
        if (!File.Exists(path)) throw new ModelFormatException(path, null, "file not found");
        return Parse(path, File.ReadAllText(path));
    }

    /// <summary>Parses task.json text of kind "trigger"; <paramref name="source"/> names the file in errors, which name the field.</summary>
    public static TriggerTask Parse(string source, string text)
    {
        JsonObject json;
        try
        {
            json = JsonNode.Parse(text) as JsonObject ?? throw new ModelFormatException(source, null, "is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(source, null, $"is not valid JSON: {e.Message}");
        }
        JsonNode Required(string name) => json[name] ?? throw new ModelFormatException(source, name, "required field is missing");
        try
        {
            var kind = Required("kind").GetValue<string>();
            if (kind != "trigger") throw new ModelFormatException(source, "kind", $"is '{kind}'; this reader takes the 'trigger' kind");
            var triggers = Required("triggers").AsArray().Select(n => n!.GetValue<int>()).ToArray();
            return new TriggerTask(Required("vocab").GetValue<int>(), triggers, Required("seq_len").GetValue<int>(),
                Required("bigram_seed").GetValue<int>(), Required("bigram_sharpness").GetValue<double>(),
                Required("trigger_rate").GetValue<double>()).Validate(source);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
        {
            throw new ModelFormatException(source, null, $"a field has the wrong type: {e.Message}");
        }
    }

    /// <summary>Writes task.json into <paramref name="dir"/> through a temporary file renamed into place.</summary>
    public void Save(string dir)
    {
        AtomicFile.WriteText(Path.Combine(dir, "task.json"), ToJson());
    }
}
