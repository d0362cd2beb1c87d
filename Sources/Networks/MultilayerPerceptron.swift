import Foundation
import TensorAlgebra

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
    public static func shapeProblem(weights: [[Int]], biases: [[Int]?]) -> String? {
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

    /// Whether every weight matrix is diagonal (square with zero off-diagonal entries), as
    /// under identity initialisation: coordinates then never mix and J is diagonal.
    @inlinable
    public var isDiagonal: Bool {
        weights.allSatisfy { w in
            let n = w.shape[0]
            guard w.shape[1] == n else { return false }
            return w.withUnsafeBufferPointer { e in
                for i in 0 ..< n {
                    for j in 0 ..< n where i != j && e[i * n + j] != 0 { return false }
                }
                return true
            }
        }
    }

    /// Pre-activations h^1 … h^L for one input vector (GEMV per layer).
    @inlinable
    public func preActivations(_ input: Tensor<Scalar>) -> [Tensor<Scalar>] {
        if input.shape != [inputWidth] {
            fatalError("preActivations: input has shape \(input.shape), the network takes [\(inputWidth)]")
        }
        var x = input
        var result: [Tensor<Scalar>] = []
        result.reserveCapacity(layerCount)
        for (w, b) in zip(weights, biases) {
            var h = b ?? Tensor.zeros([w.shape[0]])
            matvec(w, x, beta: b == nil ? 0 : 1, into: &h)
            result.append(h)
            x = h.map { activation($0) }
        }
        return result
    }

    /// The output x^L for one input vector.
    @inlinable
    public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
        preActivations(input).last!.map { activation($0) }
    }
}

// MARK: Initialisations

extension MultilayerPerceptron {
    /// Every layer σ·I, no bias: identity initialisation.
    public static func identity(width: Int, layers: Int, sigma: Scalar, activation: Activation) -> Self {
        let w = Tensor<Scalar>.identity(width, scale: sigma)
        return Self(weights: Array(repeating: w, count: layers), activation: activation)
    }

    /// W_ij ~ N(0, σ_w²/N) and, when σ_b > 0, b_i ~ N(0, σ_b²).
    public static func gaussian(
        width: Int, layers: Int, sigmaW: Scalar, sigmaB: Scalar = 0, activation: Activation,
        using generator: inout SeededGenerator
    ) -> Self {
        random(layers: layers, width: width, sigmaB: sigmaB, activation: activation, using: &generator) {
            .randomNormal([width, width], standardDeviation: sigmaW / Scalar(width).squareRoot(), using: &$0)
        }
    }

    /// W = σ_w·Q with Q Haar orthogonal and, when σ_b > 0, b_i ~ N(0, σ_b²).
    public static func orthogonal(
        width: Int, layers: Int, sigmaW: Scalar, sigmaB: Scalar = 0, activation: Activation,
        using generator: inout SeededGenerator
    ) -> Self {
        random(layers: layers, width: width, sigmaB: sigmaB, activation: activation, using: &generator) {
            .randomOrthogonal(width, scale: sigmaW, using: &$0)
        }
    }

    /// Layer by layer: a weight from `weight`, then (when σ_b > 0) a N(0, σ_b²) bias, in that
    /// order from the one generator, so a seed fixes the whole network.
    private static func random(
        layers: Int, width: Int, sigmaB: Scalar, activation: Activation, using generator: inout SeededGenerator,
        weight: (inout SeededGenerator) -> Tensor<Scalar>
    ) -> Self {
        var weights: [Tensor<Scalar>] = []
        var biases: [Tensor<Scalar>?] = []
        for _ in 0 ..< layers {
            weights.append(weight(&generator))
            biases.append(sigmaB > 0 ? .randomNormal([width], standardDeviation: sigmaB, using: &generator) : nil)
        }
        return Self(weights: weights, biases: biases, activation: activation)
    }
}

// MARK: Loading

/// A network file that cannot be used, with what was expected and what was found.
public struct NetworkFileError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let problem: String
    public var description: String { "\(path): \(problem)" }
}

extension MultilayerPerceptron {
    /// Loads a network saved as one `.npy` file per layer: `W1.npy … WL.npy` in `folder`
    /// (weights `[outputs, inputs]`), with optional biases `b1.npy … bL.npy`.
    public init(numpyFolder folder: URL, activation: Activation) throws {
        let manager = FileManager.default
        var isFolder: ObjCBool = false
        guard manager.fileExists(atPath: folder.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw NetworkFileError(path: folder.path, problem: "no such folder (expected W1.npy, W2.npy, … inside)")
        }
        var weightFiles: [URL] = []
        while true {
            let url = folder.appendingPathComponent("W\(weightFiles.count + 1).npy")
            guard manager.fileExists(atPath: url.path) else { break }
            weightFiles.append(url)
        }
        if weightFiles.isEmpty {
            throw NetworkFileError(path: folder.path, problem: "no W1.npy found (expected W1.npy, W2.npy, … one per layer)")
        }
        let biasFiles = weightFiles.indices.map { index -> URL? in
            let url = folder.appendingPathComponent("b\(index + 1).npy")
            return manager.fileExists(atPath: url.path) ? url : nil
        }
        try self.init(weightFiles: weightFiles, biasFiles: biasFiles, activation: activation)
    }

    /// Loads one `.npy` weight file per layer, and optional bias files.
    public init(weightFiles: [URL], biasFiles: [URL?]? = nil, activation: Activation) throws {
        let biasFiles = biasFiles ?? Array(repeating: nil, count: weightFiles.count)
        var weights: [Tensor<Scalar>] = []
        var biases: [Tensor<Scalar>?] = []
        for (index, url) in weightFiles.enumerated() {
            let array = try NumpyArray(contentsOf: url)
            if array.shape.count != 2 {
                throw NetworkFileError(path: url.path, problem: "layer \(index + 1) weight has shape \(array.shape), expected a matrix [outputs, inputs]")
            }
            if let previous = weights.last, previous.shape[0] != array.shape[1] {
                throw NetworkFileError(
                    path: url.path,
                    problem: "layer \(index + 1) weight has shape \(array.shape) but layer \(index) outputs \(previous.shape[0]) values: expected [_, \(previous.shape[0])]")
            }
            weights.append(Tensor(array))
            if let biasURL = biasFiles[index] {
                let bias = try NumpyArray(contentsOf: biasURL)
                if bias.shape != [array.shape[0]] {
                    throw NetworkFileError(path: biasURL.path, problem: "bias has shape \(bias.shape), expected [\(array.shape[0])] for weight \(array.shape)")
                }
                biases.append(Tensor(bias))
            } else {
                biases.append(nil)
            }
        }
        self.init(weights: weights, biases: biases, activation: activation)
    }

    /// Loads the layers of a safetensors checkpoint (`layers.{l}.weight`, optional
    /// `layers.{l}.bias`, as written by `train` or exported from PyTorch). The activation comes
    /// from the file's `activation` metadata unless given.
    public init(safetensors url: URL, activation: Activation? = nil) throws {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(contentsOf: url) } catch let error as SafetensorsError {
            throw NetworkFileError(path: url.path, problem: error.problem)
        }
        var weights: [Tensor<Scalar>] = []
        var biases: [Tensor<Scalar>?] = []
        while let w: Tensor<Scalar> = file.tensor("layers.\(weights.count).weight") {
            if w.rank != 2 {
                throw NetworkFileError(path: url.path, problem: "layers.\(weights.count).weight has shape \(w.shape), expected a matrix")
            }
            if let previous = weights.last, previous.shape[0] != w.shape[1] {
                throw NetworkFileError(path: url.path, problem: "layers.\(weights.count).weight has shape \(w.shape) but the layer before outputs \(previous.shape[0]) values")
            }
            let b: Tensor<Scalar>? = file.tensor("layers.\(weights.count).bias")
            if let b, b.shape != [w.shape[0]] {
                throw NetworkFileError(path: url.path, problem: "layers.\(weights.count).bias has shape \(b.shape), expected [\(w.shape[0])]")
            }
            weights.append(w)
            biases.append(b)
        }
        if weights.isEmpty {
            throw NetworkFileError(path: url.path, problem: "no tensor layers.0.weight (expected layers.0.weight … layers.{L−1}.weight)")
        }
        let name = file.metadata["activation"] ?? Activation.hardTanh.rawValue
        guard let stored = Activation(rawValue: name) else {
            throw NetworkFileError(path: url.path, problem: "unknown activation '\(name)' in metadata")
        }
        self.init(weights: weights, biases: biases, activation: activation ?? stored)
    }

    /// Loads a `.safetensors` checkpoint or a folder of `W1.npy …`, whichever `path` names.
    /// For checkpoints a nil `activation` keeps the file's own; folders default to hard-tanh.
    public init(contentsOf path: String, activation: Activation?) throws {
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
