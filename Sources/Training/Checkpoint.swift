import Foundation
import Networks
import TensorAlgebra

/// Checkpoints in the safetensors format, readable by Python's `safetensors` and by every
/// Isometry command.
///
/// Tensor names (l = 0 … L−1, as in a PyTorch `ModuleList` of `Linear` layers):
/// * `layers.{l}.weight` — W^{l+1}, [N, N], stored [outputs, inputs] like `nn.Linear`;
/// * `layers.{l}.bias` — b^{l+1}, [N], only when the network has biases;
/// * `optimizer.first.{k}`, `optimizer.second.{k}` — optimizer buffers (momentum, Adam
///   moments) for parameter k (weights first, then biases), only in training checkpoints.
///
/// Metadata (strings): `format` = "isometry-classifier/1", `activation`, `sigma`,
/// `input_features` (D), `classes` (C), and for resuming `configuration` (JSON), `epoch`,
/// `step_in_epoch`, `global_step`, `optimizer_steps`, `history` (JSON).
/// Files exported from PyTorch need only the weights (and biases); missing metadata defaults
/// to hard-tanh, σ = 1, C = 10, D = N − C.
public enum Checkpoint {
    public static let format = "isometry-classifier/1"

    public static func weightName(_ l: Int) -> String { "layers.\(l).weight" }
    public static func biasName(_ l: Int) -> String { "layers.\(l).bias" }

    /// The checkpoint of a classifier (and, when given, the trainer's state for resuming).
    public static func file<Scalar>(_ classifier: IdentityClassifier<Scalar>, trainer: Trainer<Scalar>? = nil) throws -> SafetensorsFile {
        var file = SafetensorsFile()
        for (l, w) in classifier.network.weights.enumerated() {
            file.set(weightName(l), w)
            if let b = classifier.network.biases[l] { file.set(biasName(l), b) }
        }
        file.metadata = [
            "format": format, "activation": classifier.activation.rawValue, "sigma": "\(classifier.sigma)",
            "input_features": "\(classifier.inputFeatures)", "classes": "\(classifier.classes)",
        ]
        if let trainer {
            for (k, buffer) in trainer.optimizer.first.enumerated() { file.set("optimizer.first.\(k)", buffer) }
            for (k, buffer) in trainer.optimizer.second.enumerated() { file.set("optimizer.second.\(k)", buffer) }
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            file.metadata["configuration"] = String(decoding: try encoder.encode(trainer.configuration), as: UTF8.self)
            file.metadata["history"] = String(decoding: try encoder.encode(trainer.history), as: UTF8.self)
            file.metadata["epoch"] = "\(trainer.epoch)"
            file.metadata["step_in_epoch"] = "\(trainer.stepInEpoch)"
            file.metadata["global_step"] = "\(trainer.globalStep)"
            file.metadata["optimizer_steps"] = "\(trainer.optimizer.steps)"
        }
        return file
    }

    /// Writes atomically: a crash or Ctrl-C during the write leaves the previous file intact.
    public static func write<Scalar>(_ classifier: IdentityClassifier<Scalar>, trainer: Trainer<Scalar>? = nil, to url: URL) throws {
        try file(classifier, trainer: trainer).write(to: url)
    }

    /// The classifier stored in `file`. Shapes are checked; a mismatch lists what was expected
    /// and what was found.
    public static func classifier<Scalar: BLASScalar>(
        from file: SafetensorsFile, source: String, as _: Scalar.Type = Scalar.self,
        expecting expected: (layers: Int, width: Int)? = nil
    ) throws -> IdentityClassifier<Scalar> {
        func fail(_ problem: String) -> SafetensorsError { SafetensorsError(source: source, problem: problem) }
        var layers = 0
        while file.entries[weightName(layers)] != nil { layers += 1 }
        guard layers > 0 else {
            let found = file.entries.keys.sorted().prefix(8).joined(separator: ", ")
            throw fail("no tensor layers.0.weight; expected layers.0.weight … layers.{L−1}.weight, found: \(found.isEmpty ? "nothing" : found)")
        }
        let n = file.entries[weightName(0)]!.shape.last ?? 0
        var problems: [String] = []
        if let expected, expected.layers != layers {
            problems.append("\(layers) layers but \(expected.layers) expected")
        }
        let width = expected?.width ?? n
        for l in 0 ..< layers {
            let shape = file.entries[weightName(l)]!.shape
            if shape != [width, width] { problems.append("\(weightName(l)) is \(shape), expected [\(width), \(width)]") }
            if let bias = file.entries[biasName(l)], bias.shape != [width] {
                problems.append("\(biasName(l)) is \(bias.shape), expected [\(width)]")
            }
        }
        let hasBias = (0 ..< layers).map { file.entries[biasName($0)] != nil }
        if hasBias.contains(true) && hasBias.contains(false) {
            problems.append("biases for layers \(hasBias.indices.filter { hasBias[$0] }) only; expected none or all")
        }
        if !problems.isEmpty { throw fail("wrong shapes: " + problems.joined(separator: "; ")) }
        let activationName = file.metadata["activation"] ?? Activation.hardTanh.rawValue
        guard let activation = Activation(rawValue: activationName) else {
            throw fail("unknown activation '\(activationName)' in metadata (expected one of \(Activation.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let classes = Int(file.metadata["classes"] ?? "10") ?? 10
        let features = Int(file.metadata["input_features"] ?? "\(width - classes)") ?? (width - classes)
        guard features + classes == width, classes >= 1, features >= 1 else {
            throw fail("metadata says \(features) input features + \(classes) classes but the layers are \(width) wide")
        }
        let weights = (0 ..< layers).map { file.tensor(weightName($0), as: Scalar.self)! }
        let biases = (0 ..< layers).map { file.tensor(biasName($0), as: Scalar.self) }
        let network = MultilayerPerceptron(weights: weights, biases: biases, activation: activation)
        return IdentityClassifier(network: network, inputFeatures: features, classes: classes,
                                  sigma: Double(file.metadata["sigma"] ?? "1") ?? 1)
    }

    /// Restores a trainer (weights, optimizer buffers, progress, history) from a training checkpoint.
    public static func resume<Scalar: BLASScalar>(
        from file: SafetensorsFile, source: String, configuration: TrainingConfiguration? = nil, as _: Scalar.Type = Scalar.self
    ) throws -> Trainer<Scalar> {
        func fail(_ problem: String) -> SafetensorsError { SafetensorsError(source: source, problem: problem) }
        guard let text = file.metadata["configuration"],
              let stored = try? JSONDecoder().decode(TrainingConfiguration.self, from: Data(text.utf8)) else {
            throw fail("not a training checkpoint (no 'configuration' metadata); it can be analysed but not resumed")
        }
        var chosen = configuration ?? stored
        // The architecture is the checkpoint's; a longer run may change the epochs.
        chosen.layers = stored.layers
        chosen.activation = stored.activation
        chosen.bias = stored.bias
        let classifier: IdentityClassifier<Scalar> = try Checkpoint.classifier(from: file, source: source)
        let trainer = Trainer(classifier: classifier, configuration: chosen)
        if chosen.optimizer == stored.optimizer {
            for k in trainer.optimizer.first.indices {
                if let buffer = file.tensor("optimizer.first.\(k)", as: Scalar.self), buffer.shape == trainer.optimizer.first[k].shape {
                    trainer.optimizer.first[k] = buffer
                }
            }
            for k in trainer.optimizer.second.indices {
                if let buffer = file.tensor("optimizer.second.\(k)", as: Scalar.self), buffer.shape == trainer.optimizer.second[k].shape {
                    trainer.optimizer.second[k] = buffer
                }
            }
            trainer.optimizer.steps = Int(file.metadata["optimizer_steps"] ?? "0") ?? 0
        }
        trainer.epoch = Int(file.metadata["epoch"] ?? "0") ?? 0
        trainer.stepInEpoch = Int(file.metadata["step_in_epoch"] ?? "0") ?? 0
        trainer.globalStep = Int(file.metadata["global_step"] ?? "0") ?? 0
        if let history = file.metadata["history"] {
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            trainer.history = (try? decoder.decode([EpochRecord].self, from: Data(history.utf8))) ?? []
        }
        return trainer
    }
}
