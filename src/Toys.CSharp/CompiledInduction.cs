using System.Text;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

using PatchDescent.Model;

namespace PatchDescent.Toys;

/// <summary>A 2-layer attention-only GPT-2 whose induction circuit is written by hand: a previous-token head a0.h0 and an induction head a1.h0, among seeded random distractor heads.</summary>
/// <remarks>
/// The residual stream of d_model = 128 is cut into four blocks of 32: the token (a one-hot over the vocabulary),
/// the position (a one-hot over the positions), the scratch (the previous token, written by a0.h0) and a block only
/// the distractors write. Every vector written into the stream sums to zero within its block (distractors: over all
/// of d_model), so the stream's mean is zero whatever an intervention keeps of it and LayerNorm only rescales it;
/// the weights are scaled for the norms the stream has in an ordinary forward pass.
/// </remarks>
public static class CompiledInduction
{
    /// <summary>Vocabulary size; token 0 is the BOS token every sequence starts with.</summary>
    public const int Vocab = 32;
    /// <summary>The beginning-of-sequence token, which never occurs inside a span.</summary>
    public const int Bos = 0;
    /// <summary>Shortest and longest repeated span the model is meant for: [BOS, r, r] stays within <see cref="Positions"/>.</summary>
    public const int MinSpan = 8, MaxSpan = 16;
    /// <summary>Context length.</summary>
    public const int Positions = 32;
    /// <summary>Heads per layer: head 0 is the circuit's, the others are distractors.</summary>
    public const int Heads = 4;
    /// <summary>The seed of the distractor weights of the shipped model.</summary>
    public const int DefaultSeed = 1;

    const int Block = 32, DModel = 4 * Block, DHead = Block;
    const int TokenBlock = 0, PositionBlock = Block, ScratchBlock = 2 * Block;
    /// <summary>Attention score margin (in logits of the softmax) of the intended key over every other key.</summary>
    const double ScoreGap = 20;
    /// <summary>Norm of the induction head's write into the token block, against 1 for the current token's embedding.</summary>
    const double CopyStrength = 8;
    /// <summary>Standard deviation of the distractors' query/key weights and of their value/output weights.</summary>
    const double DistractorQk = 0.1, DistractorOv = 0.03;

    /// <summary>The model's shape: 2 layers of 4 heads, d_model 128, 32 positions, 32 tokens, no MLPs.</summary>
    public static Gpt2Config Config { get; } = new(2, Heads, DModel, Positions, Vocab, 1e-5, AttnOnly: true);

    /// <summary>The edges of the induction circuit, in MIB names.</summary>
    public static IReadOnlyList<string> CircuitEdges { get; } =
    [
        "input->a0.h0<q>", "input->a0.h0<k>", "input->a0.h0<v>", "a0.h0->a1.h0<k>",
        "input->a1.h0<q>", "input->a1.h0<v>", "a1.h0->logits",
    ];

    /// <summary>Builds the model on the CPU; the distractor weights come from <paramref name="seed"/>, everything else is fixed.</summary>
    public static Gpt2 Build(int seed = DefaultSeed)
    {
        var rng = new SplitMix(seed);
        // A vector of norm^2 = 1 - 1/32 (a one-hot centred within its block) has |LayerNorm(x)| = sqrt(d_model).
        var unit = 1.0 - 1.0 / Block;
        var layer0Scale = Math.Sqrt(DModel / (2 * unit));     // LayerNorm's gain on token + position
        var layer1Scale = Math.Sqrt(DModel / (3 * unit));     // ... on token + position + scratch
        var scoreUnit = 1 / Math.Sqrt(DHead);                  // the attention's 1/sqrt(d_head)

        var wE = new float[Vocab * DModel];
        for (var t = 0; t < Vocab; t++) WriteCentredOneHot(wE, t * DModel, TokenBlock, t, 1);
        var wPos = new float[Positions * DModel];
        for (var p = 0; p < Positions; p++) WriteCentredOneHot(wPos, p * DModel, PositionBlock, p, 1);

        var layers = new Gpt2Block[2];
        for (var l = 0; l < 2; l++)
        {
            var wQkv = new float[DModel * 3 * Heads * DHead];
            var wO = new float[Heads * DHead * DModel];
            for (var h = 1; h < Heads; h++) WriteDistractor(wQkv, wO, h, rng);
            var scale = l == 0 ? layer0Scale : layer1Scale;
            var qk = Math.Sqrt(ScoreGap / (scale * scale * scoreUnit));
            if (l == 0)
            {
                // Previous-token head: the query at position p and the key at p - 1 meet in head dimension p.
                for (var p = 0; p < Positions; p++) SetQkv(wQkv, 0, PositionBlock + p, 0, p, qk);
                for (var p = 0; p + 1 < Positions; p++) SetQkv(wQkv, 1, PositionBlock + p, 0, p + 1, qk);
                // It copies the attended token into the scratch block at unit scale.
                for (var t = 0; t < Vocab; t++) SetQkv(wQkv, 2, TokenBlock + t, 0, t, 1 / scale);
                for (var t = 0; t < Vocab; t++) WriteCentredOneHot(wO, t * DModel, ScratchBlock, t, 1);
            }
            else
            {
                // Induction head: the current token's query meets the key of the position whose previous token it is.
                for (var t = 0; t < Vocab; t++) SetQkv(wQkv, 0, TokenBlock + t, 0, t, qk);
                for (var t = 0; t < Vocab; t++) SetQkv(wQkv, 1, ScratchBlock + t, 0, t, qk);
                // It copies the token at that position into the token block, which the unembedding reads.
                for (var t = 0; t < Vocab; t++) SetQkv(wQkv, 2, TokenBlock + t, 0, t, CopyStrength / scale);
                for (var t = 0; t < Vocab; t++) WriteCentredOneHot(wO, t * DModel, TokenBlock, t, 1);
            }
            layers[l] = new Gpt2Block
            {
                Ln1W = Tensor(Enumerable.Repeat(1f, DModel).ToArray(), DModel), Ln1B = Tensor(new float[DModel], DModel),
                WQkv = Tensor(wQkv, DModel, 3, Heads, DHead), BQkv = Tensor(new float[3 * DModel], 3, Heads, DHead),
                WO = Tensor(wO, Heads, DHead, DModel), BO = Tensor(new float[DModel], DModel),
            };
        }
        return new Gpt2(Config, Tensor(wE, Vocab, DModel), Tensor(wPos, Positions, DModel), layers,
            Tensor(Enumerable.Repeat(1f, DModel).ToArray(), DModel), Tensor(new float[DModel], DModel));
    }

    /// <summary>The task.json of the shipped model: the data its induction task is generated from.</summary>
    public static string TaskJson() =>
        new JsonObject
        {
            ["task"] = "induction",
            ["kind"] = "repeated-span",
            ["vocab"] = Vocab,
            ["bos"] = Bos,
            ["min_span"] = MinSpan,
            ["max_span"] = MaxSpan,
        }.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n";

    /// <summary>MODEL.md: how the model is built and which edges are its circuit.</summary>
    public static string ModelCard(int seed)
    {
        var s = new StringBuilder();
        s.AppendLine("# induction-compiled: a hand-compiled induction circuit");
        s.AppendLine();
        s.AppendLine($"Written by `patchdescent toy compile-induction --out DIR --seed {seed}` (`src/Model.CSharp/Toys/CompiledInduction.cs`);");
        s.AppendLine("no training, every weight is set by hand except the distractors', which are seeded.");
        s.AppendLine();
        s.AppendLine("## Shape");
        s.AppendLine();
        s.AppendLine($"GPT-2 layout (pre-LayerNorm blocks, tied unembedding), attention only: {Config.Layers} layers of {Heads} heads,");
        s.AppendLine($"d_model {DModel}, d_head {DHead}, {Positions} positions, {Vocab} tokens (token {Bos} is BOS). LayerNorm weights 1, every bias 0.");
        s.AppendLine();
        s.AppendLine("The residual stream is four blocks of 32 dimensions: token (one-hot of the token), position (one-hot of the");
        s.AppendLine("position), scratch (one-hot of the previous token, written by a0.h0), and a block only distractors write.");
        s.AppendLine("Every one-hot is centred within its block (e_i - 1/32) and every distractor write over all of d_model, so the");
        s.AppendLine("stream's mean is zero under any intervention and LayerNorm only rescales; the weights are scaled for the norm");
        s.AppendLine("the stream has in an ordinary forward pass (sqrt(2) entering layer 0, sqrt(3) entering layer 1, times sqrt(31/32)).");
        s.AppendLine();
        s.AppendLine("## Heads");
        s.AppendLine();
        s.AppendLine($"- a0.h0, previous-token head: Q reads the position block, K the position block shifted by one, so position p");
        s.AppendLine($"  attends to p - 1 with a score margin of {ScoreGap} over every other key; OV copies the token block into scratch.");
        s.AppendLine($"- a1.h0, induction head: Q reads the token block, K reads scratch, so a token attends to the position that");
        s.AppendLine($"  followed its earlier occurrence (margin {ScoreGap}); OV copies that position's token into the token block with");
        s.AppendLine($"  norm {CopyStrength} (the current token's own embedding has norm 1), which the tied unembedding reads.");
        s.AppendLine($"- a0.h1-a0.h3 and a1.h1-a1.h3, distractors: Q and K weights N(0, {DistractorQk}^2), V and O weights N(0, {DistractorOv}^2),");
        s.AppendLine($"  O centred over d_model; SplitMix64 seeded with {seed}, Box-Muller normals.");
        s.AppendLine();
        s.AppendLine("## Data (task.json)");
        s.AppendLine();
        s.AppendLine($"[BOS, r, r[..m]] for a span r of {MinSpan}-{MaxSpan} distinct non-BOS tokens and 1 <= m < |r|: the prompt ends inside");
        s.AppendLine("the second copy and the answer is r[m]. Corrupted: [BOS, s, s[..m]] for another span s whose tokens at m - 1 and m differ.");
        s.AppendLine();
        s.AppendLine("## Ground truth");
        s.AppendLine();
        s.AppendLine("The circuit is these edges of the Full graph (q, k, v separate):");
        s.AppendLine();
        foreach (var e in CircuitEdges) s.AppendLine($"- `{e}`");
        s.AppendLine();
        s.AppendLine("Interchange patching cannot see the first two: clean and corrupted prompts share their positions, and a0.h0's");
        s.AppendLine("query and key read positions only, so patching them changes nothing. Discovery with patching finds the other");
        s.AppendLine("five; zero ablation removes the position with the token, and with hard 0/1 coefficients it shows that each of");
        s.AppendLine("the seven is needed. (Zero ablation gives training no signal on layer 0: LayerNorm undoes any coefficient");
        s.AppendLine("between 0 and 1 of a receiver whose only sender is the input.) See `tests/CompiledInductionTests.fs`.");
        return s.ToString();
    }

    /// <summary>Writes config.json, model.safetensors, task.json and MODEL.md into <paramref name="dir"/> as an <see cref="OutputFolder"/> of `toy compile-induction` (<paramref name="force"/> replaces another verb's run), which appears whole or not at all.</summary>
    public static void Write(string dir, int seed = DefaultSeed, bool force = false)
    {
        var folder = OutputFolder.Claim("--out", dir, "toy compile-induction", [], force);
        folder.Write(temp =>
        {
            using (var model = Build(seed))
                Checkpoint.Save(model, temp, new Dictionary<string, string> { ["patchdescent"] = $"compiled induction, seed {seed}" });
            File.WriteAllText(Path.Combine(temp, "task.json"), TaskJson());
            File.WriteAllText(Path.Combine(temp, "MODEL.md"), ModelCard(seed));
            return temp;
        });
    }

    static void WriteCentredOneHot(float[] target, int rowStart, int block, int index, double scale)
    {
        for (var i = 0; i < Block; i++) target[rowStart + block + i] = (float)(scale * ((i == index ? 1 : 0) - 1.0 / Block));
    }

    // c_attn's layout: [d_model, 3 (q, k, v), head, d_head].
    static void SetQkv(float[] wQkv, int port, int row, int head, int column, double value) =>
        wQkv[((row * 3 + port) * Heads + head) * DHead + column] = (float)value;

    static void WriteDistractor(float[] wQkv, float[] wO, int head, SplitMix rng)
    {
        for (var port = 0; port < 3; port++)
            for (var row = 0; row < DModel; row++)
                for (var c = 0; c < DHead; c++)
                    SetQkv(wQkv, port, row, head, c, rng.Normal() * (port < 2 ? DistractorQk : DistractorOv));
        for (var r = 0; r < DHead; r++)
        {
            var start = (head * DHead + r) * DModel;
            var row = Enumerable.Range(0, DModel).Select(_ => rng.Normal() * DistractorOv).ToArray();
            var mean = row.Average();
            for (var i = 0; i < DModel; i++) wO[start + i] = (float)(row[i] - mean);
        }
    }

    static Tensor Tensor(float[] values, params long[] shape)
    {
        using var scope = NewDisposeScope();
        return tensor(values).reshape(shape).DetachFromDisposeScope();
    }

    /// <summary>SplitMix64 with Box-Muller normals: a sequence fixed by its definition, which System.Random's seeded one is not promised to be.</summary>
    sealed class SplitMix(int seed)
    {
        ulong _state = (ulong)seed;

        ulong Next()
        {
            var z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        double Uniform() => ((Next() >> 11) + 0.5) / (1UL << 53);

        public double Normal() => Math.Sqrt(-2 * Math.Log(Uniform())) * Math.Cos(2 * Math.PI * Uniform());
    }
}
