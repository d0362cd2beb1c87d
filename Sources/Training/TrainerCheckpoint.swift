import Foundation
import Networks
import TensorAlgebra
import FileFormats

/// A training checkpoint is a classifier checkpoint (Networks' `Checkpoint`) plus the trainer's
/// state, so a run can stop anywhere and go on exactly where it stopped:
/// * tensors `optimizer.first.{k}`, `optimizer.second.{k}` — optimizer buffers (momentum, Adam
///   moments) for parameter k (weights first, then biases);
/// * metadata `configuration` (the `TrainingConfiguration` as JSON), `epoch`, `step_in_epoch`,
///   `global_step`, `optimizer_steps`, `history` (JSON), and the current epoch's running sums
///   `epoch_loss_sum`, `epoch_correct`, `epoch_seen` (absent from checkpoints written before
///   they were stored: such a checkpoint resumes with the epoch's train figures restarting).
extension Trainer {
    /// The checkpoint file of the classifier and of this trainer's state, in memory.
    public func checkpointFile() throws -> SafetensorsFile {
        var file = Checkpoint.file(classifier)
        for (name, buffer) in optimizerTensors { file.set(name, buffer) }
        file.metadata.merge(try stateMetadata()) { _, new in new }
        return file
    }

    /// Writes the checkpoint atomically: a crash or Ctrl-C during the write leaves the
    /// previous file intact. The tensors stream from their storage (the same bytes as
    /// `checkpointFile()`), so a deep network's checkpoint costs no copy of its weights.
    public func writeCheckpoint(to url: URL) throws {
        var writer = Checkpoint.writer(classifier)
        for (name, buffer) in optimizerTensors { writer.set(name, buffer) }
        writer.metadata.merge(try stateMetadata()) { _, new in new }
        try writer.write(to: url)
    }

    private var optimizerTensors: [(String, Tensor<Scalar>)] {
        optimizer.first.enumerated().map { ("optimizer.first.\($0.offset)", $0.element) }
            + optimizer.second.enumerated().map { ("optimizer.second.\($0.offset)", $0.element) }
    }

    private func stateMetadata() throws -> [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return [
            "configuration": String(decoding: try encoder.encode(configuration), as: UTF8.self),
            "history": String(decoding: try encoder.encode(history), as: UTF8.self),
            "epoch": "\(epoch)", "step_in_epoch": "\(stepInEpoch)", "global_step": "\(globalStep)",
            "optimizer_steps": "\(optimizer.steps)",
            // Double's description is the shortest text that reads back to the same bits.
            "epoch_loss_sum": "\(trainLossSum)", "epoch_correct": "\(trainCorrect)", "epoch_seen": "\(trainSeen)",
        ].merging(trainFiguresFromStep.map { ["epoch_figures_from_step": "\($0)"] } ?? [:]) { a, _ in a }
    }

    /// Restores a trainer (weights, optimizer buffers, progress, history) from a training
    /// checkpoint. `configuration` replaces the stored run settings (a longer run may change
    /// the epochs); the optimizer's buffers are kept only when the optimizer is the same.
    /// With `expecting`, a checkpoint of another depth or width is refused, naming both.
    public convenience init(
        resumingFrom file: SafetensorsFile, path: String, configuration: TrainingConfiguration? = nil,
        expecting architecture: (layers: Int, width: Int)? = nil
    ) throws(TrainingError) {
        try self.init(resumingFrom: file, path: path, expecting: architecture) { stored throws(TrainingError) in configuration ?? stored }
    }

    /// The same, with the run settings chosen by `settings` from the stored ones (it may refuse
    /// a change by throwing, before anything is allocated).
    public convenience init(
        resumingFrom file: SafetensorsFile, path: String, expecting architecture: (layers: Int, width: Int)? = nil,
        settings: (TrainingConfiguration) throws(TrainingError) -> TrainingConfiguration
    ) throws(TrainingError) {
        let classifier: IdentityClassifier<Scalar>
        do { classifier = try Checkpoint.classifier(from: file, path: path, expecting: architecture) } catch { throw .checkpoint(error) }
        guard let text = file.metadata["configuration"],
              let stored = try? JSONDecoder().decode(TrainingConfiguration.self, from: Data(text.utf8)) else {
            throw .notATrainingCheckpoint(path: path)
        }
        func count(_ key: String) throws(TrainingError) -> Int {
            let text = file.metadata[key] ?? "0"
            guard let value = Int(text), value >= 0, value < Int(Int32.max) else {
                throw .invalidProgress(path: path, key: key, value: text, expected: "a whole number from 0 to \(Int32.max - 1)")
            }
            return value
        }
        let chosen = try settings(stored)
        try chosen.validate()
        self.init(classifier: classifier, configuration: chosen)
        if chosen.optimizer == stored.optimizer {
            for k in optimizer.first.indices {
                if let buffer = file.tensor("optimizer.first.\(k)", as: Scalar.self), buffer.shape == optimizer.first[k].shape {
                    optimizer.first[k] = buffer
                }
            }
            for k in optimizer.second.indices {
                if let buffer = file.tensor("optimizer.second.\(k)", as: Scalar.self), buffer.shape == optimizer.second[k].shape {
                    optimizer.second[k] = buffer
                }
            }
            optimizer.steps = try count("optimizer_steps")
        }
        epoch = try count("epoch")
        stepInEpoch = try count("step_in_epoch")
        globalStep = try count("global_step")
        if let text = file.metadata["epoch_loss_sum"] {
            guard let sum = Double(text), sum.isFinite, sum >= 0 else {
                throw .invalidProgress(path: path, key: "epoch_loss_sum", value: text, expected: "a finite number ≥ 0")
            }
            (trainLossSum, trainCorrect, trainSeen) = (sum, try count("epoch_correct"), try count("epoch_seen"))
            if trainCorrect > trainSeen {
                throw .invalidProgress(path: path, key: "epoch_correct", value: "\(trainCorrect)", expected: "at most epoch_seen = \(trainSeen)")
            }
            if file.metadata["epoch_figures_from_step"] != nil { trainFiguresFromStep = try count("epoch_figures_from_step") }
        } else if stepInEpoch > 0 {
            trainFiguresFromStep = stepInEpoch + 1
        }
        if let history = file.metadata["history"] {
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            self.history = (try? decoder.decode([EpochRecord].self, from: Data(history.utf8))) ?? []
        }
    }

    /// `init(resumingFrom:path:…)` on the file at `url`.
    public convenience init(
        resumingFrom url: URL, configuration: TrainingConfiguration? = nil, expecting architecture: (layers: Int, width: Int)? = nil
    ) throws(TrainingError) {
        try self.init(resumingFrom: url, expecting: architecture) { stored throws(TrainingError) in configuration ?? stored }
    }

    /// `init(resumingFrom:path:expecting:settings:)` on the file at `url`.
    public convenience init(
        resumingFrom url: URL, expecting architecture: (layers: Int, width: Int)? = nil,
        settings: (TrainingConfiguration) throws(TrainingError) -> TrainingConfiguration
    ) throws(TrainingError) {
        let file: SafetensorsFile
        do { file = try Checkpoint.read(contentsOf: url) } catch { throw .checkpoint(error) }
        try self.init(resumingFrom: file, path: url.path, expecting: architecture, settings: settings)
    }
}
