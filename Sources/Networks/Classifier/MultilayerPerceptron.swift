import Foundation
import TensorAlgebra
import FileFormats
import IsometrySupport

/// A stack of fully connected layers, h^l = W^l x^{l−1} + b^l, x^l = φ(h^l).
///
/// Weights are stored as `[outputs, inputs]`, so a batch of row vectors `x` goes through a
/// layer as `x·Wᵀ` (GEMM with `transposeB`) and a single column vector as `W·x` (GEMV).
public struct MultilayerPerceptron<Scalar: BLASScalar>: Sendable {
    public var weights: [Tensor<Scalar>]
    /// One optional bias per layer.
    public var biases: [Tensor<Scalar>?]
    public var activation: Activation

    /// Stops with a message naming the shapes when consecutive layers do not chain.
    public init(weights: [Tensor<Scalar>], biases: [Tensor<Scalar>?]? = nil, activation: Activation) {
        let biases = biases ?? Array(repeating: nil, count: weights.count)
        if biases.count != weights.count {
            fatalError("MultilayerPerceptron: \(weights.count) weight matrices but \(biases.count) biases")
        }
        if let problem = MultilayerPerceptron.shapeProblem(weights: weights.map(\.shape), biases: biases.map { $0?.shape }) {
            fatalError("MultilayerPerceptron: \(problem)")
        }
        self.weights = weights
        self.biases = biases
        self.activation = activation
    }

    /// Why these shapes do not form a network, or nil when they do.
    package static func shapeProblem(weights: [[Int]], biases: [[Int]?]) -> String? {
        if weights.isEmpty { return "a network needs at least one layer" }
        for (index, shape) in weights.enumerated() {
            if shape.count != 2 { return "layer \(index + 1) weight has shape \(shape), expected a matrix" }
            if index > 0, weights[index - 1][0] != shape[1] {
                return "layer \(index) outputs \(weights[index - 1][0]) values but layer \(index + 1) weight \(shape) takes \(shape[1])"
            }
            if let bias = biases[index], bias != [shape[0]] {
                return "layer \(index + 1) bias has shape \(bias), expected [\(shape[0])] for weight \(shape)"
            }
        }
        return nil
    }

    public var layerCount: Int { weights.count }
    public var inputWidth: Int { weights[0].shape[1] }
    public var outputWidth: Int { weights[weights.count - 1].shape[0] }

    /// Pre-activations h^1 … h^L, for one input vector `[N]` (GEMV per layer) or a batch of
    /// row vectors `[B, N]` (one GEMM per layer, h = x·Wᵀ + b).
    @inlinable
    public func preActivations(_ input: Tensor<Scalar>) -> [Tensor<Scalar>] {
        let batched = input.rank == 2
        if !(input.shape == [inputWidth] || (batched && input.shape[1] == inputWidth)) {
            fatalError("MultilayerPerceptron: input has shape \(input.shape), the network takes [\(inputWidth)] or [batch, \(inputWidth)]")
        }
        var x = input
        var result: [Tensor<Scalar>] = []
        result.reserveCapacity(layerCount)
        for (w, b) in zip(weights, biases) {
            var h: Tensor<Scalar>
            if batched {
                h = matmul(x, w, transposeB: true)
                if let b { h += b }
            } else {
                h = b ?? Tensor.zeros([w.shape[0]])
                matvec(w, x, beta: b == nil ? 0 : 1, into: &h)
            }
            result.append(h)
            x = h.map { activation($0) }
        }
        return result
    }

    /// The output x^L for one input vector `[N]` or a batch of rows `[B, N]`.
    @inlinable
    public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
        preActivations(input).last!.map { activation($0) }
    }
}

// MARK: Loading

extension MultilayerPerceptron {
    /// Loads a network saved as one `.npy` file per layer: `W1.npy … WL.npy` in `folder`
    /// (weights `[outputs, inputs]`), with optional biases `b1.npy … bL.npy`.
    ///
    /// The naming rule: weights are numbered from 1 without gaps or leading zeros, a bias
    /// `b<k>.npy` belongs to an existing `W<k>.npy`, and no other file is named `W<number>.npy`
    /// or `b<number>.npy`; other files are ignored. A folder that breaks it is refused
    /// (``ModelFileError/layerFiles(path:problem:)``, naming the file), since reading up to the
    /// first gap would silently load a shallower network than the folder holds.
    public init(numpyFolder folder: URL, activation: Activation) throws(ModelFileError) {
        let manager = FileManager.default
        var isFolder: ObjCBool = false
        guard manager.fileExists(atPath: folder.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw .noLayers(path: folder.path, found: [])
        }
        let names: [String]
        do { names = try manager.contentsOfDirectory(atPath: folder.path).sorted() } catch {
            throw .unreadable(path: folder.path, reason: (error as NSError).localizedDescription)
        }
        let layers = try Self.layerNumbers(names, folder: folder.path)
        if layers.weights.isEmpty { throw .noLayers(path: folder.path, found: names) }
        let weightFiles = (1 ... layers.weights.count).map { folder.appendingPathComponent("W\($0).npy") }
        let biasFiles = (1 ... layers.weights.count).map { layers.biases.contains($0) ? folder.appendingPathComponent("b\($0).npy") : nil }
        try self.init(weightFiles: weightFiles, biasFiles: biasFiles, activation: activation)
    }

    /// The layer numbers of the `W<k>.npy` and `b<k>.npy` among `names`, checked against the
    /// folder rule of ``init(numpyFolder:activation:)``.
    static func layerNumbers(_ names: [String], folder: String) throws(ModelFileError) -> (weights: Set<Int>, biases: Set<Int>) {
        var weights: Set<Int> = [], biases: Set<Int> = []
        for name in names {
            guard name.hasSuffix(".npy"), let kind = name.first, kind == "W" || kind == "b" else { continue }
            let digits = name.dropFirst().dropLast(4)
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { continue }
            let file = quotedValue(name)
            guard let number = Int(digits), digits.first != "0" || digits == "0" else {
                throw .layerFiles(path: folder, problem: "\(file): a layer number is written without leading zeros, from 1 to the layer count")
            }
            if number == 0 { throw .layerFiles(path: folder, problem: "\(file): layers are numbered from 1") }
            if kind == "W" { weights.insert(number) } else { biases.insert(number) }
        }
        if let last = weights.max(), weights.count != last {
            let missing = (1 ... last).first { !weights.contains($0) }!
            let above = weights.filter { $0 > missing }.min()!
            throw .layerFiles(path: folder, problem: "W\(above).npy found but W\(missing).npy missing")
        }
        if let stray = biases.filter({ !weights.contains($0) }).min() {
            throw .layerFiles(path: folder, problem: "b\(stray).npy found but W\(stray).npy missing")
        }
        return (weights, biases)
    }

    /// Loads one `.npy` weight file per layer, and optional bias files.
    public init(weightFiles: [URL], biasFiles: [URL?]? = nil, activation: Activation) throws(ModelFileError) {
        let biasFiles = biasFiles ?? Array(repeating: nil, count: weightFiles.count)
        var weights: [Tensor<Scalar>] = []
        var biases: [Tensor<Scalar>?] = []
        func load(_ url: URL) throws(ModelFileError) -> NumpyArray {
            do { return try NumpyArray(contentsOf: url) } catch let error as NumpyFileError { throw .numpy(error) } catch {
                throw .unreadable(path: url.path, reason: "\(error)")
            }
        }
        for (index, url) in weightFiles.enumerated() {
            let array = try load(url)
            guard array.shape.count == 2, array.shape.allSatisfy({ $0 >= 1 }) else {
                throw .wrongShape(path: url.path, tensor: "W\(index + 1)", shape: array.shape, expected: "a non-empty matrix [outputs, inputs]")
            }
            if let previous = weights.last, previous.shape[0] != array.shape[1] {
                throw .layersDoNotChain(path: url.path, layer: index + 1, shape: array.shape, previousOutputs: previous.shape[0])
            }
            weights.append(Tensor(array))
            if let biasURL = biasFiles[index] {
                let bias = try load(biasURL)
                if bias.shape != [array.shape[0]] {
                    throw .wrongShape(path: biasURL.path, tensor: "b\(index + 1)", shape: bias.shape, expected: "[\(array.shape[0])]")
                }
                biases.append(Tensor(bias))
            } else {
                biases.append(nil)
            }
        }
        for (index, tensor) in weights.enumerated() {
            let bad = tensor.nonFiniteCount
            if bad > 0 { throw .nonFiniteValues(path: weightFiles[index].path, tensor: "W\(index + 1)", count: bad) }
        }
        self.init(weights: weights, biases: biases, activation: activation)
    }

    /// Loads the layers of a safetensors checkpoint through the same reader and validator as
    /// `IdentityClassifier(contentsOf:)`. The activation comes from the file's metadata unless given.
    public init(safetensors url: URL, activation: Activation? = nil) throws(ModelFileError) {
        self = try Checkpoint.network(from: try Checkpoint.read(contentsOf: url), path: url.path, activation: activation)
    }

    /// Loads a `.safetensors` checkpoint or a folder of `W1.npy …`, whichever `path` names.
    /// For checkpoints a nil `activation` keeps the file's own; folders default to hard-tanh.
    public init(contentsOf path: String, activation: Activation?) throws(ModelFileError) {
        let url = URL(fileURLWithPath: path)
        if path.hasSuffix(".safetensors") {
            try self.init(safetensors: url, activation: activation)
        } else {
            try self.init(numpyFolder: url, activation: activation ?? .hardTanh)
        }
    }

    /// Saves the network as `W1.npy … WL.npy` (and `b1.npy …` where present) in `folder`.
    public func write(numpyFolder folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (index, (w, b)) in zip(weights, biases).enumerated() {
            try w.writeNumpyFile(to: folder.appendingPathComponent("W\(index + 1).npy"))
            try b?.writeNumpyFile(to: folder.appendingPathComponent("b\(index + 1).npy"))
        }
    }
}
