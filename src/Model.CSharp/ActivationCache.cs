using static TorchSharp.torch;

namespace PatchDescent.Model;

/// <summary>Activations recorded by <see cref="Decoder.RunWithCache"/>, by TransformerLens hook name; owns and disposes them.</summary>
public sealed class ActivationCache : IDisposable
{
    readonly Dictionary<string, Tensor> _activations = new();

    /// <summary>The names recorded, in the order the forward pass reached them.</summary>
    public IReadOnlyList<string> Names => _order;
    readonly List<string> _order = new();

    /// <summary>The activation recorded under <paramref name="name"/>.</summary>
    public Tensor this[string name] =>
        _activations.TryGetValue(name, out var t) ? t
            : throw new KeyNotFoundException($"hook point '{name}' was not cached; cached: {string.Join(", ", _order)}");

    /// <summary>Whether <paramref name="name"/> was recorded.</summary>
    public bool Contains(string name) => _activations.ContainsKey(name);

    internal void Add(string name, Tensor activation)
    {
        if (_activations.Remove(name, out var old)) old.Dispose();
        else _order.Add(name);
        _activations[name] = activation;
    }

    /// <summary>Disposes every recorded activation.</summary>
    public void Dispose()
    {
        foreach (var t in _activations.Values) t.Dispose();
        _activations.Clear();
        _order.Clear();
    }
}
