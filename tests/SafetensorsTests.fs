module PatchDescent.Tests.SafetensorsTests

open System
open System.IO
open System.Text
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open PatchDescent.Model
open PatchDescent.Tests.Fixtures

/// A safetensors file assembled byte by byte from a header text and a data section, independent of the writer.
let private rawFile (path: string) (header: string) (data: byte[]) =
    let h = Encoding.UTF8.GetBytes header
    File.WriteAllBytes(path, Array.concat [ BitConverter.GetBytes(int64 h.Length); h; data ])

let private expectRejected (path: string) (fragments: string list) =
    let e = Expect.throwsC (fun () -> (SafetensorsFile.Open path).Dispose()) id
    Expect.isTrue (e :? ModelFormatException) $"ModelFormatException, got {e.GetType().Name}: {e.Message}"
    for f in path :: fragments do Expect.stringContains e.Message f "message names it"

let private dtypes = [ torch.ScalarType.Float32; torch.ScalarType.Float16; torch.ScalarType.BFloat16; torch.ScalarType.Float64; torch.ScalarType.Int64 ]

let private shapes = Gen.choose (0, 4) |> Gen.bind (fun rank -> Gen.arrayOfLength rank (Gen.choose (1, 5) |> Gen.map int64))

[<Tests>]
let tests =
    testList "Safetensors" [
        testPropertyWithConfig { FsCheckConfig.defaultConfig with maxTest = 40 } "write then read is bit-exact for every dtype" <|
            Prop.forAll (Arb.fromGen (Gen.zip (Gen.elements dtypes) (Gen.listOfLength 3 shapes))) (fun (dtype, shapeList) ->
                use dir = new TempDir()
                let tensors = shapeList |> List.mapi (fun i s -> $"t{i}", (torch.randn(s) * 100.0).``to``(dtype))
                SafetensorsFile.Write(dir.File "x.safetensors", ResizeArray [ for n, t in tensors -> struct (n, t) ])
                use file = SafetensorsFile.Open(dir.File "x.safetensors")
                tensors |> List.forall (fun (name, t) ->
                    use back = file.Read name
                    back.dtype = t.dtype && back.shape = t.shape && back.bytes.ToArray() = t.bytes.ToArray()))
        test "metadata and the 8-byte alignment of the data section are written" {
            use dir = new TempDir()
            use t = torch.ones(3L)
            SafetensorsFile.Write(dir.File "m.safetensors", ResizeArray [ struct ("a", t) ], readOnlyDict [ "format", "pt" ])
            let bytes = File.ReadAllBytes(dir.File "m.safetensors")
            Expect.equal (BitConverter.ToInt64(bytes, 0) % 8L) 0L "header length is a multiple of 8"
            use file = SafetensorsFile.Open(dir.File "m.safetensors")
            Expect.equal file.Metadata["format"] "pt" "metadata"
        }
        test "a missing file names the file" {
            use dir = new TempDir()
            expectRejected (dir.File "absent.safetensors") [ "not found" ]
        }
        test "a truncated file names the tensor that runs past the end" {
            use dir = new TempDir()
            rawFile (dir.File "t.safetensors") """{"w":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]}}""" (Array.zeroCreate 20)
            expectRejected (dir.File "t.safetensors") [ "'w'"; "truncated" ]
        }
        test "a file one byte short of its last tensor is refused as truncated" {
            use dir = new TempDir()
            rawFile (dir.File "t.safetensors") """{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""" (Array.zeroCreate 15)
            expectRejected (dir.File "t.safetensors") [ "'w'"; "truncated" ]
        }
        test "a header that is not JSON is refused" {
            use dir = new TempDir()
            rawFile (dir.File "j.safetensors") "{ this is not json" [||]
            expectRejected (dir.File "j.safetensors") [ "not valid JSON" ]
        }
        test "a header length beyond the file is refused" {
            use dir = new TempDir()
            File.WriteAllBytes(dir.File "h.safetensors", Array.append (BitConverter.GetBytes 1000L) (Array.zeroCreate 10))
            expectRejected (dir.File "h.safetensors") [ "header length" ]
        }
        test "overlapping tensors are refused, naming both" {
            use dir = new TempDir()
            rawFile (dir.File "o.safetensors")
                """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"""
                (Array.zeroCreate 12)
            expectRejected (dir.File "o.safetensors") [ "'b'"; "'a'"; "overlap" ]
        }
        test "an unknown dtype is refused, naming the tensor" {
            use dir = new TempDir()
            rawFile (dir.File "d.safetensors") """{"w":{"dtype":"Q7","shape":[2],"data_offsets":[0,2]}}""" (Array.zeroCreate 2)
            expectRejected (dir.File "d.safetensors") [ "'w'"; "Q7" ]
        }
        test "offsets that disagree with shape and dtype are refused" {
            use dir = new TempDir()
            rawFile (dir.File "s.safetensors") """{"w":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}}""" (Array.zeroCreate 8)
            expectRejected (dir.File "s.safetensors") [ "'w'"; "needs 6 bytes" ]
        }
    ]
