@_spi(RawBLAS) import Datasets
import Foundation
import Networks
import TensorAlgebra
import IsometrySupport

/// How a classifier is trained: the run half of a training run (the model half is Networks'
/// `ClassifierConfiguration`). The trainer obeys every field.
public struct TrainingConfiguration: Sendable, Codable, Equatable {
    public var batchSize: Int
    public var epochs: Int
    public var learningRate: Double
    public var schedule: LearningRateSchedule
    public var optimizer: OptimizerConfiguration
    /// Seeds the shuffle of every epoch (epoch e uses seed + e).
    public var seed: UInt64
    /// Train on the first `trainLimit` training images only (nil: all).
    public var trainLimit: Int?
    /// OpenBLAS threads for the run's GEMMs (nil: leave OpenBLAS's setting, every core by default).
    public var threads: Int?

    public init(batchSize: Int = 128, epochs: Int = 5, learningRate: Double = 0.01, schedule: LearningRateSchedule = .constant,
                optimizer: OptimizerConfiguration = .sgd(momentum: 0, weightDecay: 0), seed: UInt64 = 0,
                trainLimit: Int? = nil, threads: Int? = nil) {
        self.batchSize = batchSize
        self.epochs = epochs
        self.learningRate = learningRate
        self.schedule = schedule
        self.optimizer = optimizer
        self.seed = seed
        self.trainLimit = trainLimit
        self.threads = threads
    }

    /// The one check of these settings, which every trainer, session, study and command runs:
    /// throws the first setting nothing can train with (epochs, learning rate, batch size,
    /// image limit, threads, the optimizer's coefficients) and, given the `images` an epoch
    /// visits, a batch larger than they are.
    public func validate(images: Int? = nil) throws(TrainingError) {
        func unit(_ name: String, _ value: Double) throws(TrainingError) {
            if !(0 ..< 1).contains(value) { throw .invalidSetting(name: name, value: "\(value)", expected: "in [0, 1)") }
        }
        func decay(_ value: Double) throws(TrainingError) {
            if !(value.isFinite && value >= 0) { throw .invalidSetting(name: "weightDecay", value: "\(value)", expected: "a finite number ≥ 0") }
        }
        if epochs < 1 { throw .invalidSetting(name: "epochs", value: "\(epochs)", expected: "at least 1") }
        if !(learningRate.isFinite && learningRate > 0) {
            throw .invalidSetting(name: "learningRate", value: "\(learningRate)", expected: "a finite number > 0")
        }
        if let trainLimit, trainLimit < 1 { throw .invalidSetting(name: "trainLimit", value: "\(trainLimit)", expected: "at least 1") }
        if let threads, threads < 1 { throw .invalidSetting(name: "threads", value: "\(threads)", expected: "at least 1") }
        switch optimizer {
        case .sgd(let momentum, let weightDecay):
            try unit("momentum", momentum)
            try decay(weightDecay)
        case .adam(let beta1, let beta2, let epsilon, let weightDecay):
            try unit("beta1", beta1)
            try unit("beta2", beta2)
            if !(epsilon.isFinite && epsilon > 0) { throw .invalidSetting(name: "epsilon", value: "\(epsilon)", expected: "a finite number > 0") }
            try decay(weightDecay)
        }
        if batchSize < 1 || images.map({ batchSize > $0 }) == true {
            throw .batchSizeOutOfRange(batchSize: batchSize, images: images ?? 0)
        }
    }
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
    /// nil when `trainLoss` and `trainAccuracy` cover the whole epoch. A run resumed mid-epoch
    /// from a checkpoint without the epoch's running sums (written before they were stored)
    /// covers only the steps from this one (1-based) on.
    public var trainFiguresFromStep: Int? = nil
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

/// Where a run stood when its loss or weights stopped being finite numbers, and what of it is
/// left to resume from.
public struct Divergence: Sendable, Equatable, CustomStringConvertible {
    /// "the loss", "the weights of layer 3", "the test loss", …
    public var quantity: String
    public var value: Double
    /// 1-based epoch and step within it, and the run's step count: the step that computed the
    /// non-finite loss, or the last step before non-finite weights were found.
    public var epoch: Int
    public var step: Int
    public var globalStep: Int
    /// The loss of the weights as drawn (or loaded) was already non-finite: no update caused it.
    public var beforeAnyUpdate: Bool
    public var lastGood: LastGood

    public enum LastGood: Sendable, Equatable {
        /// A trainer on its own writes no checkpoint; a session says which one is left.
        case unknown
        /// This run wrote no checkpoint and was not resumed from one.
        case none
        /// The checkpoint at `path`, untouched by the diverged state, of `epochsDone` epochs and `stepInEpoch` steps of the next.
        case kept(path: String, epochsDone: Int, stepInEpoch: Int)
    }

    public var description: String {
        var text = "\(quantity) became \(value) at epoch \(epoch), step \(step) (step \(globalStep) of the run)"
        switch lastGood {
        case .unknown: break
        case .none: text += "; no checkpoint of this run was written"
        case .kept(let path, let done, let step):
            text += "; the last good checkpoint, \(path) (" + (step == 0 ? "after epoch \(done)" : "epoch \(done + 1), step \(step)") + "), is kept"
        }
        return text + (beforeAnyUpdate ? "; the network as initialised already overflows: lower σ or the depth"
            : "; lower the learning rate")
    }
}

/// Why training cannot start or go on. Every case carries the value at fault.
public enum TrainingError: Error, Equatable, CustomStringConvertible {
    /// The loss or the weights became NaN or infinite; nothing non-finite was written as a checkpoint.
    case diverged(Divergence)
    case invalidSetting(name: String, value: String, expected: String)
    case batchSizeOutOfRange(batchSize: Int, images: Int)
    case data(EvaluationError)
    case checkpoint(ModelFileError)
    /// A setting given for a resumed run that differs from the checkpoint's (`name` as the
    /// caller knows it, a flag for a command).
    case settingDiffersFromCheckpoint(name: String, stored: String, given: String)
    /// A checkpoint without the trainer's state: it can be analysed, not resumed.
    case notATrainingCheckpoint(path: String)
    /// A progress value in a checkpoint that cannot be (negative, past the run, …).
    case invalidProgress(path: String, key: String, value: String, expected: String)
    /// The run would need more memory than the machine has.
    case tooLarge(estimatedBytes: Double, availableBytes: Double)
    /// An output file or folder could not be written.
    case cannotWrite(path: String, reason: String)
    /// Data a layer stack or its loss cannot take: one line naming the data, the layer and the shapes.
    case dataMismatch(String)

    public var description: String {
        switch self {
        case .diverged(let divergence): divergence.description
        case .invalidSetting(let name, let value, let expected): "\(name) is \(value), expected \(expected)"
        case .settingDiffersFromCheckpoint(let name, let stored, let given):
            "\(name) \(given) differs from the checkpoint's \(stored); leave \(name) out to continue the run as it was"
        case .batchSizeOutOfRange(let batchSize, let images):
            "batch size \(batchSize) must be between 1 and the \(images) training images"
        case .data(let error): error.description
        case .checkpoint(let error): error.description
        case .notATrainingCheckpoint(let path):
            "\(path): not a training checkpoint (no 'configuration' metadata); it can be analysed but not resumed"
        case .invalidProgress(let path, let key, let value, let expected): "\(path): metadata \(key) = '\(value)', expected \(expected)"
        case .cannotWrite(let path, let reason): "cannot write \(path): \(reason)"
        case .dataMismatch(let message): message
        case .tooLarge(let bytes, let available):
            String(format: "the run needs about %.1f GiB (weights, optimizer state, a batch of activations per layer) but this machine has %.1f GiB",
                   bytes / 1_073_741_824, available / 1_073_741_824)
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
    /// The current epoch's running sums, stored in checkpoints so a resumed epoch's figures are
    /// those of an uninterrupted one.
    var trainLossSum = 0.0, trainCorrect = 0, trainSeen = 0
    /// Set when resuming mid-epoch without the running sums: the 1-based step they start at.
    var trainFiguresFromStep: Int?

    public init(classifier: IdentityClassifier<Scalar>, configuration: TrainingConfiguration) {
        self.classifier = classifier
        self.configuration = configuration
        optimizer = OptimizerState(configuration.optimizer)
        workspace = BatchWorkspace(batchSize: configuration.batchSize, width: classifier.width, layers: classifier.layers,
                                   classStart: classifier.inputFeatures)
        optimizer.prepare(shapes: parameterShapes)
    }

    var parameterShapes: [[Int]] {
        classifier.network.weights.map(\.shape) + classifier.network.biases.compactMap { $0?.shape }
    }

    /// Full batches per epoch on `data` (after `trainLimit`).
    public func stepsPerEpoch(_ data: LabeledImages) -> Int { trainingImages(data).count / configuration.batchSize }

    /// The images an epoch visits: the first `trainLimit` of `data`, or all.
    public func trainingImages(_ data: LabeledImages) -> LabeledImages {
        configuration.trainLimit.map { data.prefix($0) } ?? data
    }

    /// Trains until `configuration.epochs` are done or `shouldStop` returns true (checked
    /// before every step). Returns true when all epochs finished.
    @discardableResult
    public func train(_ data: LabeledImages, test: LabeledImages, shouldStop: () -> Bool = { false }) throws(TrainingError) -> Bool {
        let c = configuration
        let data = trainingImages(data)
        try c.validate(images: data.count)
        guard data.features == classifier.inputFeatures else {
            throw .data(.featureMismatch(dataFeatures: data.features, networkFeatures: classifier.inputFeatures))
        }
        for split in [data, test] {
            if let label = split.labels.max(), label >= classifier.classes {
                throw .data(.labelOutOfRange(label: label, classes: classifier.classes))
            }
        }
        if test.count == 0 { throw .data(.empty) }
        if stepInEpoch > stepsPerEpoch(data) {
            throw .invalidProgress(path: "trainer", key: "step_in_epoch", value: "\(stepInEpoch)",
                                   expected: "at most the \(stepsPerEpoch(data)) steps of an epoch")
        }
        let steps = stepsPerEpoch(data)
        let totalSteps = steps * c.epochs
        // OpenBLAS threads each GEMM itself: at batch 128 whole steps run 2–50 % faster than
        // with rows split over single-threaded calls (docs/benchmarks.md, "Threading").
        return try OpenBLAS.withThreads(c.threads) { () throws(TrainingError) in
            try runEpochs(data, test: test, steps: steps, totalSteps: totalSteps, shouldStop: shouldStop)
        }
    }

    /// The epochs of ``train(_:test:shouldStop:)`` once its inputs are checked.
    private func runEpochs(_ data: LabeledImages, test: LabeledImages, steps: Int, totalSteps: Int,
                           shouldStop: () -> Bool) throws(TrainingError) -> Bool {
        let c = configuration
        while epoch < c.epochs {
            var generator = SeededGenerator(seed: c.seed &+ UInt64(epoch))
            let order = shuffledIndices(data.count, using: &generator)
            let start = Date()
            var samplesThisRun = 0
            while stepInEpoch < steps {
                if shouldStop() {
                    // The caller writes a checkpoint next: never one of non-finite weights.
                    try checkWeightsAreFinite()
                    return false
                }
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
            // The epoch's last step may have made the weights non-finite; its loss, computed before
            // the update, could not show it. Nothing of such a state is recorded or written.
            try checkWeightsAreFinite()
            let evaluation: Evaluation
            do { evaluation = try classifier.evaluate(test) } catch { throw .data(error) }
            guard evaluation.loss.isFinite else {
                throw .diverged(divergence(of: "the test loss", value: evaluation.loss, step: stepInEpoch, beforeAnyUpdate: false))
            }
            let record = EpochRecord(
                epoch: epoch + 1, trainLoss: trainLossSum / Double(max(trainSeen, 1)),
                trainAccuracy: Double(trainCorrect) / Double(max(trainSeen, 1)),
                testLoss: evaluation.loss, testAccuracy: evaluation.accuracy,
                learningRate: c.schedule.rate(base: c.learningRate, step: globalStep, totalSteps: totalSteps),
                samplesPerSecond: Double(samplesThisRun) / max(seconds, 1e-9), seconds: seconds,
                distanceFromIdentity: classifier.distanceFromIdentity(), trainFiguresFromStep: trainFiguresFromStep)
            history.append(record)
            (trainLossSum, trainCorrect, trainSeen, trainFiguresFromStep) = (0, 0, 0, nil)
            epoch += 1
            stepInEpoch = 0
            onEpoch?(record, self)
        }
        return true
    }

    /// One optimisation step on the images `batch` of `data`.
    @discardableResult
    public func step(_ data: LabeledImages, _ batch: ArraySlice<Int>, learningRate: Double) throws(TrainingError) -> (loss: Double, correct: Int) {
        require(batch.count == configuration.batchSize, "Trainer.step: a batch of \(batch.count) images, the trainer was built for \(configuration.batchSize)")
        data.gather(batch, into: workspace.input, width: workspace.width)
        for (row, index) in batch.enumerated() { workspace.labels[row] = data.labels[index] }
        workspace.forward(classifier.network)
        let (loss, correct) = workspace.loss(gradient: true)
        guard loss.isFinite else {
            // The loss comes before this step's update: non-finite on the first update of a run
            // means the weights as drawn (σ, depth) overflow, not the learning rate.
            throw .diverged(Divergence(quantity: "the loss", value: loss, epoch: epoch + 1, step: stepInEpoch + 1, globalStep: globalStep + 1,
                                       beforeAnyUpdate: optimizer.steps == 0, lastGood: .unknown))
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

extension Trainer {
    /// Throws `.diverged` when a weight or bias is NaN or infinite (a pass over the parameters,
    /// done before anything is recorded or written, not at every step).
    public func checkWeightsAreFinite() throws(TrainingError) {
        let network = classifier.network
        for l in 0 ..< classifier.layers {
            let parameters: [(String, Tensor<Scalar>?)] = [("weights", network.weights[l]), ("bias", network.biases[l])]
            for (kind, tensor) in parameters {
                guard let tensor else { continue }
                let bad = tensor.withUnsafeBufferPointer { $0.first { !$0.isFinite } }
                if let bad {
                    throw .diverged(divergence(of: "the \(kind) of layer \(l + 1)", value: Double(bad), step: stepInEpoch,
                                               beforeAnyUpdate: optimizer.steps == 0))
                }
            }
        }
    }

    func divergence(of quantity: String, value: Double, step: Int, beforeAnyUpdate: Bool) -> Divergence {
        Divergence(quantity: quantity, value: value, epoch: epoch + 1, step: step, globalStep: globalStep, beforeAnyUpdate: beforeAnyUpdate,
                   lastGood: .unknown)
    }

    /// The classifier's evaluation on `data`, with the run's OpenBLAS threads.
    public func evaluate(_ data: LabeledImages) throws(EvaluationError) -> Evaluation {
        try OpenBLAS.withThreads(configuration.threads) { () throws(EvaluationError) in try classifier.evaluate(data) }
    }
}
