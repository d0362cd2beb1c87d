import Foundation
import Networks
import TensorAlgebra

/// How the weights of a classifier start.
public enum Initialization: String, Sendable, Codable, CaseIterable {
    /// W = σI: every layer starts as a scaled identity (Kubota et al. 2021).
    case identity
    /// W_ij ~ N(0, σ²/N).
    case gaussian
    /// W = σ·Haar orthogonal.
    case orthogonal
    /// W_ij ~ N(0, 2/N) (He et al. 2015), σ ignored.
    case he
}

/// An MLP of L layers of width N = D + C whose input x ∈ R^D enters as [x ; 0_C]: the last C
/// dimensions of every layer are class scores, and those of the last pre-activation are the
/// logits (docs/theory.md §1). The weights are a plain `MultilayerPerceptron`, so the spectrum
/// analyzer and the interpreter read the same model.
public struct IdentityClassifier<Scalar: BLASScalar>: Sendable {
    public var network: MultilayerPerceptron<Scalar>
    /// D: input features (784 for 28×28 images).
    public let inputFeatures: Int
    /// C: classes.
    public let classes: Int
    /// The scale σ of the identity the weights are measured against.
    public let sigma: Double

    public var width: Int { inputFeatures + classes }
    public var layers: Int { network.layerCount }
    public var activation: Activation { network.activation }
    /// The columns of the class dimensions.
    public var classRange: Range<Int> { inputFeatures ..< width }

    public init(network: MultilayerPerceptron<Scalar>, inputFeatures: Int, classes: Int, sigma: Double) {
        let n = inputFeatures + classes
        for (l, w) in network.weights.enumerated() where w.shape != [n, n] {
            fatalError("IdentityClassifier: layer \(l + 1) weight is \(w.shape), expected [\(n), \(n)] for \(inputFeatures) features + \(classes) classes")
        }
        self.network = network
        self.inputFeatures = inputFeatures
        self.classes = classes
        self.sigma = sigma
    }

    public init(
        inputFeatures: Int, classes: Int, layers: Int, activation: Activation = .hardTanh,
        initialization: Initialization = .identity, sigma: Double = 1, bias: Bool = false,
        using generator: inout SeededGenerator
    ) {
        let n = inputFeatures + classes
        var weights: [Tensor<Scalar>] = []
        for _ in 0 ..< layers {
            switch initialization {
            case .identity: weights.append(.identity(n, scale: Scalar(sigma)))
            case .gaussian: weights.append(.randomNormal([n, n], standardDeviation: Scalar(sigma / Double(n).squareRoot()), using: &generator))
            case .orthogonal: weights.append(.randomOrthogonal(n, scale: Scalar(sigma), using: &generator))
            case .he: weights.append(.randomNormal([n, n], standardDeviation: Scalar((2 / Double(n)).squareRoot()), using: &generator))
            }
        }
        let biases: [Tensor<Scalar>?] = (0 ..< layers).map { _ in bias ? Tensor.zeros([n]) : nil }
        self.init(network: MultilayerPerceptron(weights: weights, biases: biases, activation: activation),
                  inputFeatures: inputFeatures, classes: classes, sigma: initialization == .he ? 1 : sigma)
    }

    /// ‖W^l − σI‖_F / ‖σI‖_F for every layer: how far training moved each layer from identity.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func distanceFromIdentity() -> [Double] {
        let n = width
        let reference = sigma * Double(n).squareRoot()
        return network.weights.map { w in
            w.withUnsafeBufferPointer { e in
                var total = 0.0
                for i in 0 ..< n {
                    for j in 0 ..< n {
                        let d = Double(e[i * n + j]) - (i == j ? sigma : 0)
                        total += d * d
                    }
                }
                return total.squareRoot() / reference
            }
        }
    }
}
