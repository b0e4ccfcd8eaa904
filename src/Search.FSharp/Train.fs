namespace PatchDescent.Search

open System
open System.Diagnostics
open System.Globalization
open System.IO
open System.Security.Cryptography
open System.Text
open System.Text.RegularExpressions
open TorchSharp
open PatchDescent.Model

type SparsityPressure =
    | L1Penalty of weight: float
    | TargetLagrangian of TargetSchedule * lagrangianLearningRate: float

type TrainSettings =
    { Steps: int
      LearningRate: float
      Gate: Gate
      Loss: Loss
      Sparsity: SparsityPressure
      ClipNorm: float option
      Seed: int
      LogEvery: int }

type Checkpointing = { Path: string; Every: int; Resume: bool; Context: (string * string) list }

type TrainOptions = { Checkpoint: Checkpointing option; RecordLevels: float list }

[<NoEquality; NoComparison>]
type PreparedBatchWithTargets =
    { Batch: Engine.PreparedBatch
      Answers: torch.Tensor
      Wrongs: torch.Tensor option
      Thresholds: torch.Tensor option
      FullLogits: torch.Tensor }

type StepLog =
    { Step: int
      Terms: (string * float) list
      ExpectedKeptFraction: float
      Target: float option
      ExpectedKeptEdges: float
      EdgesAtThreshold: int
      TotalSteps: int
      Elapsed: TimeSpan }

type RecordedScores = { Level: float; Step: int; Scores: float[]; Ranking: float[] }

type TrainResult = { LogAlpha: float[]; Scores: float[]; Ranking: float[]; LastOpen: int[]; Steps: int; Recorded: RecordedScores list; ResumedAt: int option }

exception TrainingDiverged of step: int * lastCheckpoint: (int * string) option * detail: string
    with
        override this.Message =
            let checkpoint =
                match this.lastCheckpoint with
                | Some (steps, path) -> $"; the last checkpoint, after {steps} steps, is {path}"
                | None -> "; no checkpoint was written before it"
            $"training diverged at step {this.step} (0-based): {this.detail}{checkpoint}"

module Train =
    let private beta1, beta2, epsilon = 0.9, 0.999, 1e-8

    let private scalar (t: torch.Tensor) =
        use scope = torch.NewDisposeScope()
        t.``to``(torch.ScalarType.Float64).item<float>()

    let private floats (t: torch.Tensor) =
        use scope = torch.NewDisposeScope()
        t.detach().cpu().``to``(torch.ScalarType.Float64).contiguous().data<float>().ToArray()

    let withTargets (engine: Engine.CompiledEngine) (batch: Engine.PreparedBatch) answers wrongs thresholds =
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        let model = engine.Model
        let ones = torch.ones([| int64 engine.ParamCount |], dtype = model.DType, device = model.Device)
        let full = engine.Forward(ones, batch).MoveToOuterDisposeScope()
        { Batch = batch; Answers = answers; Wrongs = wrongs; Thresholds = thresholds; FullLogits = full }

    let edgeScores (engine: Engine.CompiledEngine) gate (logAlpha: float[]) =
        let schedule = engine.Schedule
        if logAlpha.Length <> schedule.ParamCount then
            invalidArg "logAlpha" $"{logAlpha.Length} logits for an engine with {schedule.ParamCount} learnable parameters"
        let gates =
            use scope = torch.NewDisposeScope()
            floats (Gate.deterministic gate (torch.tensor(logAlpha)))
        schedule.Source |> Array.map (function
            | Fixed v -> v
            | Param i -> gates[i])

    let rankingBy (scores: float[]) (tieBreak: float[]) =
        if tieBreak.Length <> scores.Length then
            invalidArg "tieBreak" $"{tieBreak.Length} tie-break values for {scores.Length} scores"
        let order = Array.init scores.Length id |> Array.sortBy (fun id -> -scores[id], -tieBreak[id], id)
        let keys = Array.zeroCreate scores.Length
        order |> Array.iteri (fun position id -> keys[id] <- float (scores.Length - 1 - position))
        keys

    let ranking (engine: Engine.CompiledEngine) gate (logAlpha: float[]) =
        let logit id =
            match engine.Schedule.Source[id] with
            | Param i -> logAlpha[i]
            | Fixed _ -> 0.0
        let scores = edgeScores engine gate logAlpha
        rankingBy scores (Array.init scores.Length logit)

    let private check (settings: TrainSettings) (options: TrainOptions) (engine: Engine.CompiledEngine) (batches: PreparedBatchWithTargets list) =
        if List.isEmpty batches then invalidArg "batches" "training needs at least one batch"
        if engine.ParamCount = 0 then invalidArg "engine" "the engine's schedule learns no coefficient: there is nothing to train"
        if settings.Steps < 0 then invalidArg "settings" $"Steps is {settings.Steps}; it must be 0 or more"
        if settings.LogEvery < 1 then invalidArg "settings" $"LogEvery is {settings.LogEvery}; it must be 1 or more"
        for level in options.RecordLevels do
            if not (level >= 0.0 && level <= 1.0) then invalidArg "options" $"record level {level} is outside [0, 1]"
        options.Checkpoint |> Option.iter (fun c ->
            if c.Every < 1 then invalidArg "options" $"checkpoint Every is {c.Every}; it must be 1 or more")

    /// The gates of one record level: the edge count to reach, the logits recorded (when `Step` >= 0) and the step.
    [<NoEquality; NoComparison>]
    type private Record = { Level: float; MaxEdges: float; LogAlpha: torch.Tensor; Step: torch.Tensor }

    /// Leaf tensors that live for the whole run, outside every step's scope: the logits, Adam's moments, the
    /// multipliers, the records, and the first step whose loss was not finite (-1 while none was), kept on the
    /// device so that finding it costs no read-back.
    [<NoEquality; NoComparison>]
    type private State =
        { LogAlpha: torch.Tensor; M: torch.Tensor; V: torch.Tensor
          Lambda1: torch.Tensor; Lambda2: torch.Tensor; FirstBad: torch.Tensor; LastOpen: torch.Tensor; Records: Record[] }
        member s.All =
            [ s.LogAlpha; s.M; s.V; s.Lambda1; s.Lambda2; s.FirstBad; s.LastOpen ] @ [ for r in s.Records do yield r.LogAlpha; yield r.Step ]
        /// What a checkpoint saves, by name; `FirstBad` is left out, since a checkpoint is only written while it is -1.
        member s.Saved =
            [ yield "log_alpha", s.LogAlpha; yield "adam_m", s.M; yield "adam_v", s.V
              yield "lambda1", s.Lambda1; yield "lambda2", s.Lambda2; yield "last_open", s.LastOpen
              for i, r in Array.indexed s.Records do
                  yield $"record.{i}.log_alpha", r.LogAlpha
                  yield $"record.{i}.step", r.Step ]

    let private initialState (settings: TrainSettings) (options: TrainOptions) (engine: Engine.CompiledEngine) =
        use scope = torch.NewDisposeScope()
        let model = engine.Model
        let logAlpha = torch.tensor(Gate.initialLogAlpha settings.Gate engine.Schedule.Init).``to``(model.DType, model.Device)
        let zeros () = torch.zeros_like logAlpha
        let multiplier () = torch.zeros(Array.empty<int64>, dtype = model.DType, device = model.Device).requires_grad_(true)
        let edges = float engine.Schedule.Source.Length
        use minusOne = (-1L).ToScalar()
        let s =
            { LogAlpha = logAlpha.requires_grad_(true); M = zeros (); V = zeros ()
              Lambda1 = multiplier (); Lambda2 = multiplier ()
              FirstBad = torch.tensor(-1L, device = model.Device)
              LastOpen = torch.zeros([| int64 engine.ParamCount |], dtype = torch.ScalarType.Int64, device = model.Device).fill_(minusOne)
              Records =
                [| for level in options.RecordLevels ->
                    { Level = level; MaxEdges = level * edges; LogAlpha = zeros ()
                      Step = torch.tensor(-1L, device = model.Device) } |] }
        for t in s.All do t.DetachFromDisposeScope() |> ignore
        s

    /// The steps done and path of the newest checkpoint this run wrote or resumed from.
    type private Progress = { mutable LastCheckpoint: (int * string) option }

    let private failIfDiverged (s: State) (settings: TrainSettings) (progress: Progress) =
        let first = int (s.FirstBad.item<int64>())
        if first >= 0 then
            let detail =
                $"the loss was NaN or infinite (it is checked every {settings.LogEvery} steps, so a few more steps may have run); "
                + "look for NaN in the model weights (patchdescent info --model DIR names such tensors) or in the full logits; in a script, lower TrainSettings.LearningRate or set TrainSettings.ClipNorm"
            raise (TrainingDiverged(first, progress.LastCheckpoint, detail))

    /// One Adam step on the logits and, for the Lagrangian, one ascent step on the multipliers, under no_grad. Every
    /// number is a Scalar held until the step ends (see `Gate`'s note): TorchSharp's own conversions leave theirs to
    /// the finalizer, which another thread's collection can run while libtorch still reads the Scalar.
    let private update (settings: TrainSettings) (s: State) (step: int) =
        use _ = torch.no_grad ()
        use one = 1.0.ToScalar()
        let g = nonNull s.LogAlpha.grad
        settings.ClipNorm |> Option.iter (fun maxNorm ->
            // Scaling by min(1, maxNorm / norm) on the device keeps the step free of read-backs; the 1e-6 keeps a
            // zero gradient from dividing by zero.
            // maxNorm / x as TorchSharp's operator computes it, x's reciprocal times maxNorm, so the bits stay.
            use tiny = 1e-6.ToScalar()
            use norm = maxNorm.ToScalar()
            g.mul_(g.norm().add(tiny, one).reciprocal().mul(norm).clamp_max(one)) |> ignore)
        let t = float (step + 1)
        use b1 = beta1.ToScalar()
        use b2 = beta2.ToScalar()
        use rest1 = (1.0 - beta1).ToScalar()
        use rest2 = (1.0 - beta2).ToScalar()
        use correct1 = (1.0 - beta1 ** t).ToScalar()
        use correct2 = (1.0 - beta2 ** t).ToScalar()
        use eps = epsilon.ToScalar()
        use rate = settings.LearningRate.ToScalar()
        s.M.mul_(b1).add_(g.mul(rest1), one) |> ignore
        s.V.mul_(b2).add_(g.square().mul(rest2), one) |> ignore
        let mHat, vHat = s.M.div(correct1), s.V.div(correct2)
        s.LogAlpha.sub_(mHat.div(vHat.sqrt().add(eps, one)).mul(rate)) |> ignore
        g.zero_() |> ignore
        match settings.Sparsity with
        | L1Penalty _ -> ()
        | TargetLagrangian (_, ascent) ->
            use ascentRate = ascent.ToScalar()
            // Ascent: the multipliers move WITH their gradient, which is the descent step on the negated gradient.
            for lambda in [ s.Lambda1; s.Lambda2 ] do
                let lg = nonNull lambda.grad
                lambda.add_(lg.mul(ascentRate), one) |> ignore
                lg.zero_() |> ignore

    /// Records the logits into every level not yet recorded whose edge count the expected kept edges have reached,
    /// on the device: a masked copy per level, no read-back.
    let private record (s: State) (keptEdges: torch.Tensor) (step: int) =
        use _ = torch.no_grad ()
        use zero = 0L.ToScalar()
        use stepScalar = (int64 step).ToScalar()
        for r in s.Records do
            use maxEdges = r.MaxEdges.ToScalar()
            let now = keptEdges.le(maxEdges).logical_and(r.Step.lt(zero))
            r.LogAlpha.copy_(torch.where(now, s.LogAlpha, r.LogAlpha)) |> ignore
            r.Step.masked_fill_(now, stepScalar) |> ignore

    /// One step in its own dispose scope; returns the log when one is due.
    let private trainStep settings (engine: Engine.CompiledEngine) (batches: PreparedBatchWithTargets[]) generator (s: State) step (elapsed: unit -> TimeSpan) =
        use scope = torch.NewDisposeScope()
        let b = batches[step % batches.Length]
        let coefficients = Gate.sample settings.Gate s.LogAlpha generator
        let logits = engine.Forward(coefficients, b.Batch)
        let faithfulness =
            Loss.evaluate settings.Loss
                { Patched = logits; Full = b.FullLogits; Answers = b.Answers; Wrongs = b.Wrongs; Thresholds = b.Thresholds
                  Coefficients = Some coefficients }
        let kept = Gate.expectedL0 settings.Gate s.LogAlpha
        let keptEdges =
            using (torch.no_grad ()) (fun _ -> engine.EdgeCoefficients(Gate.keepProbabilities settings.Gate s.LogAlpha).sum())
        use one = 1.0.ToScalar()
        let penalty, target =
            match settings.Sparsity with
            | L1Penalty weight ->
                use w = weight.ToScalar()
                kept.mul(w), None
            | TargetLagrangian (schedule, _) ->
                let t = TargetSchedule.at schedule step
                // 1 - kept as -kept + 1: the same float, with the 1 held.
                Lagrangian.penalty (kept.neg().add(one, one)) t s.Lambda1 s.Lambda2, Some t
        let total = faithfulness.Total.add(penalty, one)
        using (torch.no_grad ()) (fun _ ->
            use zero = 0L.ToScalar()
            use stepScalar = (int64 step).ToScalar()
            let bad = total.isfinite().logical_not().logical_and(s.FirstBad.lt(zero))
            s.FirstBad.masked_fill_(bad, stepScalar) |> ignore)
        record s keptEdges step
        using (torch.no_grad ()) (fun _ ->
            use half = 0.5.ToScalar()
            use stepScalar = (int64 step).ToScalar()
            s.LastOpen.masked_fill_((Gate.deterministic settings.Gate (s.LogAlpha.detach())).ge(half), stepScalar) |> ignore)
        total.backward()
        let due = (step + 1) % settings.LogEvery = 0 || step = settings.Steps - 1
        let log =
            if due then
                let terms = [ for name, value in faithfulness.Terms -> name, scalar value ]
                let atThreshold =
                    using (torch.no_grad ()) (fun _ ->
                        use half = 0.5.ToScalar()
                        engine.EdgeCoefficients(Gate.deterministic settings.Gate s.LogAlpha).ge(half).sum().item<int64>())
                Some { Step = step
                       Terms = terms @ [ "sparsity", scalar penalty; "total", scalar total ]
                       ExpectedKeptFraction = scalar kept
                       Target = target
                       ExpectedKeptEdges = scalar keptEdges
                       EdgesAtThreshold = int atThreshold
                       TotalSteps = settings.Steps
                       Elapsed = elapsed () }
            else None
        update settings s step
        log

    let private num (x: float) = x.ToString("R", CultureInfo.InvariantCulture)

    /// What a checkpoint must agree on with the run that resumes it, as named lines: everything that decides the
    /// logits (the settings but `LogEvery`, the schedule, the batches' shapes and answers) and the record levels.
    let private fingerprint (settings: TrainSettings) (options: TrainOptions) (engine: Engine.CompiledEngine) (batches: PreparedBatchWithTargets[]) =
        let printed (x: 'a) = Regex.Replace(sprintf "%A" x, @"\s+", " ")
        let digest (text: string) = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes text)).Substring(0, 16).ToLowerInvariant()
        let ids (t: torch.Tensor) =
            use scope = torch.NewDisposeScope()
            String.Join(",", t.cpu().``to``(torch.ScalarType.Int64).data<int64>().ToArray())
        let schedule = engine.Schedule
        // Written out in full: %A elides long arrays.
        let sources = [ for x in schedule.Source -> match x with Param i -> $"p{i}" | Fixed v -> num v ]
        let scheduleDigest = digest (String.Join(",", sources) + "|" + String.Join(",", Array.map num schedule.Init))
        let shapes = String.Join("; ", [ for b in batches -> String.Join("x", b.FullLogits.shape) ])
        let answers = digest (String.Join("|", [ for b in batches -> ids b.Answers + "/" + (b.Wrongs |> Option.map ids |> Option.defaultValue "") ]))
        // The caller's context first, so that a resume on other data names the data rather than the batches it made.
        // The device too: the noise generator's state and the arithmetic differ between devices.
        [ for c in Option.toList options.Checkpoint do yield! c.Context ]
        @ [ "device", string engine.Model.Device
            "steps", string settings.Steps
            "learning_rate", num settings.LearningRate
            "gate", printed settings.Gate
            "loss", printed settings.Loss
            "sparsity", printed settings.Sparsity
            "clip_norm", printed settings.ClipNorm
            "seed", string settings.Seed
            "schedule", $"{schedule.ParamCount} parameters over {schedule.Source.Length} edges, digest {scheduleDigest}"
            "batches", $"{shapes}, answers digest {answers}"
            "record_levels", printed options.RecordLevels ]

    let private fingerprintKey name = $"fingerprint.{name}"

    let private writeCheckpoint (path: string) (s: State) (generator: torch.Generator) (nextStep: int) (elapsed: TimeSpan) fingerprint =
        use scope = torch.NewDisposeScope()
        Directory.CreateDirectory(nonNull (Path.GetDirectoryName(Path.GetFullPath path))) |> ignore
        let tensors = ResizeArray<struct (string * torch.Tensor)>([ for name, t in s.Saved -> struct (name, t.detach()) ])
        tensors.Add(struct ("generator_state", generator.get_state()))
        let metadata = Collections.Generic.Dictionary<string, string>()
        metadata["next_step"] <- string nextStep
        metadata["elapsed_seconds"] <- num elapsed.TotalSeconds
        for name, value in fingerprint do metadata[fingerprintKey name] <- value
        SafetensorsFile.Write(path, tensors, metadata)

    /// Loads a checkpoint into the state and the generator after checking its fingerprint; returns its next step
    /// and elapsed time.
    let private resume (path: string) (s: State) (generator: torch.Generator) (fingerprint: (string * string) list) =
        use file =
            try SafetensorsFile.Open path
            with e -> failwith $"{path}: cannot read the checkpoint to resume from: {e.Message}"
        let meta name =
            match file.Metadata.TryGetValue name with
            | true, v -> v
            | _ -> failwith $"{path}: the checkpoint has no '{name}' entry; it was not written by this version's trainer"
        for name, here in fingerprint do
            let there = meta (fingerprintKey name)
            if there <> here then
                failwith $"{path}: the checkpoint comes from a run with other settings, so resuming would not give that run's result: {name} is {there} there and {here} here; rerun with the checkpoint's settings, or start afresh without resuming"
        use scope = torch.NewDisposeScope()
        use _ = torch.no_grad ()
        for name, t in s.Saved do
            let saved = file.Read name
            if saved.shape <> t.shape || saved.dtype <> t.dtype then
                failwith $"{path}: tensor '{name}' is {saved.dtype} {saved.shape}, the run needs {t.dtype} {t.shape}"
            t.copy_(saved) |> ignore
        generator.set_state(file.Read "generator_state")
        int (meta "next_step"), TimeSpan.FromSeconds(Double.Parse(meta "elapsed_seconds", CultureInfo.InvariantCulture))

    let noOptions = { Checkpoint = None; RecordLevels = [] }

    let runWith options settings (engine: Engine.CompiledEngine) batches onLog =
        check settings options engine batches
        let batches = Array.ofList batches
        use generator = new torch.Generator(uint64 settings.Seed, engine.Model.Device)
        let s = initialState settings options engine
        try
            let fingerprint = lazy (fingerprint settings options engine batches)
            let progress = { LastCheckpoint = None }
            let start, before =
                match options.Checkpoint with
                | Some c when c.Resume && File.Exists c.Path ->
                    let next, elapsed = resume c.Path s generator fingerprint.Value
                    progress.LastCheckpoint <- Some (next, c.Path)
                    next, elapsed
                | _ -> 0, TimeSpan.Zero
            let clock = Stopwatch.StartNew()
            let elapsed () = before + clock.Elapsed
            for step in start .. settings.Steps - 1 do
                trainStep settings engine batches generator s step elapsed |> Option.iter (fun log ->
                    failIfDiverged s settings progress
                    onLog log)
                options.Checkpoint |> Option.iter (fun c ->
                    if (step + 1) % c.Every = 0 || step = settings.Steps - 1 then
                        // A checkpoint of a diverged state would resume into the divergence; stop before writing it.
                        failIfDiverged s settings progress
                        writeCheckpoint c.Path s generator (step + 1) (elapsed ()) fingerprint.Value
                        progress.LastCheckpoint <- Some (step + 1, c.Path))
            failIfDiverged s settings progress
            let logAlpha = floats s.LogAlpha
            let recorded =
                [ for r in s.Records do
                    let step = int (r.Step.item<int64>())
                    if step >= 0 then
                        let recordedLogits = floats r.LogAlpha
                        yield { Level = r.Level; Step = step; Scores = edgeScores engine settings.Gate recordedLogits
                                Ranking = ranking engine settings.Gate recordedLogits } ]
            let lastOpen =
                use scope = torch.NewDisposeScope()
                s.LastOpen.cpu().data<int64>().ToArray() |> Array.map int
            { LogAlpha = logAlpha; Scores = edgeScores engine settings.Gate logAlpha; Ranking = ranking engine settings.Gate logAlpha
              LastOpen = lastOpen
              Steps = settings.Steps
              Recorded = recorded; ResumedAt = if start > 0 then Some start else None }
        finally
            for t in s.All do t.Dispose()

    let run settings engine batches onLog = runWith noOptions settings engine batches onLog
