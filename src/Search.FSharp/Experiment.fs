namespace PatchDescent.Search

type DataSource =
    | JsonlFile of path: string
    | Pairs of PairDataset
    | Task of Tasks.TaskRequest

[<RequireQualifiedAccess>]
type AblationChoice =
    | Patching
    | Zero
    | Mean of reference: DataSource option

type CurveMode =
    | FromAnneal
    | PerPointRuns

type Refinement =
    | NoRefinement
    | PruneRefinement of floor: float
    | SwapRefinement of floor: float

type CheckpointPolicy = { Every: int; Resume: bool }

type Precision =
    | Float32
    | BFloat16

type Compute = { Device: string; Precision: Precision; StrictFp32: bool }

type Experiment =
    { ModelDir: string
      Data: DataSource
      Granularity: Granularity
      Ablation: AblationChoice
      Method: Method
      Metric: Metric option
      Train: TrainSettings
      BatchSize: int
      Levels: float list
      CurveMode: CurveMode
      TargetEdges: int option
      Refine: Refinement
      RefineTrials: int option
      Checkpoint: CheckpointPolicy option
      OutDir: string
      Force: bool
      Compute: Compute }

module Compute =
    let auto = { Device = "auto"; Precision = Float32; StrictFp32 = false }

    let device (c: Compute) = PatchDescent.Model.DeviceChoice.Resolve c.Device

    let dtype precision =
        match precision with
        | Float32 -> TorchSharp.torch.ScalarType.Float32
        | BFloat16 -> TorchSharp.torch.ScalarType.BFloat16

    let apply (c: Compute) =
        let d = device c
        PatchDescent.Model.DeviceChoice.SetMatmulPrecision(d, c.StrictFp32)
        d

module Experiment =
    let mibLevels = [ 0.001; 0.002; 0.005; 0.01; 0.02; 0.05; 0.1; 0.2; 0.5; 1.0 ]

    let annealedTarget steps =
        TargetLagrangian({ Start = 0.0; End = 0.95; WarmupSteps = 0; AnnealSteps = steps * 4 / 5 }, 0.5)

    let defaults modelDir data outDir =
        { ModelDir = modelDir
          Data = data
          Granularity = Granularity.Full
          Ablation = AblationChoice.Patching
          Method = Descent
          Metric = None
          Train =
            { Steps = 300; LearningRate = 0.1; Gate = Gate.hardConcrete; Loss = Loss.kl
              Sparsity = annealedTarget 300; ClipNorm = None; Seed = 1; LogEvery = 10 }
          BatchSize = 16
          Levels = mibLevels
          CurveMode = FromAnneal
          TargetEdges = None
          Refine = PruneRefinement Methods.Prune.defaultFloor
          RefineTrials = None
          Checkpoint = None
          OutDir = outDir
          Force = false
          Compute = Compute.auto }

    let defaultRefineTrials steps batches = max 400 (2 * steps / max 1 batches)

    let withSteps steps (e: Experiment) =
        let stretch n = if e.Train.Steps = 0 then n else int (round (float n * float steps / float e.Train.Steps))
        let sparsity =
            match e.Train.Sparsity with
            | TargetLagrangian(t, rate) ->
                TargetLagrangian({ t with WarmupSteps = stretch t.WarmupSteps; AnnealSteps = stretch t.AnnealSteps }, rate)
            | pressure -> pressure
        { e with Train = { e.Train with Steps = steps; Sparsity = sparsity } }
