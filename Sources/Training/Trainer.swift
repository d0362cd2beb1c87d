import Datasets
import Foundation
import Networks
import TensorAlgebra

/// Everything that defines a training run.
public struct TrainingConfiguration: Sendable, Codable, Equatable {
    public var layers = 10
    public var activation: Activation = .hardTanh
    public var initialization: Initialization = .identity
    public var sigma = 1.0
    public var bias = false
    public var batchSize = 128
    public var epochs = 5
    public var learningRate = 0.01
    public var schedule: LearningRateSchedule = .constant
    public var optimizer: OptimizerConfiguration = .sgd(momentum: 0, weightDecay: 0)
    public var seed: UInt64 = 0
    /// Use only the first `trainLimit` training images (nil: all).
    public var trainLimit: Int?
    /// OpenBLAS threads for the run's GEMMs (nil: leave OpenBLAS's setting, every core by default).
    public var threads: Int?

    public init() {}
}

/// One epoch's figures.
public struct EpochRecord: Sendable, Codable, Equatable {
    public var epoch: Int
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var testLoss: Double
    public var testAccuracy: Double
    public var learningRate: Double
    public var samplesPerSecond: Double
    public var seconds: Double
    /// ‖W^l − σI‖_F / ‖σI‖_F per layer at the end of the epoch.
    public var distanceFromIdentity: [Double]
}

/// The figures of one step, for progress displays and callbacks.
public struct StepEvent: Sendable {
    public var epoch: Int
    public var stepInEpoch: Int
    public var stepsPerEpoch: Int
    public var globalStep: Int
    public var loss: Double
    public var accuracy: Double
    public var samplesPerSecond: Double
}

/// Accuracy and loss over a dataset, and the accuracy of every layer's class dimensions.
public struct Evaluation: Sendable, Codable {
    public var loss: Double
    public var accuracy: Double
    /// Layer l's recognition accuracy: argmax of h^l[D..<D+C] against the label, no probe.
    public var layerAccuracies: [Double]
    /// Per layer, confusion[true][predicted] counts.
    public var layerConfusion: [[[Int]]]
    /// Per layer, the mean softmax probability of the true class over its class dimensions.
    public var layerTrueClassLikelihoods: [Double]
}

public enum TrainingError: Error, CustomStringConvertible {
    case nonFiniteLoss(epoch: Int, step: Int, value: Double)
    case badConfiguration(String)

    public var description: String {
        switch self {
        case .nonFiniteLoss(let epoch, let step, let value):
            "the loss became \(value) at epoch \(epoch), step \(step); lower the learning rate (the last good checkpoint is kept)"
        case .badConfiguration(let message): message
        }
    }
}

/// Trains an `IdentityClassifier` on labelled images with mini-batch SGD or Adam.
///
/// Every buffer (batch, activations, gradients, optimizer state) is allocated before the first
/// step. Each epoch visits the training images in a permutation drawn from `seed + epoch`, in
/// full batches (the remainder, fewer than a batch, is left out of that epoch), so a run
/// resumed from a checkpoint continues exactly where it stopped.
public final class Trainer<Scalar: BLASScalar> {
    public var classifier: IdentityClassifier<Scalar>
    public let configuration: TrainingConfiguration
    public let optimizer: OptimizerState<Scalar>
    /// Where the run stands: the next epoch (0-based) and the batches of it already done.
    public var epoch = 0
    public var stepInEpoch = 0
    public var globalStep = 0
    public var history: [EpochRecord] = []

    /// Called after every step.
    public var onStep: ((StepEvent) -> Void)?
    /// Called after every epoch, with the trainer, so research code can inspect the weights.
    public var onEpoch: ((EpochRecord, Trainer) -> Void)?

    private let workspace: BatchWorkspace<Scalar>
    private var trainLossSum = 0.0, trainCorrect = 0, trainSeen = 0

    public init(classifier: IdentityClassifier<Scalar>, configuration: TrainingConfiguration) {
        self.classifier = classifier
        self.configuration = configuration
        optimizer = OptimizerState(configuration.optimizer)
        workspace = BatchWorkspace(batchSize: configuration.batchSize, width: classifier.width, layers: classifier.layers,
                                   classStart: classifier.inputFeatures, training: true)
        optimizer.prepare(shapes: parameterShapes)
    }

    var parameterShapes: [[Int]] {
        classifier.network.weights.map(\.shape) + classifier.network.biases.compactMap { $0?.shape }
    }

    public func stepsPerEpoch(_ data: LabeledImages) -> Int { data.count / configuration.batchSize }

    /// Trains until `configuration.epochs` are done or `shouldStop` returns true (checked
    /// before every step). Returns true when all epochs finished.
    @discardableResult
    public func train(_ data: LabeledImages, test: LabeledImages, shouldStop: () -> Bool = { false }) throws -> Bool {
        let c = configuration
        guard c.batchSize >= 1, c.batchSize <= data.count else {
            throw TrainingError.badConfiguration("batch size \(c.batchSize) must be between 1 and the \(data.count) training images")
        }
        guard data.features == classifier.inputFeatures else {
            throw TrainingError.badConfiguration("the data has \(data.features) features but the network takes \(classifier.inputFeatures)")
        }
        let steps = stepsPerEpoch(data)
        let totalSteps = steps * c.epochs
        // OpenBLAS threads each GEMM itself: at batch 128 whole steps run 2–50 % faster than
        // with rows split over single-threaded calls (docs/benchmarks.md, "Threading").
        let previousThreads = OpenBLAS.threads
        if let threads = c.threads { OpenBLAS.threads = threads }
        defer { OpenBLAS.threads = previousThreads }
        while epoch < c.epochs {
            var generator = SeededGenerator(seed: c.seed &+ UInt64(epoch))
            let order = shuffledIndices(data.count, using: &generator)
            let start = Date()
            var samplesThisRun = 0
            while stepInEpoch < steps {
                if shouldStop() { return false }
                let rate = c.schedule.rate(base: c.learningRate, step: globalStep, totalSteps: totalSteps)
                let batch = order[(stepInEpoch * c.batchSize) ..< ((stepInEpoch + 1) * c.batchSize)]
                let (loss, correct) = try step(data, batch, learningRate: rate)
                stepInEpoch += 1
                globalStep += 1
                samplesThisRun += c.batchSize
                onStep?(StepEvent(
                    epoch: epoch, stepInEpoch: stepInEpoch, stepsPerEpoch: steps, globalStep: globalStep, loss: loss,
                    accuracy: Double(correct) / Double(c.batchSize),
                    samplesPerSecond: Double(samplesThisRun) / max(Date().timeIntervalSince(start), 1e-9)))
            }
            let seconds = Date().timeIntervalSince(start)
            let evaluation = classifier.evaluate(test)
            let record = EpochRecord(
                epoch: epoch + 1, trainLoss: trainLossSum / Double(max(trainSeen, 1)),
                trainAccuracy: Double(trainCorrect) / Double(max(trainSeen, 1)),
                testLoss: evaluation.loss, testAccuracy: evaluation.accuracy,
                learningRate: c.schedule.rate(base: c.learningRate, step: globalStep, totalSteps: totalSteps),
                samplesPerSecond: Double(samplesThisRun) / max(seconds, 1e-9), seconds: seconds,
                distanceFromIdentity: classifier.distanceFromIdentity())
            history.append(record)
            (trainLossSum, trainCorrect, trainSeen) = (0, 0, 0)
            epoch += 1
            stepInEpoch = 0
            onEpoch?(record, self)
        }
        return true
    }

    /// One optimisation step on the images `batch` of `data`.
    @discardableResult
    public func step(_ data: LabeledImages, _ batch: ArraySlice<Int>, learningRate: Double) throws -> (loss: Double, correct: Int) {
        data.gather(batch, into: workspace.input, width: workspace.width)
        for (row, index) in batch.enumerated() { workspace.labels[row] = data.labels[index] }
        workspace.forward(classifier.network)
        let (loss, correct) = workspace.loss(gradient: true)
        guard loss.isFinite else {
            throw TrainingError.nonFiniteLoss(epoch: epoch + 1, step: stepInEpoch + 1, value: loss)
        }
        if case .sgd(momentum: 0, let weightDecay) = configuration.optimizer {
            workspace.backwardWithSGD(&classifier.network, learningRate: learningRate, weightDecay: weightDecay)
        } else {
            workspace.backward(classifier.network)
            let layers = classifier.layers
            for l in 0 ..< layers {
                optimizer.update(&classifier.network.weights[l], gradient: workspace.weightGradients[l], index: l, learningRate: learningRate)
            }
            var index = layers
            for l in 0 ..< layers where classifier.network.biases[l] != nil {
                optimizer.update(&classifier.network.biases[l]!, gradient: workspace.biasGradients[l], index: index, learningRate: learningRate)
                index += 1
            }
        }
        optimizer.steps += 1
        trainLossSum += loss * Double(batch.count)
        trainCorrect += correct
        trainSeen += batch.count
        return (loss, correct)
    }
}

extension IdentityClassifier {
    /// Loss, accuracy and every layer's readout accuracy and confusion matrix over `data`,
    /// in batches of `batchSize` (the last one may be smaller).
    public func evaluate(_ data: LabeledImages, batchSize: Int = 500, workers: Int = 1) -> Evaluation {
        let c = classes
        var confusion = [[[Int]]](repeating: [[Int]](repeating: [Int](repeating: 0, count: c), count: c), count: layers)
        var likelihood = [Double](repeating: 0, count: layers)
        var totalLoss = 0.0
        var correct = 0
        var workspaces: [Int: BatchWorkspace<Scalar>] = [:]
        var start = 0
        while start < data.count {
            let size = min(batchSize, data.count - start)
            let workspace = workspaces[size]
                ?? BatchWorkspace(batchSize: size, width: width, layers: layers, classStart: inputFeatures, training: false, workers: workers)
            workspaces[size] = workspace
            data.gather((start ..< start + size).map { $0 }[...], into: workspace.input, width: width)
            for row in 0 ..< size { workspace.labels[row] = data.labels[start + row] }
            workspace.forward(network)
            let (loss, right) = workspace.loss(gradient: false)
            totalLoss += loss * Double(size)
            correct += right
            for l in 0 ..< layers {
                let h = workspace.h[l]
                for row in 0 ..< size {
                    let scores = h + row * width + inputFeatures
                    let label = data.labels[start + row]
                    var best = 0
                    for k in 1 ..< c where scores[k] > scores[best] { best = k }
                    confusion[l][label][best] += 1
                    var total = 0.0
                    for k in 0 ..< c { total += Foundation.exp(Double(scores[k] - scores[best])) }
                    likelihood[l] += Foundation.exp(Double(scores[label] - scores[best])) / total
                }
            }
            start += size
        }
        let count = Double(max(data.count, 1))
        let accuracies = confusion.map { matrix in Double((0 ..< c).reduce(0) { $0 + matrix[$1][$1] }) / count }
        return Evaluation(loss: totalLoss / count, accuracy: Double(correct) / count, layerAccuracies: accuracies,
                          layerConfusion: confusion, layerTrueClassLikelihoods: likelihood.map { $0 / count })
    }
}

extension Trainer {
    public func evaluate(_ data: LabeledImages) -> Evaluation {
        let previousThreads = OpenBLAS.threads
        if let threads = configuration.threads { OpenBLAS.threads = threads }
        defer { OpenBLAS.threads = previousThreads }
        return classifier.evaluate(data)
    }
}
