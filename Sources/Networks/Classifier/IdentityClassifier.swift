import Foundation
import TensorAlgebra
import IsometrySupport

/// What a classifier is, apart from its weights: the model half of a training run.
///
/// Every field is obeyed by `IdentityClassifier(inputFeatures:classes:configuration:using:)`,
/// and a loaded classifier reports its own (`IdentityClassifier.configuration`), so a
/// checkpoint never records an architecture it does not have.
public struct ClassifierConfiguration: Sendable, Codable, Equatable {
    public var layers: Int
    public var activation: Activation
    public var initialization: Initialization
    /// σ of the initial weights (W = σI for identity); the scale the distance from identity is
    /// measured against. He initialisation ignores it and uses σ = 1 (`Initialization.referenceSigma`).
    public var sigma: Double
    /// Whether every layer has a bias (initialised to zero).
    public var bias: Bool

    public init(layers: Int = 10, activation: Activation = .hardTanh, initialization: Initialization = .identity,
                sigma: Double = 1, bias: Bool = false) {
        self.layers = layers
        self.activation = activation
        self.initialization = initialization
        self.sigma = sigma
        self.bias = bias
    }
}

/// An MLP of L layers of width N = D + C whose input x ∈ R^D enters as [x ; 0_C]: the last C
/// dimensions of every layer are class scores, and those of the last pre-activation are the
/// logits (docs/theory.md §1). The weights are a plain `MultilayerPerceptron`, so the trainer,
/// the spectrum analyzer and the interpreter all read the same model.
public struct IdentityClassifier<Scalar: BLASScalar>: Sendable {
    public var network: MultilayerPerceptron<Scalar>
    /// D: input features (784 for 28×28 images).
    public let inputFeatures: Int
    /// C: classes.
    public let classes: Int
    /// The scale σ of the identity the weights are measured against.
    public let sigma: Double
    /// How the weights started (identity for files that do not say).
    public let initialization: Initialization

    public var width: Int { inputFeatures + classes }
    public var layers: Int { network.layerCount }
    public var activation: Activation { network.activation }
    public var hasBias: Bool { network.biases.contains { $0 != nil } }
    /// The columns of the class dimensions.
    public var classRange: Range<Int> { inputFeatures ..< width }
    /// The architecture, as a configuration that would build this classifier again.
    public var configuration: ClassifierConfiguration {
        ClassifierConfiguration(layers: layers, activation: activation, initialization: initialization, sigma: sigma, bias: hasBias)
    }

    /// Wraps trained or loaded weights. Every layer must be [D + C, D + C]: a mismatch is a
    /// programming error and stops with both shapes.
    public init(network: MultilayerPerceptron<Scalar>, inputFeatures: Int, classes: Int, sigma: Double,
                initialization: Initialization = .identity) {
        require(inputFeatures >= 1 && classes >= 1, "IdentityClassifier: needs at least one feature and one class, got \(inputFeatures) and \(classes)")
        let n = inputFeatures + classes
        for (l, w) in network.weights.enumerated() where w.shape != [n, n] {
            fatalError("IdentityClassifier: layer \(l + 1) weight is \(w.shape), expected [\(n), \(n)] for \(inputFeatures) features + \(classes) classes")
        }
        self.network = network
        self.inputFeatures = inputFeatures
        self.classes = classes
        self.sigma = sigma
        self.initialization = initialization
    }

    /// A new classifier built as `configuration` says (weights drawn from `generator` when random).
    public init(inputFeatures: Int, classes: Int, configuration: ClassifierConfiguration = ClassifierConfiguration(),
                using generator: inout SeededGenerator) {
        let c = configuration
        require(c.layers >= 1, "IdentityClassifier: layers must be at least 1, got \(c.layers)")
        var network = MultilayerPerceptron<Scalar>(
            initialization: c.initialization, width: inputFeatures + classes, layers: c.layers, sigma: c.sigma,
            activation: c.activation, using: &generator)
        if c.bias { network.biases = network.weights.map { _ in Tensor.zeros([inputFeatures + classes]) } }
        self.init(network: network, inputFeatures: inputFeatures, classes: classes,
                  sigma: c.initialization.referenceSigma(sigma: c.sigma), initialization: c.initialization)
    }

    /// The same with the configuration's fields spelled out.
    public init(inputFeatures: Int, classes: Int, layers: Int, activation: Activation = .hardTanh,
                initialization: Initialization = .identity, sigma: Double = 1, bias: Bool = false,
                using generator: inout SeededGenerator) {
        self.init(inputFeatures: inputFeatures, classes: classes,
                  configuration: ClassifierConfiguration(layers: layers, activation: activation, initialization: initialization,
                                                         sigma: sigma, bias: bias),
                  using: &generator)
    }

    /// The logits (class dimensions of the last pre-activation) of a batch of inputs: rows of
    /// D features `[B, D]`, or rows already padded to the width `[B, D + C]` (class columns zero).
    public func logits(_ inputs: Tensor<Scalar>) -> Tensor<Scalar> {
        let h = network.preActivations(padded(inputs)).last!
        let (rows, d, n, c) = (h.shape[0], inputFeatures, width, classes)
        var result = Tensor<Scalar>.zeros([rows, c])
        result.withUnsafeMutableBufferPointer { r in
            h.withUnsafeBufferPointer { e in
                for i in 0 ..< rows { for k in 0 ..< c { r[i * c + k] = e[i * n + d + k] } }
            }
        }
        return result
    }

    /// `[B, D]` inputs padded with C zero columns; `[B, D + C]` returned as they are.
    public func padded(_ inputs: Tensor<Scalar>) -> Tensor<Scalar> {
        require(inputs.rank == 2 && (inputs.shape[1] == inputFeatures || inputs.shape[1] == width),
                "IdentityClassifier: inputs have shape \(inputs.shape), expected [batch, \(inputFeatures)] or [batch, \(width)]")
        if inputs.shape[1] == width { return inputs }
        let rows = inputs.shape[0]
        var result = Tensor<Scalar>.zeros([rows, width])
        let (d, n) = (inputFeatures, width)
        result.withUnsafeMutableBufferPointer { r in
            inputs.withUnsafeBufferPointer { x in
                for i in 0 ..< rows { for j in 0 ..< d { r[i * n + j] = x[i * d + j] } }
            }
        }
        return result
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
