import ArgumentParser
import CommandSupport
import Datasets
import Figures
import Foundation
import Networks
import Reports
import TensorAlgebra
import Training

#if canImport(Glibc)
import Glibc
import FileFormats
#endif

/// `train`'s run settings default to the library's and may come from a checkpoint.
enum TrainDefaults: TrainingFlagDefaults {
    static let training = TrainingConfiguration()
    static let resumes = true
    static let trainsStacks = true
}

/// Set by SIGINT; the training loop checks it before every step.
nonisolated(unsafe) var interruptRequested: sig_atomic_t = 0

/// `swift run train`: trains an identity-initialised MLP on Fashion-MNIST (or any MNIST-format folder).
@main
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train an identity-initialised MLP (width = pixels + classes) on MNIST-format data.",
        discussion: "Writes checkpoint.safetensors, metrics.json, metrics.csv and the figures curves.svg, distances.svg and layers.svg "
            + "(6.75 in wide, both columns of a paper), each also as NAME-column.svg (3.25 in, one column), in --output.")

    static func main() { mainWithOneLineErrors(name: "train") }

    // The settings a checkpoint stores are optional here: on --resume an absent flag keeps the
    // checkpoint's value and a given one must agree with it (--epochs and --threads may change).
    static let modelDefaults = ClassifierConfiguration()
    static let trainingDefaults = TrainingConfiguration()

    @Option(help: "MNIST-format folder (train-images-idx3-ubyte.gz, …).") var data = ImageDataset.fashionMNISTFolder
    @Option(help: "Train a multilayer perceptron with these hidden widths instead (e.g. 1000,300: 784 → 1000 → 300 → 10, a layer stack; --init he or PyTorch's default).")
    var widths: String?
    @Option(help: "Train this layer stack instead, one token per module (e.g. conv32k3,relu,maxpool2,conv64k3,relu,maxpool2,flatten,dense128,relu,dense10 on [1, 28, 28] images; docs/layers.md has the syntax).")
    var architecture: String?
    @Option(help: "Number of layers L (default: \(modelDefaults.layers)).") var layers: Int?
    @Option(name: .customLong("activation"), help: ArgumentHelp("hard-tanh, relu or tanh (default: \(modelDefaults.activation.rawValue)); with --widths also leaky-relu:SLOPE (default relu).", valueName: "activation"))
    var activationFlag: ActivationFlag?
    @Option(name: .customLong("init"), help: ArgumentHelp("identity, gaussian, orthogonal or he (default: \(modelDefaults.initialization.rawValue)); with --widths he; with --architecture dirac, delta-orthogonal, he, glorot or pytorch (default: pytorch).", valueName: "init"))
    var initializationFlag: InitializationFlag?
    @Option(help: "σ of the initial weights (W = σI for identity; σ·δ and σ·H for dirac and delta-orthogonal kernels) (default: \(modelDefaults.sigma)).") var sigma: Double?
    @Flag(help: "Give every layer a bias.") var bias = false
    @OptionGroup(title: "Run settings") var settings: TrainingOptions<TrainDefaults>
    @Option(help: "Random seed (shuffling and random initialisations) (default: \(trainingDefaults.seed)).") var seed: UInt64?
    @OptionGroup var outputOptions: OutputOptions<TrainOutputFolder>
    var output: String { outputOptions.output }
    @Option(help: "Continue from this checkpoint with its stored settings (weights, optimizer state, epoch and step); a layer stack's folder, model.safetensors or training-state.safetensors.") var resume: String?
    @Flag(help: "Also write every figure as PNG at 300 dpi beside its SVG (needs rsvg-convert: apt-get install librsvg2-bin).") var png = false

    func validate() throws {
        if widths != nil || architecture != nil { try validateStackFlags() }
        if widths == nil && architecture == nil && resume == nil && settings.optimizer == .adamw { throw ValidationError("--optimizer adamw needs --widths or --architecture (the identity classifier trains with sgd or adam)") }
        if let layers { try requireRange(layers, 1 ... 1000, "--layers") }
        if let sigma {
            try requirePositive(sigma, "--sigma")
            let precision = settings.precision
            let largest = precision == .float ? TrainingSession<Float>.largestSigma : TrainingSession<Double>.largestSigma
            guard sigma <= largest else {
                throw ValidationError("--sigma \(sigma) is too large for --precision \(precision.rawValue): the largest usable value is "
                    + (precision == .float ? "\(Float.greatestFiniteMagnitude)" : "\(largest)"))
            }
        }
        if png && FigureExport.rasteriser() == nil { throw ValidationError("--png: \(FigureExportError.rasteriserMissing.description)") }
        try validateActivationFlag()
        try validateInitializationFlags()
    }

    /// A new run's model: the flags, defaults for the rest.
    var model: ClassifierConfiguration {
        let d = Self.modelDefaults
        return ClassifierConfiguration(layers: layers ?? d.layers, activation: activation ?? d.activation,
                                       initialization: initialization ?? d.initialization, sigma: sigma ?? d.sigma, bias: bias)
    }

    /// A new run's settings: the flags, defaults for the rest.
    var training: TrainingConfiguration { settings.configuration(seed: seed ?? Self.trainingDefaults.seed) }

    /// A resumed run's settings: the checkpoint's, with --epochs and --threads free to change
    /// (appended to `changes`); any other flag given must agree with the checkpoint.
    func resumed(_ stored: TrainingConfiguration, changes: inout [String]) throws(TrainingError) -> TrainingConfiguration {
        let (batch, lr, schedule, limit, optimizer, momentum, weightDecay, beta1, beta2, epochs, threads) = (
            settings.batch, settings.lr, settings.schedule, settings.limit, settings.optimizer, settings.momentum,
            settings.weightDecay, settings.beta1, settings.beta2, settings.epochs, settings.threads)
        func agree<T: Equatable>(_ flag: String, _ given: T?, _ stored: T, _ show: (T) -> String = { "\($0)" }) throws(TrainingError) {
            if let given, given != stored { throw .settingDiffersFromCheckpoint(name: flag, stored: show(stored), given: show(given)) }
        }
        try agree("--batch", batch, stored.batchSize)
        try agree("--lr", lr, stored.learningRate)
        try agree("--schedule", schedule, stored.schedule, \.rawValue)
        try agree("--seed", seed, stored.seed)
        if let limit, limit != stored.trainLimit {
            throw .settingDiffersFromCheckpoint(name: "--limit", stored: stored.trainLimit.map { "\($0)" } ?? "none (every image)", given: "\(limit)")
        }
        // The flags of the other optimizer are ignored, as they are for a new run.
        switch stored.optimizer {
        case .sgd(let storedMomentum, let storedDecay):
            try agree("--optimizer", optimizer, .sgd, \.rawValue)
            try agree("--momentum", momentum, storedMomentum)
            try agree("--weight-decay", weightDecay, storedDecay)
        case .adam(let storedBeta1, let storedBeta2, _, let storedDecay):
            try agree("--optimizer", optimizer, .adam, \.rawValue)
            try agree("--beta1", beta1, storedBeta1)
            try agree("--beta2", beta2, storedBeta2)
            try agree("--weight-decay", weightDecay, storedDecay)
        }
        var chosen = stored
        if let epochs, epochs != stored.epochs {
            changes.append("epochs \(stored.epochs) → \(epochs)" + (stored.schedule == .cosine ? " (the cosine schedule stretches to the new length)" : ""))
            chosen.epochs = epochs
        }
        if let threads, threads != stored.threads {
            changes.append("threads \(stored.threads.map { "\($0)" } ?? "default") → \(threads)")
            chosen.threads = threads
        }
        return chosen
    }

    /// Refuses model flags that contradict the checkpoint's architecture.
    func checkModelFlags(against m: ClassifierConfiguration) throws(TrainingError) {
        func agree<T: Equatable>(_ flag: String, _ given: T?, _ stored: T, _ show: (T) -> String = { "\($0)" }) throws(TrainingError) {
            if let given, given != stored { throw .settingDiffersFromCheckpoint(name: flag, stored: show(stored), given: show(given)) }
        }
        try agree("--activation", activation, m.activation, \.rawValue)
        try agree("--init", initialization, m.initialization, \.rawValue)
        try agree("--sigma", sigma, m.sigma)
        if bias && !m.bias { throw .settingDiffersFromCheckpoint(name: "--bias", stored: "no bias", given: "--bias") }
    }

    func run() throws {
        switch settings.precision {
        case .float: try run(Float.self)
        case .double: try run(Double.self)
        }
    }

    func run<Scalar: BLASScalar>(_: Scalar.Type) throws {
        if try routesToStack() { return try runStack(Scalar.self) }
        let dataset: ImageDataset
        do { dataset = try ImageDataset(folder: data) } catch let error as IDXError {
            throw UserError(message: "--data: \(error.description)")
        }
        // Every output checked (and the folder locked) before the data is trained on.
        let figures = TrainingFigures.names
        let folder = try prepareOutputFolder(output, files: ["checkpoint.safetensors", "metrics.json", "metrics.csv"]
            + figures.map { "\($0).svg" } + (png ? figures.map { "\($0).png" } : []))
        let session: TrainingSession<Scalar>
        var changes: [String] = []
        do {
            if let resume {
                session = try TrainingSession(resuming: URL(fileURLWithPath: resume), layers: layers, data: dataset, folder: folder) {
                    stored throws(TrainingError) in try resumed(stored, changes: &changes)
                }
                try checkModelFlags(against: session.trainer.classifier.configuration)
            } else {
                session = try TrainingSession(model: model, training: training, data: dataset, folder: folder)
            }
        } catch .batchSizeOutOfRange(let batchSize, let images) {
            throw UserError(message: "--batch \(batchSize) is larger than the \(images) training images")
        } catch {
            throw UserError(message: (resume == nil ? "" : "--resume: ") + error.description)
        }
        session.reportFiles = TrainingFigures.files
        let trainer = session.trainer
        if let resume {
            print("resuming \(resume) at epoch \(trainer.epoch + 1), step \(trainer.stepInEpoch) with its settings"
                + (changes.isEmpty ? "" : "; changed: " + changes.joined(separator: ", ")))
        }
        // The checkpoint's when resuming, not the flags'.
        let m = trainer.classifier.configuration, c = trainer.configuration
        let epochs = c.epochs
        print("training \(m.layers) layers × width \(trainer.classifier.width) (\(m.activation.rawValue), \(m.initialization.rawValue) σ = \(m.sigma)), "
            + "\(trainer.trainingImages(dataset.train).count) images, batch \(c.batchSize), \(c.optimizer.name) lr \(c.learningRate), \(epochs) epoch\(epochs == 1 ? "" : "s"), \(settings.precision.rawValue), "
            + "OpenBLAS \(OpenBLAS.coreName) × \(c.threads ?? OpenBLAS.threads)")
        let bar = ProgressBar(label: "epoch")
        session.onStep = { event in
            if event.stepInEpoch % 5 == 0 || event.stepInEpoch == event.stepsPerEpoch {
                // "epoch 1/5 ███··· 20/468 steps": the epoch first, so the step count does not read as one.
                ProgressBar(label: "epoch \(event.epoch + 1)/\(epochs)").update(event.stepInEpoch, event.stepsPerEpoch, detail: String(
                    format: "steps  loss %.4f  acc %.1f %%  %.0f samples/s", event.loss, event.accuracy * 100, event.samplesPerSecond))
            }
        }
        session.onEpoch = { record in
            bar.finish()
            // samples/s and seconds are the training steps' (as on the bar); the test evaluation is not in them.
            print(String(format: "epoch %d/%d  train loss %.4f  acc %.2f %%  test loss %.4f  acc %.2f %%  %.0f samples/s in %.1f s of steps (test evaluation not counted)",
                         record.epoch, epochs, record.trainLoss, record.trainAccuracy * 100, record.testLoss,
                         record.testAccuracy * 100, record.samplesPerSecond, record.seconds))
            fflush(nil)
        }

        signal(SIGINT) { _ in interruptRequested = 1 }
        // A parent (a test runner, a job scheduler) may have left SIGINT blocked; unblock it.
        var mask = sigset_t()
        sigemptyset(&mask)
        sigaddset(&mask, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &mask, nil)
        let evaluation: Evaluation?
        do {
            evaluation = try session.run(shouldStop: { interruptRequested != 0 })
        } catch {
            bar.finish()
            if case .diverged = error { throw UserError(message: error.description, isInternal: true) }
            throw UserError(message: error.description)
        }
        bar.finish()
        guard let evaluation else {
            FileHandle.standardError.write(Data("train: interrupted at epoch \(trainer.epoch + 1), step \(trainer.stepInEpoch); checkpoint saved: resume with --resume \(session.checkpointURL!.path)\n".utf8))
            Foundation.exit(130)
        }
        if png {
            for name in figures {
                let svg = folder.appendingPathComponent("\(name).svg")
                do { try FigureExport.png(fromSVGFile: svg, to: FigureExport.pngURL(besides: svg)) } catch {
                    throw UserError(message: "--png: \(error.description)")
                }
            }
        }
        let distances = trainer.classifier.distanceFromIdentity()
        print("\nlayer  test accuracy of class dims  ‖W−σI‖/‖σI‖")
        for l in 0 ..< trainer.classifier.layers {
            print(String(format: "%5d  %26.2f %%  %12.4f", l + 1, evaluation.layerAccuracies[l] * 100, distances[l]))
        }
        print(String(format: "\ntest accuracy %.2f %% (loss %.4f); wrote %@/{checkpoint.safetensors, metrics.json, metrics.csv, curves.svg, distances.svg, layers.svg} (and a -column.svg of each figure)%@",
                     evaluation.accuracy * 100, evaluation.loss, folder.path, png ? " and a PNG beside each SVG" : ""))
    }
}
