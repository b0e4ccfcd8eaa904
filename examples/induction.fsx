// Discovery on the shipped trained induction model, whose heads the mechanism check establishes from attention
// patterns and ablations alone (models/induction-trigger-attn-2l4h/MODEL.md): the pairs come from its task.json, and
// the run writes circuit.json, circuit.dot, curve.csv, curve.png/svg and run.log into out/induction.
// `dotnet fsi build.fsx run` builds and runs this script.
#load "PatchDescent.fsx"

open System.IO
open PatchDescent.Search

let root = Path.Combine(__SOURCE_DIRECTORY__, "..")
let model = MainJob.modelDir root
let experiment = MainJob.experiment model (Path.Combine(root, "out/induction")) 400

printfn "model: models/induction-trigger-attn-2l4h, the trained attention-only induction model (mechanism check: previous-token head a0.h0, induction head a1.h0; see its MODEL.md)"
let result = Discovery.run experiment (fun l -> if (l.Step + 1) % 100 = 0 then printfn "step %d/400  kept %.3f" (l.Step + 1) l.ExpectedKeptFraction)
printfn "\n%-22s %s" "edge" "score"
for edge in Circuit.edges result.Circuit do
    printfn "%-22s %.3f" (Edge.name edge) result.Scores[Graph.edgeId result.Circuit.Shape edge]
let m = result.Metrics
printfn "\n%d edges of %d; faithfulness %.3f (answer logit %.3f; full model %.3f, empty circuit %.3f), KL %.4f nats"
    (Circuit.edgeCount result.Circuit) (Graph.edgeCount result.Circuit.Shape) m.Faithfulness m.Circuit m.Full m.Empty m.Kl
for p in result.Curve.Points do printfn "  top %3d edges -> %2d after pruning: faithfulness %.3f" p.K p.Edges p.Faithfulness
printfn "CPR %.3f, CMD %.3f; files in %s" result.Curve.Cpr result.Curve.Cmd result.OutDir
