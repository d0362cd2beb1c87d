import Foundation
import TensorAlgebra
import FileFormats

/// The safetensors checkpoint format of a classifier: one reader, one writer and one shape
/// validator for every module (the trainer adds its state; the spectrum analyzer and the
/// interpreter read the same files), readable by Python's `safetensors` too.
///
/// Tensor names (l = 0 … L−1, as in a PyTorch `ModuleList` of `Linear` layers):
/// * `layers.{l}.weight` — W^{l+1}, [N, N], stored [outputs, inputs] like `nn.Linear`;
/// * `layers.{l}.bias` — b^{l+1}, [N], only when the network has biases.
///
/// Metadata (strings): `format` = "isometry-classifier/1", `activation`, `sigma`,
/// `initialization`, `input_features` (D), `classes` (C). The trainer adds its own tensors and
/// keys (see Training's `Trainer`). Files exported from PyTorch need only the weights (and
/// biases); missing metadata defaults to hard-tanh, σ = 1, C = 10, D = N − C.
public enum Checkpoint {
    public static let format = "isometry-classifier/1"

    public static func weightName(_ l: Int) -> String { "layers.\(l).weight" }
    package static func biasName(_ l: Int) -> String { "layers.\(l).bias" }

    // MARK: Writing

    /// The file of a classifier, in memory: its weights and the metadata that describes it.
    public static func file<Scalar>(_ classifier: IdentityClassifier<Scalar>) -> SafetensorsFile {
        var file = SafetensorsFile()
        for (l, w) in classifier.network.weights.enumerated() {
            file.set(weightName(l), w)
            if let b = classifier.network.biases[l] { file.set(biasName(l), b) }
        }
        file.metadata = metadata(classifier)
        return file
    }

    /// The same file as a writer that streams the weights from their storage: what `write`
    /// paths use, so that writing a checkpoint costs no copy of the weights.
    public static func writer<Scalar>(_ classifier: IdentityClassifier<Scalar>) -> SafetensorsStreamWriter<Scalar> {
        var writer = SafetensorsStreamWriter<Scalar>(metadata: metadata(classifier))
        for (l, w) in classifier.network.weights.enumerated() {
            writer.set(weightName(l), w)
            if let b = classifier.network.biases[l] { writer.set(biasName(l), b) }
        }
        return writer
    }

    static func metadata<Scalar>(_ classifier: IdentityClassifier<Scalar>) -> [String: String] {
        [
            "format": format, "activation": classifier.activation.rawValue, "sigma": "\(classifier.sigma)",
            "initialization": classifier.initialization.rawValue,
            "input_features": "\(classifier.inputFeatures)", "classes": "\(classifier.classes)",
        ]
    }

    // MARK: Reading

    /// The network stored in `file`: every layer checked (matrices that chain, biases for
    /// all layers or none) before any tensor is converted.
    public static func network<Scalar: BLASScalar>(
        from file: SafetensorsFile, path: String, activation: Activation? = nil, as _: Scalar.Type = Scalar.self
    ) throws(ModelFileError) -> MultilayerPerceptron<Scalar> {
        var layers = 0
        while file.entries[weightName(layers)] != nil { layers += 1 }
        guard layers > 0 else { throw .noLayers(path: path, found: file.entries.keys.sorted()) }
        var outputs: Int?
        for l in 0 ..< layers {
            let shape = file.entries[weightName(l)]!.shape
            guard shape.count == 2, shape.allSatisfy({ $0 >= 1 }) else {
                throw .wrongShape(path: path, tensor: weightName(l), shape: shape, expected: "a non-empty matrix [outputs, inputs]")
            }
            if let outputs, outputs != shape[1] {
                throw .layersDoNotChain(path: path, layer: l + 1, shape: shape, previousOutputs: outputs)
            }
            outputs = shape[0]
            if let bias = file.entries[biasName(l)], bias.shape != [shape[0]] {
                throw .wrongShape(path: path, tensor: biasName(l), shape: bias.shape, expected: "[\(shape[0])]")
            }
        }
        let hasBias = (0 ..< layers).map { file.entries[biasName($0)] != nil }
        if hasBias.contains(true) && hasBias.contains(false) {
            throw .inconsistentBiases(path: path, layersWithBias: hasBias.indices.filter { hasBias[$0] }.map { $0 + 1 })
        }
        let stored: Activation
        if let name = file.metadata["activation"] {
            guard let known = Activation(rawValue: name) else { throw .unknownActivation(path: path, name: name) }
            stored = known
        } else {
            stored = .hardTanh
        }
        let weights = (0 ..< layers).map { file.tensor(weightName($0), as: Scalar.self)! }
        let biases = (0 ..< layers).map { file.tensor(biasName($0), as: Scalar.self) }
        // NaN or infinite weights make every result meaningless: refuse them before any work.
        for (l, tensor) in zip(0..., weights) + zip(0..., biases).compactMap({ l, b in b.map { (l, $0) } }) {
            let bad = tensor.nonFiniteCount
            if bad > 0 { throw .nonFiniteValues(path: path, tensor: tensor.rank == 2 ? weightName(l) : biasName(l), count: bad) }
        }
        return MultilayerPerceptron(weights: weights, biases: biases, activation: activation ?? stored)
    }

    /// The classifier stored in `file`. With `expecting`, a file of another depth or width is
    /// refused, naming both.
    public static func classifier<Scalar: BLASScalar>(
        from file: SafetensorsFile, path: String, expecting expected: (layers: Int, width: Int)? = nil,
        as _: Scalar.Type = Scalar.self
    ) throws(ModelFileError) -> IdentityClassifier<Scalar> {
        let network: MultilayerPerceptron<Scalar> = try Checkpoint.network(from: file, path: path)
        let width = network.inputWidth
        for (l, w) in network.weights.enumerated() where w.shape != [width, width] {
            throw .wrongShape(path: path, tensor: weightName(l), shape: w.shape, expected: "[\(width), \(width)] (a classifier's layers are square)")
        }
        if let expected, (expected.layers, expected.width) != (network.layerCount, width) {
            throw .architectureMismatch(path: path, found: "\(network.layerCount) layers of width \(width)",
                                        expected: "\(expected.layers) layers of width \(expected.width)")
        }
        func integer(_ key: String, default value: Int) throws(ModelFileError) -> Int {
            guard let text = file.metadata[key] else { return value }
            guard let number = Int(text), number >= 1 else {
                throw .invalidMetadata(path: path, key: key, value: text, expected: "a whole number ≥ 1")
            }
            return number
        }
        // Every layer holds D ≥ 1 features and C ≥ 1 classes: a width below 2, or a class count
        // that leaves no features, is no classifier, whatever the defaults would make of it.
        guard width >= 2 else {
            throw .wrongShape(path: path, tensor: weightName(0), shape: [width, width],
                              expected: "[N, N] with N ≥ 2 (a classifier's layers hold at least one input feature and one class)")
        }
        let classes = try integer("classes", default: min(10, width - 1))
        if classes >= width, let text = file.metadata["classes"] {
            throw .invalidMetadata(path: path, key: "classes", value: text,
                                   expected: "a whole number below the layers' width \(width) (they hold the input features and the classes)")
        }
        let features = try integer("input_features", default: width - classes)
        guard features + classes == width else {
            throw .invalidMetadata(path: path, key: "input_features", value: "\(features)",
                                   expected: "\(width - classes) (the layers are \(width) wide and there are \(classes) classes)")
        }
        var sigma = 1.0
        if let text = file.metadata["sigma"] {
            guard let value = Double(text), value.isFinite, value > 0 else {
                throw .invalidMetadata(path: path, key: "sigma", value: text, expected: "a finite number > 0")
            }
            sigma = value
        }
        var initialization = Initialization.identity
        if let text = file.metadata["initialization"] {
            guard let value = Initialization(rawValue: text) else {
                throw .invalidMetadata(path: path, key: "initialization", value: text,
                                       expected: Initialization.allCases.map(\.rawValue).joined(separator: ", "))
            }
            initialization = value
        }
        return IdentityClassifier(network: network, inputFeatures: features, classes: classes, sigma: sigma,
                                  initialization: initialization)
    }

    /// Reads a safetensors file, its container errors wrapped as `ModelFileError.safetensors`.
    public static func read(contentsOf url: URL) throws(ModelFileError) -> SafetensorsFile {
        do { return try SafetensorsFile(contentsOf: url) } catch let error as SafetensorsError {
            throw .safetensors(error)
        } catch {
            throw .unreadable(path: url.path, reason: "\(error)")
        }
    }
}

extension IdentityClassifier {
    /// Loads a classifier checkpoint (from `train`, or exported from PyTorch): one call.
    public init(contentsOf url: URL) throws(ModelFileError) {
        self = try Checkpoint.classifier(from: try Checkpoint.read(contentsOf: url), path: url.path)
    }

    /// Writes the classifier as a safetensors checkpoint, atomically (a crash during the write
    /// leaves any previous file intact).
    public func write(to url: URL) throws {
        try Checkpoint.writer(self).write(to: url)
    }
}
