import ArgumentParser
import CommandSupport
import Datasets
import FileFormats
import Foundation
import IsometrySupport
import Networks
import TensorAlgebra
import Training

#if canImport(Glibc)
import Glibc
#endif

/// `--activation` as given: the identity classifier's ``Activation`` names, and for layer
/// stacks (`--widths`, or resuming one) `leaky-relu[:SLOPE]` too. Parsed leniently so that
/// ``Train/validateActivationFlag()`` words every refusal.
struct ActivationFlag: ExpressibleByArgument, Equatable, Sendable {
    let text: String
    init?(argument: String) { text = argument }
    var isLeaky: Bool { text == "leaky-relu" || text.hasPrefix("leaky-relu:") }
    /// The layer stack's function (checked by validation before use).
    var nonlinearity: Nonlinearity? { Nonlinearity(name: text) }
}

/// A layer-stack run's settings: from the flags for a new run, from the training state (and
/// the flags that may change) for a resumed one. `runSettings` is what the state stores of
/// them beyond what ``StackTrainer`` stores itself.
struct StackRunSettings {
    var batchSize: Int
    var epochs: Int
    var learningRate: Double
    var schedule: LearningRateSchedule
    var seed: UInt64
    var trainLimit: Int?
    var threads: Int?
    var optimizer: OptimizerName
    var optimizerSettings: [String: Double]
    /// A ``StackInitialization``'s name: "pytorch" or "he" for --widths, any for --architecture.
    var initialization: String
    var data: String
    /// The --architecture string a new stack was built from (nil for --widths).
    var layers: String? = nil
    /// σ of a dirac or delta-orthogonal initialisation (nil for the others).
    var sigma: Double? = nil

    var runSettings: [String: String] {
        var settings = ["learning_rate": "\(learningRate)", "schedule": schedule.rawValue, "train_limit": trainLimit.map { "\($0)" } ?? "none",
                        "threads": threads.map { "\($0)" } ?? "default", "initialization": initialization, "data": data]
        if let layers { settings["layers"] = layers }
        if let sigma { settings["sigma"] = "\(sigma)" }
        return settings
    }

    /// The schedule over `stepsPerEpoch × epochs` updates (a cosine stretches when --epochs changes).
    func rate(stepsPerEpoch: Int) -> Schedule {
        schedule == .cosine ? .cosine(learningRate, steps: stepsPerEpoch * epochs) : .constant(learningRate)
    }

    func makeOptimizer<Scalar: BLASScalar>(_ rate: Schedule) -> any Optimizer<Scalar> {
        let s = optimizerSettings
        switch optimizer {
        case .sgd: return SGD(learningRate: rate, momentum: s["momentum"] ?? 0, weightDecay: s["weight_decay"] ?? 0)
        case .adam: return Adam(learningRate: rate, beta1: s["beta1"] ?? 0.9, beta2: s["beta2"] ?? 0.999, epsilon: s["epsilon"] ?? 1e-8,
                                weightDecay: s["weight_decay"] ?? 0)
        case .adamw: return AdamW(learningRate: rate, beta1: s["beta1"] ?? 0.9, beta2: s["beta2"] ?? 0.999, epsilon: s["epsilon"] ?? 1e-8,
                                  weightDecay: s["weight_decay"] ?? 0.01)
        }
    }

    /// As metrics.json records it (the identity classifier's configuration type, which names
    /// adamw's coefficients as adam's; `optimizer` in metrics.json names it).
    var configuration: TrainingConfiguration {
        let s = optimizerSettings
        return TrainingConfiguration(
            batchSize: batchSize, epochs: epochs, learningRate: learningRate, schedule: schedule,
            optimizer: optimizer == .sgd ? .sgd(momentum: s["momentum"] ?? 0, weightDecay: s["weight_decay"] ?? 0)
                : .adam(beta1: s["beta1"] ?? 0.9, beta2: s["beta2"] ?? 0.999, epsilon: s["epsilon"] ?? 1e-8, weightDecay: s["weight_decay"] ?? 0),
            seed: seed, trainLimit: trainLimit, threads: threads)
    }
}

/// `train --widths 1000,300`: a multilayer perceptron of any widths (a layer stack) trained by
/// the general ``StackTrainer``; `train --resume` of such a run's folder, model.safetensors or
/// training-state.safetensors continues it. The default `train` (no --widths) is the identity
/// classifier and its fused trainer, unchanged.
extension Train {
    static let stackFiles = ["model.safetensors", "training-state.safetensors", "metrics.json", "metrics.csv"]

    /// The identity classifier's view of --activation (nil for leaky-relu, which validation
    /// refuses for it).
    var activation: Activation? { activationFlag.flatMap { Activation(rawValue: $0.text) } }

    /// The hidden widths of --widths, checked.
    static func parseWidths(_ text: String) throws -> [Int] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        let widths = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard widths.count == parts.count, !widths.isEmpty, widths.allSatisfy({ (1 ... 100_000).contains($0) }) else {
            throw ValidationError("--widths must be hidden layer widths separated by commas, each from 1 to 100000 (e.g. 1000,300), got '\(quotedValue(text))'")
        }
        return widths
    }

    /// hard-tanh, relu, tanh; leaky-relu[:SLOPE] (slope in [0, 1), default 0.01) for layer stacks.
    func validateActivationFlag() throws {
        guard let flag = activationFlag else { return }
        let text = quotedValue(flag.text)
        if flag.isLeaky {
            guard case .leakyReLU(let slope)? = flag.nonlinearity else {
                throw ValidationError("--activation \(text): the slope must be a number, as in leaky-relu:0.1 (leaky-relu alone has PyTorch's 0.01)")
            }
            guard (0 ..< 1).contains(slope) else { throw ValidationError("--activation \(text): the slope must be in [0, 1), got \(slope)") }
            if widths == nil && resume == nil {
                throw ValidationError("--activation \(text) needs --widths (the identity classifier trains with hard-tanh, relu or tanh)")
            }
            return
        }
        guard let activation = Activation(rawValue: flag.text), [.hardTanh, .relu, .tanh].contains(activation) else {
            throw ValidationError("--activation must be hard-tanh, relu, tanh or (with --widths) leaky-relu[:SLOPE], got '\(text)'")
        }
    }

    /// The flags that belong to the identity classifier only, refused with --widths or
    /// --architecture.
    func validateStackFlags() throws {
        if widths != nil && architecture != nil {
            throw ValidationError("--widths and --architecture exclude each other (an MLP is dense<n> tokens: flatten,dense1000,relu,dense10)")
        }
        if let widths { _ = try Self.parseWidths(widths) }
        if layers != nil { throw ValidationError("--layers does not apply with --widths (the depth is the number of widths + 1)") }
        if widths != nil && sigma != nil { throw ValidationError("--sigma does not apply with --widths (use --init he, or leave --init out for PyTorch's default)") }
        if widths != nil, let flag = initializationFlag, flag.text != "he" {
            throw ValidationError("--init \(quotedValue(flag.text)) does not apply with --widths: use he, or leave --init out for PyTorch's default (uniform ±1/√fan-in)")
        }
        if architecture != nil, let flag = activationFlag {
            throw ValidationError("--activation \(quotedValue(flag.text)) does not apply with --architecture: the activations are tokens of the string (e.g. conv16k3p1,relu,…)")
        }
        if png { throw ValidationError("--png does not apply with --widths (no figures are drawn for a layer stack yet)") }
    }

    /// Whether this run is a layer stack's: --widths, or --resume naming a layer-stack
    /// checkpoint. An identity classifier's checkpoint refuses leaky-relu here.
    func routesToStack() throws -> Bool {
        if widths != nil || architecture != nil { return true }
        guard let resume else { return false }
        if try Self.stackCheckpoint(resume) != nil { return true }
        if let flag = activationFlag, flag.isLeaky {
            throw UserError(message: "--activation \(quotedValue(flag.text)) needs a layer stack; --resume \(quotedValue(resume)) is an identity classifier's checkpoint")
        }
        if let flag = initializationFlag, flag.classifier == nil {
            throw UserError(message: "--init \(quotedValue(flag.text)) needs a layer stack; --resume \(quotedValue(resume)) is an identity classifier's checkpoint")
        }
        return false
    }

    /// The layer-stack checkpoint `--resume` names: its folder, its model.safetensors or its
    /// training-state.safetensors (the two files are found side by side, under these names);
    /// nil for a file with no training-state.safetensors beside it, or that is no layer stack
    /// (the identity classifier's checkpoint.safetensors, read by its own path).
    static func stackCheckpoint(_ path: String) throws -> (model: URL, state: URL)? {
        let url = URL(fileURLWithPath: path)
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            return (url.appendingPathComponent("model.safetensors"), url.appendingPathComponent("training-state.safetensors"))
        }
        let folder = url.deletingLastPathComponent()
        let state = folder.appendingPathComponent("training-state.safetensors")
        let hasState = FileManager.default.fileExists(atPath: state.path)
        // The identity classifier's checkpoint is read once, by its own path.
        if !hasState && url.lastPathComponent == "checkpoint.safetensors" { return nil }
        if url.standardizedFileURL.path == state.standardizedFileURL.path { return (folder.appendingPathComponent("model.safetensors"), state) }
        let file: SafetensorsFile
        do { file = try SafetensorsFile(contentsOf: url) } catch let error as SafetensorsError {
            // A missing or unreadable file: the identity classifier's path words it as it always has.
            if !hasState { return nil }
            throw UserError(message: "--resume: \(error.description)")
        }
        guard file.metadata[LayerStackArchitecture.metadataKey] != nil else { return nil }
        guard hasState else {
            throw UserError(message: "--resume: \(quotedValue(url.path)) is a layer stack with no training-state.safetensors beside it (the optimizer state, position and settings of its run): it can be analysed, not resumed")
        }
        return (url, state)
    }

    /// Whether --data, --output or --precision (whose parsed values have defaults) was given:
    /// a value other than the default, or the flag on the command line in either spelling
    /// (`--precision float`, `--precision=float`).
    func isGiven(_ flag: String) -> Bool {
        let differs = switch flag {
        case "--data": data != ImageDataset.fashionMNISTFolder
        case "--output": output != TrainOutputFolder.folder
        case "--precision": settings.precision != .float
        default: false
        }
        return differs || CommandLine.arguments.dropFirst().prefix { $0 != "--" }.contains { $0 == flag || $0.hasPrefix(flag + "=") }
    }

    /// A new run's settings: the flags, the defaults for the rest.
    func newStackRun() -> StackRunSettings {
        let c = training
        let name = settings.optimizer ?? .sgd
        let optimizerSettings: [String: Double] = switch name {
        case .sgd: ["momentum": settings.momentum ?? 0, "weight_decay": settings.weightDecay ?? 0]
        case .adam, .adamw: ["beta1": settings.beta1 ?? 0.9, "beta2": settings.beta2 ?? 0.999, "epsilon": 1e-8,
                             "weight_decay": settings.weightDecay ?? (name == .adamw ? 0.01 : 0)]
        }
        return StackRunSettings(
            batchSize: c.batchSize, epochs: c.epochs, learningRate: c.learningRate, schedule: c.schedule, seed: c.seed,
            trainLimit: c.trainLimit, threads: c.threads, optimizer: name, optimizerSettings: optimizerSettings,
            initialization: stackInitialization.rawValue, data: URL(fileURLWithPath: data).standardizedFileURL.path,
            layers: architecture, sigma: stackInitialization.usesSigma ? sigma ?? 1 : nil)
    }

    /// A resumed run's settings: the training state's, with --epochs and --threads free to
    /// change (appended to `changes`); any other flag given must agree with the stored value.
    /// A state written before the run settings were stored (no `run.learning_rate`) needs
    /// --lr; its schedule, limit and threads are then the flags' or the defaults (`changes` says so).
    func resumedStackRun<Scalar: BLASScalar>(_ stored: StackTrainingSettings, stack: LayerStack<Scalar>, statePath: String,
                                            changes: inout [String]) throws -> StackRunSettings {
        func differs(_ flag: String, _ stored: String, _ given: String) -> UserError {
            UserError(message: "--resume: " + TrainingError.settingDiffersFromCheckpoint(name: flag, stored: stored, given: given).description)
        }
        func agree<T: Equatable>(_ flag: String, _ given: T?, _ stored: T, _ show: (T) -> String = { "\($0)" }) throws {
            if let given, given != stored { throw differs(flag, show(stored), show(given)) }
        }
        // The identity classifier's flags have nothing to agree with.
        let run = stored.runSettings
        // --sigma only where the run stored one (dirac, delta-orthogonal), to agree with it below.
        for (flag, given) in [("--layers", layers != nil), ("--sigma", sigma != nil && run["sigma"] == nil), ("--png", png)] where given {
            throw UserError(message: "\(flag) does not apply to a layer-stack checkpoint (--resume \(quotedValue(resume ?? "")))")
        }
        if let flag = initializationFlag, flag.stack == nil {
            throw UserError(message: "--init \(quotedValue(flag.text)) does not apply to a layer-stack checkpoint: it was initialised with \(run["initialization"] ?? "he or PyTorch's default")")
        }
        // The architecture is the stack file's.
        let dense = stack.layers.indices.filter { !stack.layers[$0].parameters.isEmpty }
        let hidden = dense.dropLast().map { stack.shapes[$0 + 1].reduce(1, *) }
        if let widths { try agree("--widths", try Self.parseWidths(widths), hidden) { $0.map(String.init).joined(separator: ",") } }
        let storedFunction = stack.layers.lazy.compactMap { ($0 as? ActivationLayer<Scalar>)?.function }.first
        if let given = activationFlag?.nonlinearity, let storedFunction { try agree("--activation", given, storedFunction, \.description) }
        if let flag = initializationFlag, let storedInit = run["initialization"] { try agree("--init", flag.text, storedInit) }
        if let sigma, let text = run["sigma"] {
            guard let storedSigma = Double(text) else {
                throw UserError(message: "--resume: \(quotedValue(statePath)): run.sigma is \(quotedValue(text)), not a value train wrote")
            }
            try agree("--sigma", sigma, storedSigma)
        }
        try agree("--architecture", architecture, run["layers"] ?? "none (its stack was not built from an architecture string)")
        // The run's settings are the training state's.
        try agree("--batch", settings.batch, stored.batchSize)
        try agree("--seed", seed, stored.seed)
        if let storedPrecision = stored.precision, isGiven("--precision") {
            try agree("--precision", settings.precision.rawValue, storedPrecision)
        }
        guard let name = OptimizerName(rawValue: stored.optimizer) else {
            throw UserError(message: "--resume: \(quotedValue(statePath)): optimizer \(quotedValue(stored.optimizer)), which train does not build (sgd, adam or adamw)")
        }
        try agree("--optimizer", settings.optimizer, name, \.rawValue)
        let coefficients = stored.optimizerSettings
        func agreeCoefficient(_ flag: String, _ given: Double?, _ key: String) throws {
            if let given, let value = coefficients[key] { try agree(flag, given, value) }
        }
        // The flags of the other optimizer are ignored, as they are for a new run.
        if name == .sgd { try agreeCoefficient("--momentum", settings.momentum, "momentum") } else {
            try agreeCoefficient("--beta1", settings.beta1, "beta1")
            try agreeCoefficient("--beta2", settings.beta2, "beta2")
        }
        try agreeCoefficient("--weight-decay", settings.weightDecay, "weight_decay")
        let learningRate: Double, schedule: LearningRateSchedule, trainLimit: Int?, storedThreads: Int?
        if let text = run["learning_rate"] {
            func value<T>(_ key: String, _ parse: (String) -> T??) throws -> T? {
                guard let text = run[key], let parsed = parse(text) else {
                    throw UserError(message: "--resume: \(quotedValue(statePath)): run.\(key) is \(quotedValue(run[key] ?? "(missing)")), not a value train wrote")
                }
                return parsed
            }
            guard let rate = Double(text), rate.isFinite, rate > 0 else {
                throw UserError(message: "--resume: \(quotedValue(statePath)): run.learning_rate is \(quotedValue(text)), expected a finite number > 0")
            }
            learningRate = rate
            schedule = try value("schedule") { LearningRateSchedule(rawValue: $0).map { .some($0) } }!
            trainLimit = try value("train_limit") { $0 == "none" ? .some(nil) : Int($0).flatMap { $0 >= 1 ? .some($0) : nil } }
            storedThreads = try value("threads") { $0 == "default" ? .some(nil) : Int($0).flatMap { $0 >= 1 ? .some($0) : nil } }
            try agree("--lr", settings.lr, learningRate)
            try agree("--schedule", settings.schedule, schedule, \.rawValue)
            if let limit = settings.limit, limit != trainLimit {
                throw differs("--limit", trainLimit.map { "\($0)" } ?? "none (every image)", "\(limit)")
            }
        } else {
            guard let lr = settings.lr else {
                throw UserError(message: "--resume: \(quotedValue(statePath)) does not store the run's learning rate (written before train stored it); give the run's --lr, and its --schedule and --limit unless they were the defaults")
            }
            learningRate = lr
            schedule = settings.schedule ?? TrainDefaults.training.schedule
            trainLimit = settings.limit ?? TrainDefaults.training.trainLimit
            storedThreads = nil
            changes.append("no stored run settings: --lr \(lr), --schedule \(schedule.rawValue), --limit \(trainLimit.map { "\($0)" } ?? "none") taken as given")
        }
        var chosen = StackRunSettings(
            batchSize: stored.batchSize, epochs: stored.epochs, learningRate: learningRate, schedule: schedule, seed: stored.seed,
            trainLimit: trainLimit, threads: storedThreads, optimizer: name, optimizerSettings: coefficients,
            initialization: run["initialization"] ?? "unknown",
            data: isGiven("--data") ? URL(fileURLWithPath: data).standardizedFileURL.path : run["data"] ?? data,
            layers: run["layers"], sigma: run["sigma"].flatMap(Double.init))
        if let epochs = settings.epochs, epochs != stored.epochs {
            changes.append("epochs \(stored.epochs) → \(epochs)" + (schedule == .cosine ? " (the cosine schedule stretches to the new length)" : ""))
            chosen.epochs = epochs
        }
        if let threads = settings.threads, threads != storedThreads {
            changes.append("threads \(storedThreads.map { "\($0)" } ?? "default") → \(threads)")
            chosen.threads = threads
        }
        return chosen
    }

    /// `out/…/model.safetensors` (the stack, self-describing), `training-state.safetensors`
    /// (optimizer moments, step, epoch, the run's settings), `metrics.json`, `metrics.csv`,
    /// written after every epoch and on Ctrl-C.
    func runStack<Scalar: BLASScalar>(_: Scalar.Type) throws {
        var changes: [String] = []
        let run: StackRunSettings
        var resumed: (files: (model: URL, state: URL), stack: LayerStack<Scalar>, stored: StackTrainingSettings)?
        if let resume {
            guard let files = try Self.stackCheckpoint(resume) else {
                throw UserError(message: "--resume: \(quotedValue(resume)) is an identity classifier's checkpoint, which --widths does not continue; leave --widths out")
            }
            let settingsStored: StackTrainingSettings
            do { settingsStored = try StackTrainingSettings(contentsOf: files.state) } catch {
                throw UserError(message: "--resume: \(error.description)")
            }
            // The run's precision unless --precision is given (and then it must agree).
            if let precision = settingsStored.precision, !isGiven("--precision"), precision != (Scalar.self == Float.self ? "float" : "double") {
                return precision == "double" ? try runStack(Double.self) : try runStack(Float.self)
            }
            let stack: LayerStack<Scalar>
            do { stack = try LayerStack<Scalar>(contentsOf: files.model) } catch { throw UserError(message: "--resume: \(error.description)") }
            run = try resumedStackRun(settingsStored, stack: stack, statePath: files.state.path, changes: &changes)
            resumed = (files, stack, settingsStored)
        } else {
            run = newStackRun()
        }
        // MNIST's IDX files or .npy arrays (MNIST-1D from Scripts/make_mnist1d.py), whichever the folder holds.
        let data: DatasetSplits
        do { data = try DatasetSplits(folder: run.data) } catch { throw UserError(message: "--data: \(error.description)") }
        let trainData = run.trainLimit.map { data.train.prefix($0) } ?? data.train
        let testData = data.test
        let samples = data.layout == .idx ? "images" : "samples"
        if run.batchSize > trainData.count { throw UserError(message: "--batch \(run.batchSize) is larger than the \(trainData.count) training \(samples)") }
        // Every output checked (and the folder locked) before anything is trained. A resumed
        // run writes into its own folder unless --output is given.
        // A new MLP's widths: the data's features, --widths, the classes (--architecture: none).
        let newWidths = resumed == nil && widths != nil ? [trainData.featureCount] + (try Self.parseWidths(widths!)) + [data.classes] : []
        // Checked before any weight is drawn, as --architecture strings are.
        if !newWidths.isEmpty {
            let bytes = Self.multilayerPerceptronTrainingBytes(widths: newWidths, batchSize: run.batchSize,
                                                               evaluationBatchSize: min(1000, testData.count), scalarBytes: MemoryLayout<Scalar>.stride)
            if !MemoryBudget.allows(bytes) {
                throw UserError(message: "--widths \(quotedValue(widths!)): the MLP \(newWidths.map(String.init).joined(separator: " → ")) trained on batches of \(run.batchSize), "
                    + "evaluating \(min(1000, testData.count)) at a time, " + MemoryBudget.explain(bytes: bytes < 9e18 ? Int(bytes) : .max, limit: MemoryBudget.defaultLimit))
            }
        }
        // A new --architecture stack on images as [1, H, W] and sequences as [1, L] (one
        // channel), so convolutions see planes and lines; the string is checked token by token
        // against that shape before any weight.
        var architectureStack: LayerStack<Scalar>?
        if resumed == nil, let architecture {
            let shape = data.channelsFirstShape
            var generator = SeededGenerator(seed: run.seed)
            let stack: LayerStack<Scalar>
            do {
                stack = try LayerStack<Scalar>(architecture: architecture, inputShape: shape, initialization: stackInitialization,
                                               sigma: run.sigma ?? 1, using: &generator)
            } catch {
                if case .architecture = error { throw UserError(message: "--architecture: \(error.description)") }
                throw UserError(message: "--init \(stackInitialization.rawValue): \(error.description)")
            }
            guard stack.outputShape == [data.classes] else {
                throw UserError(message: "--architecture: the last layer gives \(stack.outputShape), expected [\(data.classes)] (one logit per class)")
            }
            architectureStack = stack
        }
        // The images and the batches' memory checked against the stack (Networks' checks) before any output.
        if let stack = resumed?.stack ?? architectureStack {
            do {
                for split in [trainData, testData] { try stack.checkSamples(shape: split.sampleShape, source: run.data) }
                try stack.checkTrainingMemory(batchSize: run.batchSize, evaluationBatchSize: min(1000, testData.count))
            } catch {
                if case .sampleShape = error { throw UserError(message: "--data: \(error.description)") }
                throw UserError(message: (resumed == nil ? "--batch \(run.batchSize): " : "--resume: ") + error.description)
            }
        }
        let outputPath = resumed.map { isGiven("--output") ? output : $0.files.state.deletingLastPathComponent().path } ?? output
        let folder = try prepareOutputFolder(outputPath, files: Self.stackFiles)
        let rate = run.rate(stepsPerEpoch: trainData.count / run.batchSize)
        let optimizer: any Optimizer<Scalar> = run.makeOptimizer(rate)
        let trainer: StackTrainer<Scalar>
        do {
            if let resumed {
                // StackTrainer(resumingFrom:state:) without reading the stack file again.
                trainer = try StackTrainer(stack: resumed.stack, optimizer: optimizer, batchSize: resumed.stored.batchSize, epochs: run.epochs,
                                           seed: resumed.stored.seed, frozenLayers: Set(resumed.stored.frozenLayers), threads: run.threads)
                try trainer.loadTrainingState(from: resumed.files.state)
            } else {
                let stack: LayerStack<Scalar> = architectureStack ?? Self.newStack(
                    widths: newWidths, nonlinearity: activationFlag?.nonlinearity ?? .relu, he: run.initialization == "he", seed: run.seed)
                trainer = try StackTrainer(stack: stack, optimizer: optimizer, batchSize: run.batchSize, epochs: run.epochs,
                                           seed: run.seed, threads: run.threads)
            }
        } catch { throw UserError(message: (resumed == nil ? "" : "--resume: ") + error.description) }
        trainer.runSettings = run.runSettings
        let trained = trainer.stack
        let widthsAll = [trained.inputShape.reduce(1, *)]
            + trained.layers.indices.filter { !trained.layers[$0].parameters.isEmpty }.map { trained.shapes[$0 + 1].reduce(1, *) }
        let function = trained.layers.lazy.compactMap { ($0 as? ActivationLayer<Scalar>)?.function }.first
        if let resume {
            print("resuming \(resume) at epoch \(trainer.epoch + 1), step \(trainer.stepInEpoch) with its settings"
                + (changes.isEmpty ? "" : "; changed: " + changes.joined(separator: ", ")))
        }
        let initName = (["he": "He", "pytorch": "PyTorch", "glorot": "Glorot", "dirac": "Dirac"][run.initialization] ?? run.initialization)
            + (run.sigma.map { " σ = \($0)" } ?? "")
        let precisionName = Scalar.self == Float.self ? "float" : "double"
        // A stack from --architecture is named by its string and input shape; an MLP by its widths.
        let subject = run.layers.map { "a stack \($0) on \(trained.inputShape)" } ?? "an MLP \(widthsAll.map(String.init).joined(separator: " → "))"
        print("training \(subject) (\(function.map(\.description) ?? "no activation"), \(initName) init, \(trained.parameterCount) parameters), "
            + "\(trainData.count) \(samples), batch \(run.batchSize), \(optimizer.name) lr \(rate), \(run.epochs) epochs, \(precisionName), "
            + "OpenBLAS \(OpenBLAS.coreName) × \(run.threads ?? OpenBLAS.threads)")
        let bar = ProgressBar(label: "epoch")
        // The command tests' deterministic Ctrl-C: SIGINT raised after this global step.
        let interruptAfter = ProcessInfo.processInfo.environment["ISOMETRY_TEST_INTERRUPT_AFTER_STEP"].flatMap(Int.init)
        let epochs = run.epochs
        trainer.onStep = { event, _ in
            if event.stepInEpoch % 5 == 0 || event.stepInEpoch == event.stepsPerEpoch {
                ProgressBar(label: "epoch \(event.epoch + 1)/\(epochs)").update(event.stepInEpoch, event.stepsPerEpoch, detail: String(
                    format: "steps  loss %.4f  acc %.1f %%  %.0f samples/s", event.loss, event.accuracy * 100, event.samplesPerSecond))
            }
            if event.globalStep == interruptAfter { raise(SIGINT) }
        }
        var writeError: (any Error)?
        let write = { (trainer: StackTrainer<Scalar>) in
            do {
                try Self.writeStackOutputs(trainer, folder: folder, architecture: widthsAll, initialization: run.initialization, sigma: run.sigma,
                                           configuration: run.configuration, precision: Scalar.self == Float.self ? .float : .double)
            } catch {
                writeError = writeError ?? error
            }
        }
        trainer.onEpoch = { record, trainer in
            bar.finish()
            print(String(format: "epoch %d/%d  train loss %.4f  acc %.2f %%  test loss %.4f  acc %.2f %%  %.0f samples/s in %.1f s of steps (test evaluation not counted)",
                         record.epoch, epochs, record.trainLoss, (record.trainAccuracy ?? 0) * 100, record.testLoss ?? .nan,
                         (record.testAccuracy ?? 0) * 100, record.samplesPerSecond, record.seconds))
            fflush(nil)
            write(trainer)
        }
        signal(SIGINT) { _ in interruptRequested = 1 }
        // A parent (a test runner, a job scheduler) may have left SIGINT blocked; unblock it.
        var mask = sigset_t()
        sigemptyset(&mask)
        sigaddset(&mask, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &mask, nil)
        let finished: Bool
        do { finished = try trainer.train(trainData, test: testData) { interruptRequested != 0 || writeError != nil } } catch {
            bar.finish()
            if case .diverged = error { throw UserError(message: error.description, isInternal: true) }
            throw UserError(message: error.description)
        }
        bar.finish()
        if !finished && writeError == nil {
            // Ctrl-C: the state after the last finished step, the position inside the epoch included.
            write(trainer)
        }
        if let writeError { throw UserError(message: "cannot write \(folder.path): \(writeError)") }
        guard finished else {
            FileHandle.standardError.write(Data("train: interrupted at epoch \(trainer.epoch + 1), step \(trainer.stepInEpoch); checkpoint saved: resume with --resume \(folder.appendingPathComponent("model.safetensors").path)\n".utf8))
            Foundation.exit(130)
        }
        guard let last = trainer.history.last else { throw UserError(message: "--resume: the checkpoint has no finished epoch and --epochs leaves none to train") }
        print(String(format: "\ntest accuracy %.2f %% (loss %.4f); wrote %@/{%@}", (last.testAccuracy ?? 0) * 100, last.testLoss ?? .nan,
                     folder.path, Self.stackFiles.joined(separator: ", ")))
    }

    /// `LayerStack.estimatedTrainingBytes(batchSize:evaluationBatchSize:)` of the MLP
    /// `newStack(widths:…)` would build, from the widths alone (so a huge width is refused
    /// before its weights are drawn): dense layers with bias and an activation after every
    /// hidden one, whose pattern has its input's shape; no layer has scratch.
    static func multilayerPerceptronTrainingBytes(widths: [Int], batchSize: Int, evaluationBatchSize: Int, scalarBytes: Int) -> Double {
        let w = widths.map(Double.init)
        let parameters = zip(w, w.dropFirst()).reduce(0.0) { $0 + $1.0 * $1.1 + $1.1 }
        let hidden = w.dropFirst().dropLast().reduce(0, +)
        // Stack shapes: the input, then per hidden width the dense and the activation outputs, then the classes.
        let activations = w.first! + 2 * hidden + w.last!, patterns = hidden
        return Double(scalarBytes) * (4 * parameters + Double(batchSize) * (2 * activations + patterns)
            + Double(evaluationBatchSize) * (activations + patterns))
    }

    /// A new MLP of these widths (inputs, hidden, classes), PyTorch's initialisation or He's,
    /// drawn from `seed`. He's weights are drawn after PyTorch's, from the same generator, as
    /// `train --widths --init he` always drew them (so its runs keep their numbers).
    static func newStack<Scalar: BLASScalar>(widths: [Int], nonlinearity: Nonlinearity, he: Bool, seed: UInt64) -> LayerStack<Scalar> {
        var generator = SeededGenerator(seed: seed)
        var stack = LayerStack<Scalar>.multilayerPerceptron(widths: widths, activation: nonlinearity, bias: true, using: &generator)
        // Dense layers and σ = 1, σ_b = 0: nothing He refuses.
        if he { try! stack.initialize(.he, using: &generator) }
        return stack
    }

    /// What `metrics.json` holds for a layer-stack run.
    struct StackMetrics: Codable {
        var architecture: [Int]
        /// The --architecture string, for a stack built from one.
        var layers: String?
        var activation: String
        var initialization: String
        /// σ of a dirac or delta-orthogonal initialisation.
        var sigma: Double?
        var optimizer: String
        var optimizerSettings: [String: Double]
        var configuration: TrainingConfiguration
        var precision: Precision
        var epochs: [StackEpochRecord]
    }

    static func writeStackOutputs<Scalar: BLASScalar>(
        _ trainer: StackTrainer<Scalar>, folder: URL, architecture: [Int], initialization: String, sigma: Double?, configuration: TrainingConfiguration,
        precision: Precision
    ) throws {
        // The stack file and its training state first, then the metrics: every file atomically.
        try trainer.writeCheckpoint(model: folder.appendingPathComponent("model.safetensors"),
                                    state: folder.appendingPathComponent("training-state.safetensors"))
        // The function by the name --activation takes ("leaky-relu:0.1" keeps its slope).
        let activation = trainer.stack.layers.lazy.compactMap { ($0 as? ActivationLayer<Scalar>)?.function.description }.first ?? "none"
        let metrics = StackMetrics(
            architecture: architecture, layers: trainer.runSettings["layers"], activation: activation, initialization: initialization, sigma: sigma,
            optimizer: trainer.optimizer.name, optimizerSettings: trainer.optimizer.settings, configuration: configuration,
            precision: precision, epochs: trainer.history)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try AtomicFile.write(try encoder.encode(metrics), to: folder.appendingPathComponent("metrics.json"))
        var csv = "epoch,train_loss,train_accuracy,test_loss,test_accuracy,learning_rate,samples_per_second,seconds\n"
        for r in trainer.history {
            csv += "\(r.epoch),\(r.trainLoss),\(r.trainAccuracy ?? .nan),\(r.testLoss ?? .nan),\(r.testAccuracy ?? .nan),\(r.learningRate),\(r.samplesPerSecond),\(r.seconds)\n"
        }
        try AtomicFile.write(Data(csv.utf8), to: folder.appendingPathComponent("metrics.csv"))
    }
}
