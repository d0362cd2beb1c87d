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

extension Activation: ExpressibleByArgument {}
extension Initialization: ExpressibleByArgument {}
extension LearningRateSchedule: ExpressibleByArgument {}

enum OptimizerName: String, ExpressibleByArgument, CaseIterable { case sgd, adam }
extension Precision: ExpressibleByArgument {}

/// Set by SIGINT; the training loop checks it before every step.
nonisolated(unsafe) var interruptRequested: sig_atomic_t = 0

/// `swift run train`: trains an identity-initialised MLP on Fashion-MNIST (or any MNIST-format folder).
@main
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train an identity-initialised MLP (width = pixels + classes) on MNIST-format data.",
        discussion: "Writes checkpoint.safetensors, metrics.json, metrics.csv, curves.svg, distances.svg and layers.svg in --output.")

    static func main() { mainWithOneLineErrors(name: "train") }

    @Option(help: "MNIST-format folder (train-images-idx3-ubyte.gz, …).") var data = ImageDataset.fashionMNISTFolder
    @Option(help: "Number of layers L.") var layers = 10
    @Option(help: "hard-tanh, relu or tanh.") var activation: Activation = .hardTanh
    @Option(name: .customLong("init"), help: "identity, gaussian, orthogonal or he.") var initialization: Initialization = .identity
    @Option(help: "σ of the initial weights (W = σI for identity).") var sigma = 1.0
    @Flag(help: "Give every layer a bias.") var bias = false
    @Option(help: "Mini-batch size.") var batch = 128
    @Option(help: "Epochs over the training set.") var epochs = 5
    @Option(help: "Learning rate.") var lr = 0.01
    @Option(help: "sgd or adam.") var optimizer: OptimizerName = .sgd
    @Option(help: "SGD momentum.") var momentum = 0.0
    @Option(name: .customLong("weight-decay"), help: "L2 weight decay.") var weightDecay = 0.0
    @Option(help: "Adam β1.") var beta1 = 0.9
    @Option(help: "Adam β2.") var beta2 = 0.999
    @Option(help: "constant or cosine.") var schedule: LearningRateSchedule = .constant
    @Option(help: "Random seed (shuffling and random initialisations).") var seed: UInt64 = 0
    @Option(help: "float (default) or double.") var precision: Precision = .float
    @Option(help: "Train on the first N training images only.") var limit: Int?
    @Option(help: "Output folder.") var output = "out/train"
    @Option(help: "Continue from this checkpoint (weights, optimizer state, epoch and step).") var resume: String?
    @Option(help: "OpenBLAS threads.") var threads: Int?
    @Flag(help: "Also write every figure as PNG at 300 dpi beside its SVG (needs rsvg-convert: apt-get install librsvg2-bin).") var png = false

    func validate() throws {
        try requireRange(layers, 1 ... 1000, "--layers")
        try requireRange(batch, 1 ... 1_000_000, "--batch")
        try requireRange(epochs, 1 ... 100_000, "--epochs")
        try requirePositive(lr, "--lr")
        try requirePositive(sigma, "--sigma")
        guard (0 ..< 1).contains(momentum) else { throw ValidationError("--momentum must be in [0, 1), got \(momentum)") }
        try requireFinite(weightDecay, "--weight-decay")
        guard (0 ..< 1).contains(beta1) else { throw ValidationError("--beta1 must be in [0, 1), got \(beta1)") }
        guard (0 ..< 1).contains(beta2) else { throw ValidationError("--beta2 must be in [0, 1), got \(beta2)") }
        if let limit { try requireRange(limit, 1 ... 100_000_000, "--limit") }
        if let threads { try requireRange(threads, 1 ... 256, "--threads") }
        if png && FigureExport.rasteriser() == nil { throw ValidationError("--png: \(FigureExportError.rasteriserMissing.description)") }
        if activation == .erf || activation == .linear {
            throw ValidationError("--activation must be hard-tanh, relu or tanh, got \(activation.rawValue)")
        }
    }

    var model: ClassifierConfiguration {
        ClassifierConfiguration(layers: layers, activation: activation, initialization: initialization, sigma: sigma, bias: bias)
    }

    var training: TrainingConfiguration {
        TrainingConfiguration(
            batchSize: batch, epochs: epochs, learningRate: lr, schedule: schedule,
            optimizer: optimizer == .sgd ? .sgd(momentum: momentum, weightDecay: weightDecay)
                : .adam(beta1: beta1, beta2: beta2, epsilon: 1e-8, weightDecay: weightDecay),
            seed: seed, trainLimit: limit, threads: threads)
    }

    func run() throws {
        switch precision {
        case .float: try run(Float.self)
        case .double: try run(Double.self)
        }
    }

    func run<Scalar: BLASScalar>(_: Scalar.Type) throws {
        let dataset: ImageDataset
        do { dataset = try ImageDataset(folder: data) } catch let error as IDXError {
            throw UserError(message: "--data: \(error.description)")
        }
        // Every output checked (and the folder locked) before the data is trained on.
        let figures = ["curves", "distances", "layers"]
        let folder = try prepareOutputFolder(output, files: ["checkpoint.safetensors", "metrics.json", "metrics.csv"]
            + figures.map { "\($0).svg" } + (png ? figures.map { "\($0).png" } : []))
        let session: TrainingSession<Scalar>
        do {
            if let resume {
                session = try TrainingSession(resuming: URL(fileURLWithPath: resume), layers: layers, training: training, data: dataset, folder: folder)
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
        if resume != nil { print("resuming \(resume!) at epoch \(trainer.epoch + 1), step \(trainer.stepInEpoch)") }
        let m = trainer.classifier.configuration  // the checkpoint's when resuming, not the flags'
        print("training \(m.layers) layers × width \(trainer.classifier.width) (\(m.activation.rawValue), \(m.initialization.rawValue) σ = \(m.sigma)), "
            + "\(trainer.trainingImages(dataset.train).count) images, batch \(batch), \(optimizer.rawValue) lr \(lr), \(epochs) epochs, \(precision.rawValue), "
            + "OpenBLAS \(OpenBLAS.coreName) × \(threads ?? OpenBLAS.threads)")
        let bar = ProgressBar(label: "epoch")
        session.onStep = { event in
            if event.stepInEpoch % 5 == 0 || event.stepInEpoch == event.stepsPerEpoch {
                bar.update(event.stepInEpoch, event.stepsPerEpoch, detail: String(
                    format: "%d/%d  loss %.4f  acc %.1f %%  %.0f samples/s", event.epoch + 1, epochs, event.loss,
                    event.accuracy * 100, event.samplesPerSecond))
            }
        }
        session.onEpoch = { record in
            bar.finish()
            print(String(format: "epoch %d/%d  train loss %.4f  acc %.2f %%  test loss %.4f  acc %.2f %%  %.0f samples/s  %.1f s",
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
            if case .nonFiniteLoss = error { throw UserError(message: error.description, isInternal: true) }
            throw UserError(message: error.description)
        }
        bar.finish()
        guard let evaluation else {
            FileHandle.standardError.write(Data("train: interrupted at epoch \(trainer.epoch + 1), step \(trainer.stepInEpoch); checkpoint saved: resume with --resume \(session.checkpointURL!.path)\n".utf8))
            Foundation.exit(130)
        }
        if png {
            for name in ["curves", "distances", "layers"] {
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
        print(String(format: "\ntest accuracy %.2f %% (loss %.4f); wrote %@/{checkpoint.safetensors, metrics.json, metrics.csv, curves.svg, distances.svg, layers.svg}%@",
                     evaluation.accuracy * 100, evaluation.loss, folder.path, png ? " and a PNG beside each SVG" : ""))
    }
}
