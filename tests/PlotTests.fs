module PatchDescent.Tests.PlotTests

open System
open System.IO
open Expecto
open PatchDescent.Search
open PatchDescent.Tests.Fixtures

let private curve points =
    { Points = [ for fraction, f in points -> { Level = fraction; K = 0; Edges = 0; Fraction = fraction; Faithfulness = f; Kl = 0.0 } ]
      Cpr = nan; Cmd = nan }

[<Tests>]
let tests =
    testList "Plot" [
        test "writes a PNG and an SVG naming every curve" {
            use tmp = new TempDir()
            let png, svg = tmp.File "curve.png", tmp.File "curve.svg"
            let a = curve [ 0.0, 0.0; 0.01, 0.3; 0.1, 0.8; 1.0, 1.0 ]
            let b = curve [ 0.01, nan; 0.1, 0.5; 1.0, 1.0 ]
            Plot.faithfulness "test" [ "descent", a; "eap", b ] png svg
            let bytes = File.ReadAllBytes png
            Expect.sequenceEqual bytes[0..7] [| 0x89uy; 0x50uy; 0x4Euy; 0x47uy; 0x0Duy; 0x0Auy; 0x1Auy; 0x0Auy |] "PNG signature"
            let text = File.ReadAllText svg
            Expect.stringContains text "<svg" "an SVG document"
            for name in [ "descent"; "eap" ] do Expect.stringContains text name $"legend names {name}"
            Expect.isEmpty (Directory.GetFiles(tmp.Path, "*.tmp-*")) "no temporary file left"
        }
        test "a figure with nothing to draw is refused and writes nothing" {
            use tmp = new TempDir()
            let png, svg = tmp.File "curve.png", tmp.File "curve.svg"
            Expect.throwsT<ArgumentException> (fun () -> Plot.faithfulness "empty" [ "descent", curve [ 0.0, 0.0; 0.1, nan ] ] png svg) "refused"
            Expect.isFalse (File.Exists png || File.Exists svg) "no file"
        }
    ]
