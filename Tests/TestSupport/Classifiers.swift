import Networks
import TensorAlgebra

// Models the tests of several modules build the same way.

/// A trained-looking classifier: identity plus random perturbations and biases, large enough
/// that many hard-tanh units saturate.
public func perturbedClassifier(_ activation: Activation, features: Int = 12, classes: Int = 3, layers: Int = 4, seed: UInt64 = 2) -> IdentityClassifier<Double> {
    var generator = SeededGenerator(seed: seed)
    let n = features + classes
    let weights = (0 ..< layers).map { _ in Tensor<Double>.identity(n, scale: 1.3) + Tensor<Double>.randomNormal([n, n], standardDeviation: 0.4, using: &generator) }
    let biases = (0 ..< layers).map { _ in Optional(Tensor<Double>.randomNormal([n], standardDeviation: 0.2, using: &generator)) }
    return IdentityClassifier(network: MultilayerPerceptron(weights: weights, biases: biases, activation: activation),
                              inputFeatures: features, classes: classes, sigma: 1.3)
}

/// A small classifier with random weights and biases near the identity, so every code path is
/// exercised.
public func randomClassifier(_ activation: Activation, features: Int = 6, classes: Int = 3, layers: Int = 3, seed: UInt64 = 1) -> IdentityClassifier<Double> {
    var generator = SeededGenerator(seed: seed)
    let n = features + classes
    let weights = (0 ..< layers).map { _ in Tensor<Double>.identity(n) + Tensor<Double>.randomNormal([n, n], standardDeviation: 0.3, using: &generator) }
    let biases = (0 ..< layers).map { _ in Optional(Tensor<Double>.randomNormal([n], standardDeviation: 0.1, using: &generator)) }
    return IdentityClassifier(network: MultilayerPerceptron(weights: weights, biases: biases, activation: activation),
                              inputFeatures: features, classes: classes, sigma: 1)
}
