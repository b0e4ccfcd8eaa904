using TorchSharp;
using static TorchSharp.torch;

namespace PatchDescent.Model;

/// <summary>Rotary position embeddings in Hugging Face's rotate-half convention: dimension i pairs with i + d_head / 2,
/// rotated by position * inv_freq[i], inv_freq[i] = rope_theta^(-2i / d_head), rescaled by Llama 3's rule when given.</summary>
public sealed class RotaryEmbedding : IDisposable
{
    readonly Tensor _invFreq;   // [d_head / 2] float32

    /// <summary>The inverse frequencies of <paramref name="config"/>, computed in float64.</summary>
    public RotaryEmbedding(LlamaConfig config, Device device)
    {
        var half = config.DHead / 2;
        var inv = Enumerable.Range(0, half).Select(i => 1.0 / Math.Pow(config.RopeTheta, 2.0 * i / config.DHead)).ToArray();
        if (config.RopeScaling is { } r) inv = inv.Select(f => Llama3(r, f)).ToArray();
        InverseFrequencies = inv;
        using var scope = NewDisposeScope();
        _invFreq = tensor(inv.Select(f => (float)f).ToArray(), device: device).DetachFromDisposeScope();
    }

    /// <summary>The inverse frequencies, float64, [d_head / 2].</summary>
    public IReadOnlyList<double> InverseFrequencies { get; }

    /// <summary>Llama 3's rescaling of one inverse frequency: long wavelengths slowed by the factor, short ones kept, those between blended.</summary>
    static double Llama3(Llama3RopeScaling r, double invFreq)
    {
        var wavelength = 2 * Math.PI / invFreq;
        var lowFreqWavelength = r.OriginalMaxPositions / r.LowFreqFactor;
        var highFreqWavelength = r.OriginalMaxPositions / r.HighFreqFactor;
        if (wavelength < highFreqWavelength) return invFreq;
        if (wavelength > lowFreqWavelength) return invFreq / r.Factor;
        var smooth = (r.OriginalMaxPositions / wavelength - r.LowFreqFactor) / (r.HighFreqFactor - r.LowFreqFactor);
        return (1 - smooth) * invFreq / r.Factor + smooth * invFreq;
    }

    /// <summary>x [batch, head, pos, d_head] rotated at positions 0 .. pos - 1: x cos + rotate_half(x) sin.</summary>
    public Tensor Apply(Tensor x)
    {
        using var scope = NewDisposeScope();
        using var one = 1.ToScalar();                                                                   // a + b's alpha, held
        var pos = x.shape[2];
        var angles = arange(pos, dtype: ScalarType.Float32, device: x.device).outer(_invFreq);          // [pos, d_head / 2]
        var both = cat([angles, angles], 1);                                                             // [pos, d_head]
        var (cos, sin) = (both.cos().to(x.dtype), both.sin().to(x.dtype));
        var half = x.shape[3] / 2;
        var rotated = cat([x.narrow(3, half, half).neg(), x.narrow(3, 0, half)], 3);                    // rotate_half(x)
        return x.mul(cos).add(rotated.mul(sin), one).MoveToOuterDisposeScope();                               // [batch, head, pos, d_head]
    }

    /// <summary>Frees the frequencies.</summary>
    public void Dispose() => _invFreq.Dispose();
}
