module PatchDescent.Search.Methods.EapIg

let attributions steps (engine: PatchDescent.Search.Engine.CompiledEngine) batches metric =
    if steps < 1 then invalidArg "steps" $"EAP-IG needs at least 1 step, got {steps}"
    let n = engine.ParamCount
    let total = Array.zeroCreate<float> n
    for k in 0 .. steps - 1 do
        let t = (float k + 0.5) / float steps
        let g = Attribution.gradientAt engine batches metric (Array.create n t)
        for i in 0 .. n - 1 do total[i] <- total[i] + g[i]
    total |> Array.map (fun g -> g / float steps)

let scores steps engine batches metric =
    Attribution.edgeScores engine (attributions steps engine batches metric |> Array.map abs)
