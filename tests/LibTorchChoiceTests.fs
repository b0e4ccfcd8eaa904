module PatchDescent.Tests.LibTorchChoiceTests

open System
open System.Diagnostics
open System.IO
open System.Text.RegularExpressions
open Expecto
open PatchDescent.Model
open PatchDescent.Tests.Fixtures

/// The test program built without the bundled libtorch (`dotnet fsi build.fsx publish-external-libtorch`), if built.
let private externalTests =
    let path = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../artifacts/patchdescent-external/PatchDescent.Tests.dll"))
    if File.Exists path then Some path else None

let private needsExternalBuild () =
    skiptest "artifacts/patchdescent-external is not built: run `dotnet fsi build.fsx publish-external-libtorch` to test the external-libtorch path"

/// Runs a test program (this one by default) in a fresh process with PATCHDESCENT_LIBTORCH set (unset when empty),
/// on one small test list; returns exit code, stdout and stderr.
let private runTestsWith (program: string option) (libtorch: string) =
    let self = program |> Option.defaultWith (fun () -> nonNull (Reflection.Assembly.GetEntryAssembly()).Location)
    let info = ProcessStartInfo("dotnet", [ self; "--filter"; "TorchSharp native library" ], RedirectStandardOutput = true, RedirectStandardError = true)
    info.Environment[LibTorchChoice.EnvironmentVariable] <- libtorch
    use p = nonNull (Process.Start info)
    let out = p.StandardOutput.ReadToEndAsync()
    let err = p.StandardError.ReadToEnd()
    p.WaitForExit()
    p.ExitCode, out.Result, err

/// The NuGet cache's CPU libtorch natives, a complete libtorch folder outside this build's output; only read.
let private nugetLibTorch () =
    let root =
        match Environment.GetEnvironmentVariable "NUGET_PACKAGES" with
        | null | "" -> Path.Combine(Environment.GetFolderPath Environment.SpecialFolder.UserProfile, ".nuget", "packages")
        | p -> p
    let package = Path.Combine(root, "libtorch-cpu-linux-x64")
    if Directory.Exists package then
        Directory.GetDirectories package
        |> Array.map (fun v -> Path.Combine(v, "runtimes", "linux-x64", "native"))
        |> Array.tryFind (fun d -> File.Exists(Path.Combine(d, "libtorch_cpu.so")))
    else None

[<Tests>]
let tests =
    testSequenced <| testList "LibTorchChoice" [
        test "a folder that does not exist is refused, naming it and how to find a Python environment's torch/lib" {
            let missing = Path.Combine(Path.GetTempPath(), "patchdescent-no-such-" + Guid.NewGuid().ToString "N")
            let e = Expect.throwsC (fun () -> LibTorchChoice.UseDirectory missing) id
            Expect.stringContains e.Message $"--libtorch {missing}: no such folder" "names the folder"
            Expect.stringContains e.Message "torch.__file__" "says how to find torch/lib"
        }
        test "a folder without libtorch is refused, listing what is missing" {
            use dir = new TempDir()
            File.WriteAllText(dir.File "libc10.so", "")
            let e = Expect.throwsC (fun () -> LibTorchChoice.UseDirectory dir.Path) id
            Expect.stringContains e.Message "no libtorch here (libtorch_cpu.so, libtorch.so missing)" "lists the missing files"
            Expect.isNull LibTorchChoice.Directory "nothing chosen"
        }
        test "a build that bundles the CPU libtorch refuses an external one before any test, naming the build to use (exit code 2)" {
            use dir = new TempDir()
            for f in [ "libc10.so"; "libtorch_cpu.so"; "libtorch.so" ] do File.WriteAllText(dir.File f, "")
            let code, out, err = runTestsWith None dir.Path
            Expect.equal code 2 $"exit code; stdout: {out}"
            Expect.stringContains err $"error: {LibTorchChoice.EnvironmentVariable}={dir.Path}: this build bundles a CPU libtorch" "names the variable and the reason"
            Expect.stringContains err "publish-external-libtorch" "names the build to use"
            Expect.isFalse (out.Contains "passed") "ran no test"
        }
        test "without the bundled libtorch, fake library files stop the tests with the loader's reason (exit code 2)" {
            match externalTests with
            | None -> needsExternalBuild ()
            | Some program ->
                use dir = new TempDir()
                for f in [ "libc10.so"; "libtorch_cpu.so"; "libtorch.so" ] do File.WriteAllText(dir.File f, String.replicate 100 "not an ELF file ")
                let code, out, err = runTestsWith (Some program) dir.Path
                Expect.equal code 2 $"exit code; stdout: {out}"
                let c10 = dir.File "libc10.so"
                Expect.stringContains err $"{c10}: cannot be loaded" "names the file"
                Expect.stringContains err "invalid ELF header" "gives the loader's reason"
        }
        test "without the bundled libtorch and with none named, the tests stop saying how to name one (exit code 2)" {
            match externalTests with
            | None -> needsExternalBuild ()
            | Some program ->
                let code, _, err = runTestsWith (Some program) ""
                Expect.equal code 2 "exit code"
                Expect.stringContains err "brings no libtorch" "the reason"
                Expect.stringContains err "--libtorch DIR, PATCHDESCENT_LIBTORCH=DIR or LD_LIBRARY_PATH=DIR" "the fix"
        }
        test "an external libtorch folder is the one loaded, and TorchSharp runs on it" {
            match externalTests, nugetLibTorch () with
            | None, _ -> needsExternalBuild ()
            | _, None -> skiptest "no libtorch-cpu-linux-x64 package in the NuGet cache to serve as an external libtorch"
            | Some program, Some dir ->
                let code, out, err = runTestsWith (Some program) dir
                Expect.equal code 0 $"exit code; stderr: {err}"
                Expect.stringContains out $"libtorch: {dir}/libtorch_cpu.so" "loaded from the external folder"
                Expect.stringContains out "2 passed, 0 failed" "the native library tests pass on it"
        }
        test "version.py beside a Python lib folder gives the PyTorch and CUDA versions" {
            use dir = new TempDir()
            let lib = Directory.CreateDirectory(dir.File "lib").FullName
            File.WriteAllText(dir.File "version.py", "from typing import Optional\n__version__ = '2.11.0+cu130'\ndebug = False\ncuda: Optional[str] = '13.0'\n")
            let versionPy = dir.File "version.py"
            Expect.equal (LibTorchChoice.Version lib) $"PyTorch 2.11.0+cu130, CUDA 13.0 ({versionPy})" "version"
            File.WriteAllText(dir.File "version.py", "__version__ = '2.11.0+cpu'\ncuda: Optional[str] = None\n")
            Expect.equal (LibTorchChoice.Version lib) $"PyTorch 2.11.0+cpu, no CUDA ({versionPy})" "CPU build"
        }
        test "a libtorch archive's build-version gives its version" {
            use dir = new TempDir()
            let lib = Directory.CreateDirectory(dir.File "lib").FullName
            File.WriteAllText(dir.File "build-version", "2.10.0+cu128\n")
            let buildVersion = dir.File "build-version"
            Expect.equal (LibTorchChoice.Version lib) $"libtorch 2.10.0+cu128 ({buildVersion})" "version"
        }
        test "the bundled libtorch's version is the NuGet package the lock file pins" {
            let lockFile = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../packages.lock.json"))
            let pinned = Regex.Match(File.ReadAllText lockFile, @"""libtorch-cpu-linux-x64"":\s*\{[^}]*""resolved"":\s*""([^""]+)""")
            Expect.isTrue pinned.Success "the lock file pins libtorch-cpu-linux-x64"
            let v = LibTorchChoice.Version AppContext.BaseDirectory
            Expect.equal v $"NuGet package libtorch-cpu-linux-x64 {pinned.Groups[1].Value} (PatchDescent.Tests.deps.json)" "version"
        }
    ]
