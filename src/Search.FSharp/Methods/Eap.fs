module PatchDescent.Search.Methods.Eap

let attributions (engine: PatchDescent.Search.Engine.CompiledEngine) batches metric =
    Attribution.gradientAt engine batches metric (Array.create engine.ParamCount 1.0)

let scores engine batches metric =
    Attribution.edgeScores engine (attributions engine batches metric |> Array.map abs)
