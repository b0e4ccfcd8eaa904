// MSBuild task (compiled by RoslynCodeTaskFactory from Directory.Build.targets).
// TorchSharp 0.107.0's libLibTorchSharp.so asks for GLIBCXX_3.4.32 through one symbol that no
// relocation uses; Debian 12's libstdc++ stops at 3.4.30, so the loader refuses the library.
// Marking that one version requirement weak (VER_FLG_WEAK) lets the loader accept it.
// Only the copy in a build or publish folder is rewritten, never the NuGet cache, and only
// when the system libstdc++ lacks the version.
using System;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class WeakenGlibcxxRequirement : Task
{
    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlgWeak = 0x2;

    [Required] public string Directory { get; set; } = "";
    public string Version { get; set; } = "GLIBCXX_3.4.32";
    public string LibraryName { get; set; } = "libLibTorchSharp.so";

    static readonly string[] StdcxxDirs =
    {
        "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib"
    };

    public override bool Execute()
    {
        var library = Path.Combine(Directory, LibraryName);
        if (!File.Exists(library)) return true;
        if (SystemHasVersion())
        {
            Log.LogMessage(MessageImportance.Low, $"{library}: system libstdc++ provides {Version}; left untouched.");
            return true;
        }
        try
        {
            var bytes = File.ReadAllBytes(library);
            var state = MarkWeak(bytes, Version);
            if (state == Outcome.AlreadyWeak || state == Outcome.NotRequired) return true;
            // Write beside and rename over the output copy: a hard link into the NuGet cache is replaced, not written through.
            var temp = library + ".weak-tmp";
            File.WriteAllBytes(temp, bytes);
            File.Delete(library);
            File.Move(temp, library);
            Log.LogMessage(MessageImportance.High, $"{library}: marked the {Version} requirement weak (system libstdc++ lacks it).");
            return true;
        }
        catch (InvalidDataException e)
        {
            Log.LogError($"{library}: {e.Message}");
            return false;
        }
    }

    bool SystemHasVersion()
    {
        var needle = Encoding.ASCII.GetBytes(Version + "\0");
        var dirs = (Environment.GetEnvironmentVariable("LD_LIBRARY_PATH") ?? "")
            .Split(new[] { ':' }, StringSplitOptions.RemoveEmptyEntries).Concat(StdcxxDirs);
        foreach (var dir in dirs)
        {
            var candidate = Path.Combine(dir, "libstdc++.so.6");
            if (File.Exists(candidate)) return Contains(File.ReadAllBytes(candidate), needle);
        }
        return false;
    }

    static bool Contains(byte[] haystack, byte[] needle)
    {
        for (var i = Array.IndexOf(haystack, needle[0]); i >= 0 && i <= haystack.Length - needle.Length;
             i = Array.IndexOf(haystack, needle[0], i + 1))
        {
            var j = 1;
            while (j < needle.Length && haystack[i + j] == needle[j]) j++;
            if (j == needle.Length) return true;
        }
        return false;
    }

    public enum Outcome { Marked, AlreadyWeak, NotRequired }

    /// Sets VER_FLG_WEAK on the Vernaux entry named `version` in the ELF64 image's .gnu.version_r.
    public static Outcome MarkWeak(byte[] elf, string version)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("not a little-endian 64-bit ELF file");
        var shoff = checked((int)U64(elf, 0x28));
        int shentsize = U16(elf, 0x3A), shnum = U16(elf, 0x3C);
        for (var i = 0; i < shnum; i++)
        {
            var sh = shoff + i * shentsize;
            if (U32(elf, sh + 4) != ShtGnuVerneed) continue;
            var offset = checked((int)U64(elf, sh + 0x18));
            var count = U32(elf, sh + 0x2C);
            var strtab = checked((int)U64(elf, shoff + (int)U32(elf, sh + 0x28) * shentsize + 0x18));
            var need = offset;
            for (var n = 0; n < count; n++)
            {
                var aux = need + (int)U32(elf, need + 8);
                for (var a = 0; a < U16(elf, need + 2); a++)
                {
                    if (CString(elf, strtab + (int)U32(elf, aux + 8)) == version)
                    {
                        var flags = U16(elf, aux + 4);
                        if ((flags & VerFlgWeak) != 0) return Outcome.AlreadyWeak;
                        var weak = (ushort)(flags | VerFlgWeak);
                        elf[aux + 4] = (byte)(weak & 0xff);
                        elf[aux + 5] = (byte)(weak >> 8);
                        return Outcome.Marked;
                    }
                    aux += (int)U32(elf, aux + 12);
                }
                need += (int)U32(elf, need + 12);
            }
        }
        return Outcome.NotRequired;
    }

    static ushort U16(byte[] b, int at) => BitConverter.ToUInt16(b, at);
    static uint U32(byte[] b, int at) => BitConverter.ToUInt32(b, at);
    static ulong U64(byte[] b, int at) => BitConverter.ToUInt64(b, at);
    static string CString(byte[] b, int at) => Encoding.ASCII.GetString(b, at, Array.IndexOf(b, (byte)0, at) - at);
}
