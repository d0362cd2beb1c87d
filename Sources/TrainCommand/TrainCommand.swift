import ArgumentParser
import CommandSupport
import Datasets
import Foundation
import Networks
import TensorAlgebra
import Training

#if canImport(Glibc)
import Glibc
#endif

extension Activation: ExpressibleByArgument {}
extension Initialization: ExpressibleByArgument {}
extension LearningRateSchedule: ExpressibleByArgument {}

enum OptimizerName: String, ExpressibleByArgument, CaseIterable { case sgd, adam }
enum PrecisionName: String, ExpressibleByArgument, CaseIterable { case float, double }

/// What metrics.json holds.
struct Metrics: Encodable {
    struct DistanceSample: Encodable {
        let step: Int
        let distanceFromIdentity: [Double]
    }
    let configuration: TrainingConfiguration
    let epochs: [EpochRecord]
    /// ‖Wˡ − σI‖/‖σI‖ about ten times an epoch, from the start of this run.
    let distanceTrace: [DistanceSample]
    let layerAccuracies: [Double]?
    let distanceFromIdentity: [Double]
    let testAccuracy: Double?
    let testLoss: Double?
    let precision: String
}

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
    @Option(help: "float (default) or double.") var precision: PrecisionName = .float
    @Option(help: "Train on the first N training images only.") var limit: Int?
    @Option(help: "Output folder.") var output = "out/train"
    @Option(help: "Continue from this checkpoint (weights, optimizer state, epoch and step).") var resume: String?
    @Option(help: "OpenBLAS threads.") var threads: Int?

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
        if activation == .erf || activation == .linear {
            throw ValidationError("--activation must be hard-tanh, relu or tanh, got \(activation.rawValue)")
        }
    }

    var trainingConfiguration: TrainingConfiguration {
        var c = TrainingConfiguration()
        c.layers = layers
        c.activation = activation
        c.initialization = initialization
        c.sigma = sigma
        c.bias = bias
        c.batchSize = batch
        c.epochs = epochs
        c.learningRate = lr
        c.schedule = schedule
        c.optimizer = optimizer == .sgd ? .sgd(momentum: momentum, weightDecay: weightDecay)
            : .adam(beta1: beta1, beta2: beta2, epsilon: 1e-8, weightDecay: weightDecay)
        c.seed = seed
        c.trainLimit = limit
        return c
    }

    func run() throws {
        if let threads { OpenBLAS.threads = threads }
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
        let train = limit.map { dataset.train.prefix($0) } ?? dataset.train
        guard batch <= train.count else {
            throw UserError(message: "--batch \(batch) is larger than the \(train.count) training images")
        }
        let folder = try makeFolder(output)
        let checkpointURL = folder.appendingPathComponent("checkpoint.safetensors")

        let trainer: Trainer<Scalar>
        if let resume {
            do {
                let file = try SafetensorsFile(contentsOf: URL(fileURLWithPath: resume))
                let width = train.features + train.classes
                _ = try Checkpoint.classifier(from: file, source: resume, as: Scalar.self, expecting: (layers, width))
                var configuration = trainingConfiguration
                configuration.epochs = epochs
                trainer = try Checkpoint.resume(from: file, source: resume, configuration: configuration, as: Scalar.self)
            } catch let error as SafetensorsError {
                throw UserError(message: "--resume: \(error.description)")
            }
            print("resuming \(resume) at epoch \(trainer.epoch + 1), step \(trainer.stepInEpoch)")
        } else {
            var generator = SeededGenerator(seed: seed)
            let classifier = IdentityClassifier<Scalar>(
                inputFeatures: train.features, classes: train.classes, layers: layers, activation: activation,
                initialization: initialization, sigma: sigma, bias: bias, using: &generator)
            trainer = Trainer(classifier: classifier, configuration: trainingConfiguration)
        }

        let steps = trainer.stepsPerEpoch(train)
        print("training \(layers) layers × width \(train.features + train.classes) (\(activation.rawValue), \(initialization.rawValue) σ = \(sigma)), "
            + "\(train.count) images, batch \(batch), \(optimizer.rawValue) lr \(lr), \(epochs) epochs, \(precision.rawValue), "
            + "OpenBLAS \(OpenBLAS.coreName) × \(OpenBLAS.threads)")
        let bar = ProgressBar(label: "epoch")
        var stepLosses: [(step: Int, loss: Double)] = []
        // How each layer moves away from σI, about ten times an epoch (a pass over the weights,
        // a few milliseconds, against seconds of training between samples).
        var distanceTrace: [(step: Int, distances: [Double])] = [(trainer.globalStep, trainer.classifier.distanceFromIdentity())]
        let traceInterval = max(steps / 10, 1)
        trainer.onStep = { [unowned trainer] event in
            stepLosses.append((event.globalStep, event.loss))
            if event.globalStep % traceInterval == 0 || event.stepInEpoch == event.stepsPerEpoch {
                distanceTrace.append((event.globalStep, trainer.classifier.distanceFromIdentity()))
            }
            if event.stepInEpoch % 5 == 0 || event.stepInEpoch == event.stepsPerEpoch {
                bar.update(event.stepInEpoch, event.stepsPerEpoch, detail: String(
                    format: "%d/%d  loss %.4f  acc %.1f %%  %.0f samples/s", event.epoch + 1, epochs, event.loss,
                    event.accuracy * 100, event.samplesPerSecond))
            }
        }
        trainer.onEpoch = { record, trainer in
            bar.finish()
            print(String(format: "epoch %d/%d  train loss %.4f  acc %.2f %%  test loss %.4f  acc %.2f %%  %.0f samples/s  %.1f s",
                         record.epoch, epochs, record.trainLoss, record.trainAccuracy * 100, record.testLoss,
                         record.testAccuracy * 100, record.samplesPerSecond, record.seconds))
            fflush(nil)
            // The last good state, after every epoch: a later NaN or crash keeps this one.
            try? Checkpoint.write(trainer.classifier, trainer: trainer, to: checkpointURL)
        }

        signal(SIGINT) { _ in interruptRequested = 1 }
        // A parent (a test runner, a job scheduler) may have left SIGINT blocked; unblock it.
        var mask = sigset_t()
        sigemptyset(&mask)
        sigaddset(&mask, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &mask, nil)
        let finished: Bool
        do {
            finished = try trainer.train(train, test: dataset.test, shouldStop: { interruptRequested != 0 })
        } catch let error as TrainingError {
            bar.finish()
            try writeMetrics(trainer, stepLosses: stepLosses, distanceTrace: distanceTrace, stepsPerEpoch: steps, folder: folder, evaluation: nil)
            throw UserError(message: error.description, isInternal: true)
        }
        bar.finish()
        do {
            try Checkpoint.write(trainer.classifier, trainer: trainer, to: checkpointURL)
        } catch {
            throw UserError(message: "cannot write \(checkpointURL.path): \((error as NSError).localizedDescription)")
        }
        if !finished {
            try writeMetrics(trainer, stepLosses: stepLosses, distanceTrace: distanceTrace, stepsPerEpoch: steps, folder: folder, evaluation: nil)
            FileHandle.standardError.write(Data("train: interrupted at epoch \(trainer.epoch + 1), step \(trainer.stepInEpoch); checkpoint saved: resume with --resume \(checkpointURL.path)\n".utf8))
            Foundation.exit(130)
        }
        let evaluation = trainer.evaluate(dataset.test)
        try writeMetrics(trainer, stepLosses: stepLosses, distanceTrace: distanceTrace, stepsPerEpoch: steps, folder: folder, evaluation: evaluation)
        let distances = trainer.classifier.distanceFromIdentity()
        print("\nlayer  test accuracy of class dims  ‖W−σI‖/‖σI‖")
        for l in 0 ..< layers {
            print(String(format: "%5d  %26.2f %%  %12.4f", l + 1, evaluation.layerAccuracies[l] * 100, distances[l]))
        }
        print(String(format: "\ntest accuracy %.2f %% (loss %.4f); wrote %@/{checkpoint.safetensors, metrics.json, metrics.csv, curves.svg, distances.svg, layers.svg}",
                     evaluation.accuracy * 100, evaluation.loss, folder.path))
    }

    func writeMetrics<Scalar>(_ trainer: Trainer<Scalar>, stepLosses: [(step: Int, loss: Double)],
                              distanceTrace: [(step: Int, distances: [Double])], stepsPerEpoch: Int,
                              folder: URL, evaluation: Evaluation?) throws {
        let distances = trainer.classifier.distanceFromIdentity()
        let metrics = Metrics(configuration: trainer.configuration, epochs: trainer.history,
                              distanceTrace: distanceTrace.map { Metrics.DistanceSample(step: $0.step, distanceFromIdentity: $0.distances) },
                              layerAccuracies: evaluation?.layerAccuracies,
                              distanceFromIdentity: distances, testAccuracy: evaluation?.accuracy, testLoss: evaluation?.loss,
                              precision: precision.rawValue)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try writeAtomically(String(decoding: try encoder.encode(metrics), as: UTF8.self), to: folder.appendingPathComponent("metrics.json").path, flag: "--output")
        var csv = "epoch,train_loss,train_accuracy,test_loss,test_accuracy,learning_rate,samples_per_second,seconds"
        csv += (1 ... trainer.classifier.layers).map { ",distance_layer_\($0)" }.joined() + "\n"
        for r in trainer.history {
            csv += "\(r.epoch),\(r.trainLoss),\(r.trainAccuracy),\(r.testLoss),\(r.testAccuracy),\(r.learningRate),\(r.samplesPerSecond),\(r.seconds)"
            csv += r.distanceFromIdentity.map { ",\($0)" }.joined() + "\n"
        }
        try writeAtomically(csv, to: folder.appendingPathComponent("metrics.csv").path, flag: "--output")
        let title = "\(layers)-layer \(activation.rawValue) MLP, \(initialization.rawValue) σ = \(sigma), \(optimizer.rawValue) lr \(lr), batch \(batch)"
        try writeAtomically(trainingCurvesFigure(history: trainer.history, stepLosses: stepLosses, stepsPerEpoch: stepsPerEpoch, title: title).render(),
                            to: folder.appendingPathComponent("curves.svg").path, flag: "--output")
        try writeAtomically(distanceTrajectoryFigure(trace: distanceTrace, stepsPerEpoch: stepsPerEpoch,
                                                     title: "Distance from σI during training, every layer").render(),
                            to: folder.appendingPathComponent("distances.svg").path, flag: "--output")
        if let evaluation {
            try writeAtomically(layerFigure(accuracies: evaluation.layerAccuracies, distances: distances, title: "Per layer: readout accuracy and distance from identity").render(),
                                to: folder.appendingPathComponent("layers.svg").path, flag: "--output")
        }
    }
}
