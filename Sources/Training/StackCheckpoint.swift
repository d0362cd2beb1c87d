import Datasets
import FileFormats
import Foundation
import Networks
import TensorAlgebra
import IsometrySupport

/// A layer-stack run's checkpoint is two files: the stack's own file (``LayerStack/write(to:metadata:)``,
/// self-describing, what `interpret` and `spectrum` read with no flags) and this training
/// state beside it: the optimizer's buffers under `optimizer.<buffer>.<parameter>` (e.g.
/// `optimizer.m.0.weight`), its step, the run's position and history, the epoch's running sums.
/// Keeping the state out of the model file keeps the model file a plain state dict PyTorch reads.
extension StackTrainer {
    public static var trainingStateFormat: String { "isometry-stack-training/1" }

    /// The training state as a safetensors file in memory.
    public func trainingStateFile() -> SafetensorsFile {
        var file = SafetensorsFile()
        let names = stack.parameterNames
        for (b, buffer) in optimizer.stateNames.enumerated() {
            for (p, name) in names.enumerated() where optimizer.state[b][p].count > 0 {
                file.set("optimizer.\(buffer).\(name)", optimizer.state[b][p])
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        func json(_ value: some Encodable) -> String { String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self) }
        file.metadata = [
            "format": Self.trainingStateFormat,
            "optimizer": optimizer.name, "optimizer_settings": json(optimizer.settings), "optimizer_step": "\(optimizer.step)",
            "loss": loss.name, "batch_size": "\(batchSize)", "epochs": "\(epochs)", "seed": "\(seed)",
            "frozen_layers": json(frozenLayers.sorted()), "epoch": "\(epoch)", "step_in_epoch": "\(stepInEpoch)",
            "global_step": "\(globalStep)", "history": json(history),
            "epoch_loss_sum": "\(trainLossSum.bitPattern)", "epoch_correct": "\(trainCorrect)", "epoch_seen": "\(trainSeen)",
            "precision": Scalar.self == Float.self ? "float" : "double",
        ]
        // Only a fixed-composition run records it, so the default run's file stays as it was.
        if batchComposition != .reshuffled { file.metadata["batch_composition"] = batchComposition.rawValue }
        for (key, value) in runSettings { file.metadata[StackTrainingSettings.runPrefix + key] = value }
        return file
    }

    /// Writes the training state atomically.
    public func writeTrainingState(to url: URL) throws {
        try trainingStateFile().write(to: url)
    }

    /// The stack's file and the training state: what ``init(resumingFrom:state:loss:optimizer:threads:)`` reads back.
    public func writeCheckpoint(model: URL, state: URL) throws {
        try stack.write(to: model)
        try writeTrainingState(to: state)
    }

    /// A run that goes on from `model` (the stack's file) and `state`: the optimizer and loss are
    /// given again (a schedule may be a closure) and must be the stored ones (name and
    /// coefficients); batch size, seed, epochs and frozen layers are the stored ones unless
    /// `epochs` is given.
    public convenience init(resumingFrom model: URL, state: URL, loss: Loss<Scalar> = .softmaxCrossEntropy,
                            optimizer: any Optimizer<Scalar>, epochs: Int? = nil, threads: Int? = nil) throws(TrainingError) {
        let stack: LayerStack<Scalar>
        do { stack = try LayerStack(contentsOf: model) } catch { throw .dataMismatch(error.description) }
        let file = try Self.readState(state)
        let stored = try StackTrainingSettings(file, path: state.path)
        try self.init(stack: stack, loss: loss, optimizer: optimizer, batchSize: stored.batchSize,
                      epochs: epochs ?? stored.epochs, seed: stored.seed, frozenLayers: Set(stored.frozenLayers), threads: threads,
                      batchComposition: stored.batchComposition)
        try loadTrainingState(file, path: state.path)
        runSettings = stored.runSettings
    }

    static func readState(_ url: URL) throws(TrainingError) -> SafetensorsFile {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(contentsOf: url) } catch let error as SafetensorsError {
            throw .checkpoint(.safetensors(error))
        } catch {
            throw .checkpoint(.unreadable(path: url.path, reason: "\(error)"))
        }
        guard file.metadata["format"] == trainingStateFormat else { throw .notATrainingCheckpoint(path: url.path) }
        return file
    }

    /// Takes the optimizer's buffers and step, the run's position, history and running sums
    /// from a training state file; refuses another optimizer, loss, coefficients or parameter shapes.
    public func loadTrainingState(from url: URL) throws(TrainingError) {
        try loadTrainingState(try Self.readState(url), path: url.path)
    }

    func loadTrainingState(_ file: SafetensorsFile, path: String) throws(TrainingError) {
        let m = file.metadata
        func agree(_ key: String, _ given: String) throws(TrainingError) {
            let stored = m[key] ?? "(missing)"
            if stored != given { throw .settingDiffersFromCheckpoint(name: key, stored: stored, given: given) }
        }
        try agree("optimizer", optimizer.name)
        let settings = m["optimizer_settings"].flatMap { try? JSONDecoder().decode([String: Double].self, from: Data($0.utf8)) }
        if settings != optimizer.settings {
            throw .settingDiffersFromCheckpoint(name: "optimizer settings", stored: m["optimizer_settings"] ?? "(missing)",
                                                given: optimizer.settings.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        try agree("loss", loss.name)
        try agree("batch_size", "\(batchSize)")
        try agree("seed", "\(seed)")
        try agree("frozen_layers", "[" + frozenLayers.sorted().map(String.init).joined(separator: ",") + "]")
        let storedComposition = m["batch_composition"] ?? BatchComposition.reshuffled.rawValue
        if storedComposition != batchComposition.rawValue {
            throw .settingDiffersFromCheckpoint(name: "batch_composition", stored: storedComposition, given: batchComposition.rawValue)
        }
        func integer(_ key: String) throws(TrainingError) -> Int {
            guard let text = m[key], let value = Int(text), value >= 0 else {
                throw .invalidProgress(path: path, key: key, value: m[key] ?? "(missing)", expected: "an integer ≥ 0")
            }
            return value
        }
        let names = stack.parameterNames
        var state = optimizer.state
        for (b, buffer) in optimizer.stateNames.enumerated() {
            for (p, name) in names.enumerated() where state[b][p].count > 0 {
                let key = "optimizer.\(buffer).\(name)"
                guard let tensor = file.tensor(key, as: Scalar.self), tensor.shape == state[b][p].shape else {
                    throw .invalidProgress(path: path, key: key, value: file.entries[key].map { "shape \($0.shape)" } ?? "(missing)",
                                           expected: "shape \(state[b][p].shape), the parameter's")
                }
                state[b][p] = tensor
            }
        }
        guard let historyText = m["history"], let history = try? JSONDecoder().decode([StackEpochRecord].self, from: Data(historyText.utf8)) else {
            throw .invalidProgress(path: path, key: "history", value: m["history"] ?? "(missing)", expected: "a JSON list of epoch records")
        }
        guard let lossBits = m["epoch_loss_sum"].flatMap(UInt64.init) else {
            throw .invalidProgress(path: path, key: "epoch_loss_sum", value: m["epoch_loss_sum"] ?? "(missing)", expected: "the bit pattern of a Double")
        }
        let (step, epoch, stepInEpoch, globalStep) = (try integer("optimizer_step"), try integer("epoch"), try integer("step_in_epoch"), try integer("global_step"))
        let (correct, seen) = (try integer("epoch_correct"), try integer("epoch_seen"))
        optimizer.state = state
        optimizer.step = step
        self.epoch = epoch
        self.stepInEpoch = stepInEpoch
        self.globalStep = globalStep
        self.history = history
        (trainLossSum, trainCorrect, trainSeen) = (Double(bitPattern: lossBits), correct, seen)
    }
}

/// What a training state file says about its run, read without building a trainer: what a
/// caller needs to give the optimizer (and its schedule) again before
/// ``StackTrainer/init(resumingFrom:state:loss:optimizer:epochs:threads:)``, and to check its
/// own flags against the run's.
public struct StackTrainingSettings: Sendable, Equatable {
    /// The metadata prefix of ``StackTrainer/runSettings``.
    public static let runPrefix = "run."

    /// The optimizer's name ("sgd", "adam", "adamw") and coefficients (``Optimizer/settings``).
    public var optimizer: String
    public var optimizerSettings: [String: Double]
    public var loss: String
    public var batchSize: Int
    public var epochs: Int
    public var seed: UInt64
    public var frozenLayers: [Int]
    /// Where the run stands: the next epoch (0-based), the batches of it done, all steps done.
    public var epoch: Int
    public var stepInEpoch: Int
    public var globalStep: Int
    /// "float" or "double": the scalars the run trained in.
    public var precision: String?
    /// ``StackTrainer/runSettings`` of the run (empty in a file written before they were stored).
    public var runSettings: [String: String]
    /// How the run's batches are made (``BatchComposition/reshuffled`` when the file does not say).
    public var batchComposition: BatchComposition

    /// Reads `url`'s metadata; throws `.notATrainingCheckpoint` for another kind of file and
    /// `.invalidProgress` naming the key for a missing or malformed value.
    public init(contentsOf url: URL) throws(TrainingError) {
        try self.init(StackTrainer<Double>.readState(url), path: url.path)
    }

    init(_ file: SafetensorsFile, path: String) throws(TrainingError) {
        let m = file.metadata
        func integer(_ key: String) throws(TrainingError) -> Int {
            guard let text = m[key], let value = Int(text), value >= 0 else {
                throw .invalidProgress(path: path, key: key, value: m[key] ?? "(missing)", expected: "an integer ≥ 0")
            }
            return value
        }
        guard let frozenText = m["frozen_layers"], let frozen = try? JSONDecoder().decode([Int].self, from: Data(frozenText.utf8)) else {
            throw .invalidProgress(path: path, key: "frozen_layers", value: m["frozen_layers"] ?? "(missing)", expected: "a JSON list of layer indices")
        }
        guard let seed = m["seed"].flatMap(UInt64.init) else {
            throw .invalidProgress(path: path, key: "seed", value: m["seed"] ?? "(missing)", expected: "an unsigned integer")
        }
        guard let name = m["optimizer"], let settingsText = m["optimizer_settings"],
              let settings = try? JSONDecoder().decode([String: Double].self, from: Data(settingsText.utf8)) else {
            throw .invalidProgress(path: path, key: m["optimizer"] == nil ? "optimizer" : "optimizer_settings",
                                   value: m["optimizer"] == nil ? "(missing)" : m["optimizer_settings"] ?? "(missing)",
                                   expected: "an optimizer's name and its coefficients as a JSON object of numbers")
        }
        guard let loss = m["loss"] else { throw .invalidProgress(path: path, key: "loss", value: "(missing)", expected: "a loss's name") }
        optimizer = name
        optimizerSettings = settings
        self.loss = loss
        (batchSize, epochs, self.seed, frozenLayers) = (try integer("batch_size"), try integer("epochs"), seed, frozen)
        (epoch, stepInEpoch, globalStep) = (try integer("epoch"), try integer("step_in_epoch"), try integer("global_step"))
        precision = m["precision"]
        guard let composition = BatchComposition(rawValue: m["batch_composition"] ?? BatchComposition.reshuffled.rawValue) else {
            throw .invalidProgress(path: path, key: "batch_composition", value: m["batch_composition"] ?? "", expected: "reshuffled or fixed")
        }
        batchComposition = composition
        var run: [String: String] = [:]
        for (key, value) in m where key.hasPrefix(Self.runPrefix) { run[String(key.dropFirst(Self.runPrefix.count))] = value }
        runSettings = run
    }
}
