module PatchDescent.Tests.DoctorTests

open System.IO
open Expecto
open PatchDescent.Tests.Fixtures
open PatchDescent.Tests.HostTests

[<Tests>]
let tests =
    testSequenced <| testList "Doctor" [
        test "doctor names the bundled libtorch, its folder and version, and the fix for CUDA on a CPU-only build" {
            let code, out, err = runHost [ "doctor"; "--device"; "cpu" ]
            Expect.equal code 0 err
            let folder = Path.GetDirectoryName hostDll
            Expect.stringContains out "libtorch       bundled with PatchDescent (CPU build)" "which libtorch"
            Expect.stringContains out $"loaded from    {folder}" "from where"
            Expect.stringContains out "version        NuGet package libtorch-cpu-linux-x64 " "version"
            Expect.stringContains out "CUDA           not available; libtorch_cuda.so not loaded" "CUDA"
            Expect.stringContains out "fix: this libtorch is a CPU build" "the fix"
            Expect.stringContains out "device         cpu: matrix product and backward ok" "the device works"
        }
        test "doctor --device cuda without a GPU exits 1 saying how to supply a CUDA libtorch" {
            let code, out, _ = runHost [ "doctor"; "--device"; "cuda" ]
            Expect.equal code 1 "exit code"
            Expect.stringContains out "device         cuda: --device cuda: no CUDA device" "says so"
            Expect.stringContains out "--libtorch DIR" "the fix"
        }
        test "--libtorch naming a folder without libtorch exits 1 before the verb runs, listing what is missing" {
            use dir = new TempDir()
            let code, out, err = runHost [ "--libtorch"; dir.Path; "doctor" ]
            Expect.equal code 1 $"exit code; stdout: {out}"
            Expect.stringContains err $"error: --libtorch {dir.Path}: no libtorch here (libc10.so, libtorch_cpu.so, libtorch.so missing)" "the message"
            Expect.equal out "" "the verb did not run"
        }
    ]
