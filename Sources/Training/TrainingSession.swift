import Datasets
import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// One training run as research code and `swift run train` both use it: a trainer, new or
/// resumed from a checkpoint, plus everything a run records and writes into its folder.
///
/// After every epoch, and at the end (or on interruption), the folder holds
/// `checkpoint.safetensors` (the last good state), `metrics.json`, `metrics.csv` and whatever
/// ``reportFiles`` adds (`train` adds the figures `curves.svg`, `distances.svg` and, for a
/// finished run, `layers.svg`), staged and moved into place together (``OutputStaging``): a
/// kill or a failed write (an error, not a silent skip) leaves the last complete set.
///
/// ```swift
/// let data = try ImageDataset(folder: ImageDataset.fashionMNISTFolder)
/// let session = try TrainingSession<Float>(
///     model: ClassifierConfiguration(layers: 10), training: TrainingConfiguration(epochs: 1, trainLimit: 5000),
///     data: data, folder: URL(fileURLWithPath: "out/run"))
/// session.onStep = { print($0.globalStep, $0.loss) }
/// let evaluation = try session.run()
/// ```
public final class TrainingSession<Scalar: BLASScalar> {
    public let trainer: Trainer<Scalar>
    public let data: ImageDataset
    /// Where the checkpoint, metrics and figures go; nil keeps everything in memory.
    public let folder: URL?
    /// Every step's loss, from the start of this session.
    public private(set) var stepLosses: [StepLoss] = []
    /// ‖Wˡ − σI‖/‖σI‖ of every layer about ten times an epoch, from the start of this session.
    public private(set) var distanceTrace: [DistanceSample] = []
    /// Called after every step (after the session has recorded it).
    public var onStep: ((StepEvent) -> Void)?
    /// Called after every epoch, once its checkpoint is written.
    public var onEpoch: ((EpochRecord) -> Void)?
    /// Extra text files written beside metrics.json whenever the metrics are (after every
    /// epoch, at the end, on interruption): the training figures, which the science floor does
    /// not draw. `train` sets it to `TrainingFigures.files` (Reports); nil writes none.
    public var reportFiles: ((TrainingSession<Scalar>, Evaluation?) -> [ReportFile])?

    /// A file a report floor adds to the run's folder.
    public struct ReportFile: Sendable, Equatable {
        public var name: String
        public var contents: String
        public init(name: String, contents: String) {
            self.name = name
            self.contents = contents
        }
    }

    public struct StepLoss: Sendable, Codable, Equatable {
        public var step: Int
        public var loss: Double
    }

    public struct DistanceSample: Sendable, Codable, Equatable {
        public var step: Int
        public var distanceFromIdentity: [Double]
    }

    public var checkpointURL: URL? { folder?.appendingPathComponent("checkpoint.safetensors") }
    /// The newest checkpoint of this run, which a divergence names (a trainer you built may come
    /// from a checkpoint the session does not know of: then `.unknown`).
    private var lastGood: Divergence.LastGood
    /// Why the run stopped, when it diverged.
    public private(set) var divergence: Divergence?
    /// Full batches per epoch on the (limited) training split.
    public var stepsPerEpoch: Int { trainer.stepsPerEpoch(data.train) }

    /// A new run: the classifier drawn as `model` says (seeded by `training.seed`).
    public convenience init(model: ClassifierConfiguration, training: TrainingConfiguration, data: ImageDataset,
                            folder: URL? = nil) throws(TrainingError) {
        if model.layers < 1 { throw .invalidSetting(name: "layers", value: "\(model.layers)", expected: "at least 1") }
        if !(model.sigma.isFinite && model.sigma > 0) {
            throw .invalidSetting(name: "sigma", value: "\(model.sigma)", expected: "a finite number > 0")
        }
        // Float(1e308) is infinite: the weights would be born non-finite.
        if model.sigma > Self.largestSigma {
            throw .invalidSetting(name: "sigma", value: "\(model.sigma)", expected: "at most \(Scalar.greatestFiniteMagnitude), the largest \(Scalar.self)")
        }
        // Settings first: a trainer with an impossible batch size cannot even be built.
        let images = training.trainLimit.map { min($0, data.train.count) } ?? data.train.count
        try training.validate(images: images)
        let bytes = Self.estimatedBytes(model: model, training: training, width: data.train.features + data.train.classes)
        if !MemoryBudget.allows(bytes) { throw .tooLarge(estimatedBytes: bytes, availableBytes: Double(MemoryBudget.physicalMemory)) }
        var generator = SeededGenerator(seed: training.seed)
        let classifier = IdentityClassifier<Scalar>(
            inputFeatures: data.train.features, classes: data.train.classes, configuration: model, using: &generator)
        try self.init(trainer: Trainer(classifier: classifier, configuration: training), data: data, folder: folder)
    }

    /// The largest σ whose weights this precision holds (the initialisations scale by at most σ).
    public static var largestSigma: Double { Double(Scalar.greatestFiniteMagnitude) }

    /// Bytes a run holds besides the dataset: L weight matrices N×N, the optimizer's buffers
    /// (none for plain SGD, whose update is fused into the gradient GEMM; one for momentum; two
    /// for Adam) plus a gradient buffer when not fused, one more copy of the weights while a
    /// checkpoint is written, and one batch of activations per layer (plus the input, the
    /// logits and two δ buffers).
    public static func estimatedBytes(model: ClassifierConfiguration, training: TrainingConfiguration, width: Int) -> Double {
        let n = Double(width), layers = Double(model.layers), scalar = Double(MemoryLayout<Scalar>.stride)
        let perWeight: Double = switch training.optimizer {
        case .sgd(momentum: 0, _): 1
        case .sgd: 3
        case .adam: 4
        }
        let batch = Double(max(training.batchSize, 1))
        return scalar * (layers * n * n * (perWeight + 1) + batch * n * (layers + 4))
    }

    /// A run that goes on from a training checkpoint, with `training`'s settings (e.g. more
    /// epochs). The architecture is the checkpoint's; with `layers`, a checkpoint of another
    /// depth, or of a width that does not fit the data, is refused naming both.
    public convenience init(resuming checkpoint: URL, layers: Int? = nil, training: TrainingConfiguration? = nil,
                            data: ImageDataset, folder: URL? = nil) throws(TrainingError) {
        try self.init(resuming: checkpoint, layers: layers, data: data, folder: folder) { stored throws(TrainingError) in training ?? stored }
    }

    /// The same, with the run settings chosen by `settings` from the checkpoint's (it may refuse
    /// a change by throwing).
    public convenience init(resuming checkpoint: URL, layers: Int? = nil, data: ImageDataset, folder: URL? = nil,
                            settings: (TrainingConfiguration) throws(TrainingError) -> TrainingConfiguration) throws(TrainingError) {
        let expected = layers.map { ($0, data.train.features + data.train.classes) }
        try self.init(trainer: Trainer(resumingFrom: checkpoint, expecting: expected, settings: settings), data: data, folder: folder)
        lastGood = .kept(path: checkpoint.path, epochsDone: trainer.epoch, stepInEpoch: trainer.stepInEpoch)
    }

    /// A session around a trainer you built.
    public init(trainer: Trainer<Scalar>, data: ImageDataset, folder: URL? = nil) throws(TrainingError) {
        let images = trainer.trainingImages(data.train).count
        try trainer.configuration.validate(images: images)
        guard data.train.features == trainer.classifier.inputFeatures else {
            throw .data(.featureMismatch(dataFeatures: data.train.features, networkFeatures: trainer.classifier.inputFeatures))
        }
        if data.test.count == 0 { throw .data(.empty) }
        self.trainer = trainer
        self.data = data
        self.folder = folder
        lastGood = trainer.globalStep == 0 ? .none : .unknown
        if let folder {
            do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
                throw .cannotWrite(path: folder.path, reason: (error as NSError).localizedDescription)
            }
        }
    }

    /// Trains until every epoch is done or `shouldStop` returns true (checked before every
    /// step). Returns the final test evaluation, or nil when stopped early (the checkpoint then
    /// holds the state to resume from). A non-finite loss or weights throw `.diverged` after
    /// writing the metrics so far; no checkpoint of non-finite weights is ever written.
    @discardableResult
    public func run(shouldStop: () -> Bool = { false }) throws(TrainingError) -> Evaluation? {
        let steps = stepsPerEpoch
        let traceInterval = max(steps / 10, 1)
        distanceTrace = [DistanceSample(step: trainer.globalStep, distanceFromIdentity: trainer.classifier.distanceFromIdentity())]
        stepLosses = []
        trainer.onStep = { [unowned self] event in
            stepLosses.append(StepLoss(step: event.globalStep, loss: event.loss))
            // A pass over the weights, a few milliseconds, against seconds of training between samples.
            if event.globalStep % traceInterval == 0 || event.stepInEpoch == event.stepsPerEpoch {
                distanceTrace.append(DistanceSample(step: event.globalStep, distanceFromIdentity: trainer.classifier.distanceFromIdentity()))
            }
            onStep?(event)
        }
        var epochWriteError: TrainingError?
        trainer.onEpoch = { [unowned self] record, _ in
            // The last good state, after every epoch, committed with its own metrics and
            // figures: a later NaN, kill or full disk keeps this set, never half of one.
            do throws(TrainingError) { try writeOutputs(evaluation: nil, checkpoint: true) } catch { epochWriteError = error }
            onEpoch?(record)
        }
        defer { trainer.onStep = nil; trainer.onEpoch = nil }
        let finished: Bool
        do {
            finished = try trainer.train(data.train, test: data.test, shouldStop: { epochWriteError != nil || shouldStop() })
        } catch .diverged(var divergence) {
            divergence.lastGood = lastGood
            self.divergence = divergence
            try writeMetrics(evaluation: nil)
            throw .diverged(divergence)
        } catch {
            try writeMetrics(evaluation: nil)
            throw error
        }
        // The write that failed first is the error (a full disk would fail the metrics too);
        // the folder keeps the last epoch that was committed whole.
        if let epochWriteError { throw epochWriteError }
        var evaluation: Evaluation?
        if finished {
            do { evaluation = try trainer.evaluate(data.test) } catch { throw .data(error) }
        }
        try writeOutputs(evaluation: evaluation, checkpoint: true)
        return evaluation
    }

    /// What `metrics.json` holds.
    public struct Metrics: Sendable, Codable {
        public var model: ClassifierConfiguration
        public var configuration: TrainingConfiguration
        public var precision: Precision
        public var epochs: [EpochRecord]
        /// ‖Wˡ − σI‖/‖σI‖ about ten times an epoch, from the start of this session.
        public var distanceTrace: [DistanceSample]
        public var layerAccuracies: [Double]?
        public var distanceFromIdentity: [Double]
        public var testAccuracy: Double?
        public var testLoss: Double?
        /// Where and how the run diverged, nil when it did not.
        public var diverged: String?
    }

    /// The run's figures so far.
    public func metrics(evaluation: Evaluation?) -> Metrics {
        Metrics(model: trainer.classifier.configuration, configuration: trainer.configuration,
                precision: Scalar.self == Float.self ? .float : .double, epochs: trainer.history, distanceTrace: distanceTrace,
                layerAccuracies: evaluation?.layerAccuracies, distanceFromIdentity: trainer.classifier.distanceFromIdentity(),
                testAccuracy: evaluation?.accuracy, testLoss: evaluation?.loss, diverged: divergence?.description)
    }

    /// metrics.csv: one row per epoch, one distance column per layer.
    public func metricsCSV() -> String {
        var csv = "epoch,train_loss,train_accuracy,test_loss,test_accuracy,learning_rate,samples_per_second,seconds"
        csv += (1 ... trainer.classifier.layers).map { ",distance_layer_\($0)" }.joined() + "\n"
        for r in trainer.history {
            csv += "\(r.epoch),\(r.trainLoss),\(r.trainAccuracy),\(r.testLoss),\(r.testAccuracy),\(r.learningRate),\(r.samplesPerSecond),\(r.seconds)"
            csv += r.distanceFromIdentity.map { ",\($0)" }.joined() + "\n"
        }
        return csv
    }

    /// The checkpoint of the current state, atomically; refused (`.diverged`, the file kept) when
    /// the weights are not finite.
    public func writeCheckpoint() throws(TrainingError) {
        guard let url = checkpointURL else { return }
        try checkWeightsBeforeACheckpoint()
        do { try trainer.writeCheckpoint(to: url) } catch { throw Self.cannotWrite(url, error) }
        lastGood = .kept(path: url.path, epochsDone: trainer.epoch, stepInEpoch: trainer.stepInEpoch)
    }

    /// Never a checkpoint of non-finite weights: the last good one stays (its place is named).
    private func checkWeightsBeforeACheckpoint() throws(TrainingError) {
        do throws(TrainingError) { try trainer.checkWeightsAreFinite() } catch .diverged(var divergence) {
            divergence.lastGood = lastGood
            throw .diverged(divergence)
        }
    }

    /// metrics.json, metrics.csv and the files of ``reportFiles`` (the figures, when a report
    /// floor such as the Reports module provides them), committed together
    /// (``OutputStaging``): a failed write leaves the previous ones as they were.
    public func writeMetrics(evaluation: Evaluation?) throws(TrainingError) {
        try writeOutputs(evaluation: evaluation, checkpoint: false)
    }

    /// The run's files, staged inside the folder and moved into place together once all are on
    /// disk: with `checkpoint`, the checkpoint beside the metrics and figures of the same state.
    private func writeOutputs(evaluation: Evaluation?, checkpoint: Bool) throws(TrainingError) {
        guard let folder else { return }
        let staging: OutputStaging
        do { staging = try OutputStaging(into: folder) } catch { throw Self.cannotWrite(folder, error) }
        if checkpoint {
            try checkWeightsBeforeACheckpoint()
            let url = folder.appendingPathComponent("checkpoint.safetensors")
            do { try trainer.writeCheckpoint(to: try staging.url(url.lastPathComponent)) } catch { throw Self.cannotWrite(url, error) }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var files: [(String, () throws -> Data)] = [
            ("metrics.json", { try encoder.encode(self.metrics(evaluation: evaluation)) }),
            ("metrics.csv", { Data(self.metricsCSV().utf8) }),
        ]
        for file in reportFiles?(self, evaluation) ?? [] {
            files.append((file.name, { Data(file.contents.utf8) }))
        }
        for (name, contents) in files {
            do { try AtomicFile.write(try contents(), to: try staging.url(name)) } catch {
                throw Self.cannotWrite(folder.appendingPathComponent(name), error)
            }
        }
        do { try staging.commit() } catch { throw Self.cannotWrite(URL(fileURLWithPath: error.path), error) }
        if checkpoint {
            lastGood = .kept(path: folder.appendingPathComponent("checkpoint.safetensors").path,
                             epochsDone: trainer.epoch, stepInEpoch: trainer.stepInEpoch)
        }
    }

    /// The final path (not the staged one) and the system's reason only ("No space left on device"), not the
    /// whole error text again.
    private static func cannotWrite(_ url: URL, _ error: any Error) -> TrainingError {
        if let error = error as? FileWriteError {
            return .cannotWrite(path: url.path, reason: error.operation == "write" ? error.reason : "\(error.operation): \(error.reason)")
        }
        return .cannotWrite(path: url.path, reason: (error as NSError).localizedDescription)
    }
}
