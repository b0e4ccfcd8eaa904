using System.IO.MemoryMappedFiles;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace PatchDescent.Model;

/// <summary>One tensor's entry in a safetensors header: dtype, shape and byte range within the data section.</summary>
public sealed record SafetensorsEntry(string Name, string DType, long[] Shape, long Begin, long End);

/// <summary>
/// A safetensors file, validated strictly on open and memory-mapped, so each tensor is copied once,
/// straight from the page cache into the tensor's own memory.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    const long MaxHeaderBytes = 100L << 20;

    static readonly Dictionary<string, (ScalarType Type, int Size)> DTypes = new()
    {
        ["F32"] = (ScalarType.Float32, 4),
        ["F16"] = (ScalarType.Float16, 2),
        ["BF16"] = (ScalarType.BFloat16, 2),
        ["F64"] = (ScalarType.Float64, 8),
        ["I64"] = (ScalarType.Int64, 8),
        ["I32"] = (ScalarType.Int32, 4),
        ["U8"] = (ScalarType.Byte, 1),
        ["BOOL"] = (ScalarType.Bool, 1),
    };

    readonly MemoryMappedFile _map;
    readonly MemoryMappedViewAccessor _view;
    readonly long _dataStart;

    /// <summary>The file's path, as given.</summary>
    public string Path { get; }

    /// <summary>Every tensor in the file, by name.</summary>
    public IReadOnlyDictionary<string, SafetensorsEntry> Entries { get; }

    /// <summary>The header's free-form <c>__metadata__</c> strings.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    SafetensorsFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, long dataStart,
        Dictionary<string, SafetensorsEntry> entries, Dictionary<string, string> metadata)
    {
        Path = path;
        _map = map;
        _view = view;
        _dataStart = dataStart;
        Entries = entries;
        Metadata = metadata;
    }

    /// <summary>Opens and validates <paramref name="path"/>: header length, JSON, dtypes, shapes, offsets in range and non-overlapping.</summary>
    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new ModelFormatException(path, null, "file not found");
        var length = new FileInfo(path).Length;
        if (length < 8) throw new ModelFormatException(path, null, $"is {length} bytes long, too short to hold a safetensors header length");

        byte[] header;
        using (var stream = File.OpenRead(path))
        {
            var lengthBytes = new byte[8];
            stream.ReadExactly(lengthBytes);
            var headerLength = BitConverter.ToInt64(lengthBytes);
            if (headerLength <= 0 || headerLength > MaxHeaderBytes || headerLength > length - 8)
                throw new ModelFormatException(path, null,
                    $"header length {headerLength:N0} does not fit a file of {length:N0} bytes: not a safetensors file, or truncated");
            header = new byte[headerLength];
            stream.ReadExactly(header);
        }

        var dataStart = 8 + header.Length;
        var (entries, metadata) = ParseHeader(path, header, length - dataStart);
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        return new SafetensorsFile(path, map, view, dataStart, entries, metadata);
    }

    static (Dictionary<string, SafetensorsEntry>, Dictionary<string, string>) ParseHeader(string path, byte[] header, long dataLength)
    {
        JsonObject json;
        try
        {
            json = JsonNode.Parse(Encoding.UTF8.GetString(header)) as JsonObject
                   ?? throw new ModelFormatException(path, null, "header is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(path, null, $"header is not valid JSON: {e.Message}");
        }

        var entries = new Dictionary<string, SafetensorsEntry>();
        var metadata = new Dictionary<string, string>();
        foreach (var (name, node) in json)
        {
            if (name == "__metadata__")
            {
                if (node is JsonObject meta)
                    foreach (var (key, value) in meta)
                        metadata[key] = value?.ToString() ?? "";
                continue;
            }
            entries[name] = ParseEntry(path, name, node, dataLength);
        }

        SafetensorsEntry? previous = null;
        foreach (var entry in entries.Values.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (previous is not null && entry.Begin < previous.End)
                throw new ModelFormatException(path, entry.Name,
                    $"bytes [{entry.Begin:N0}, {entry.End:N0}) overlap tensor '{previous.Name}' at [{previous.Begin:N0}, {previous.End:N0})");
            previous = entry;
        }
        return (entries, metadata);
    }

    static SafetensorsEntry ParseEntry(string path, string name, JsonNode? node, long dataLength)
    {
        try
        {
            if (node is not JsonObject o) throw new ModelFormatException(path, name, "header entry is not an object");
            var dtype = o["dtype"]?.GetValue<string>() ?? throw new ModelFormatException(path, name, "header entry has no dtype");
            if (!DTypes.TryGetValue(dtype, out var info))
                throw new ModelFormatException(path, name, $"unknown dtype '{dtype}' (supported: {string.Join(", ", DTypes.Keys)})");
            var shape = (o["shape"] as JsonArray ?? throw new ModelFormatException(path, name, "header entry has no shape"))
                .Select(d => d!.GetValue<long>()).ToArray();
            if (shape.Any(d => d < 0)) throw new ModelFormatException(path, name, $"negative dimension in shape [{string.Join(", ", shape)}]");
            var offsets = o["data_offsets"] as JsonArray;
            if (offsets is null || offsets.Count != 2) throw new ModelFormatException(path, name, "data_offsets must be [begin, end]");
            long begin = offsets[0]!.GetValue<long>(), end = offsets[1]!.GetValue<long>();
            var bytes = shape.Aggregate(1L, (a, d) => a * d) * info.Size;
            if (begin < 0 || end < begin)
                throw new ModelFormatException(path, name, $"data_offsets [{begin:N0}, {end:N0}] are not an increasing range");
            if (end - begin != bytes)
                throw new ModelFormatException(path, name,
                    $"[{string.Join(", ", shape)}] {dtype} needs {bytes:N0} bytes, but data_offsets span {end - begin:N0}");
            if (end > dataLength)
                throw new ModelFormatException(path, name,
                    $"([{string.Join(", ", shape)}], {dtype}) needs {bytes:N0} bytes at offset {begin:N0}, but the data section ends " +
                    $"{dataLength:N0} bytes in: the file looks truncated; fetch it again");
            return new SafetensorsEntry(name, dtype, shape, begin, end);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new ModelFormatException(path, name, $"header entry has a field of the wrong type: {e.Message}");
        }
    }

    /// <summary>The tensor <paramref name="name"/> on the CPU, in the dtype the file stores.</summary>
    public unsafe Tensor Read(string name)
    {
        if (!Entries.TryGetValue(name, out var entry)) throw new ModelFormatException(Path, name, "no such tensor in the file");
        var tensor = empty(entry.Shape, DTypes[entry.DType].Type);
        byte* pointer = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        try
        {
            var source = pointer + _view.PointerOffset + _dataStart + entry.Begin;
            new ReadOnlySpan<byte>(source, checked((int)(entry.End - entry.Begin))).CopyTo(tensor.bytes);
        }
        finally
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
        }
        return tensor;
    }

    /// <summary>Writes <paramref name="tensors"/> (CPU or not, any supported dtype) to <paramref name="path"/> through a temporary file, so no half-written file is ever left.</summary>
    public static void Write(string path, IReadOnlyList<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
            header["__metadata__"] = new JsonObject(metadata.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value)));
        using var scope = NewDisposeScope();
        var contiguous = new List<Tensor>();
        long offset = 0;
        foreach (var (name, tensor) in tensors)
        {
            var dtype = DTypes.First(kv => kv.Value.Type == tensor.dtype).Key;
            var cpu = tensor.detach().cpu().contiguous();
            contiguous.Add(cpu);
            var bytes = cpu.NumberOfElements * DTypes[dtype].Size;
            header[name] = new JsonObject
            {
                ["dtype"] = dtype,
                ["shape"] = new JsonArray(cpu.shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }

        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        // The spec pads the header with spaces so the data section starts 8-byte aligned.
        var padded = (headerBytes.Length + 7) / 8 * 8;
        AtomicFile.Write(path, temp =>
        {
            using var stream = File.Create(temp);
            stream.Write(BitConverter.GetBytes((long)padded));
            stream.Write(headerBytes);
            for (var i = headerBytes.Length; i < padded; i++) stream.WriteByte((byte)' ');
            foreach (var tensor in contiguous) stream.Write(tensor.bytes);
        });
    }

    /// <summary>Unmaps the file.</summary>
    public void Dispose()
    {
        _view.Dispose();
        _map.Dispose();
    }
}
