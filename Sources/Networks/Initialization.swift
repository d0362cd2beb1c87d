import TensorAlgebra

/// How the weights of a network start.
///
/// σ is always a `Double`, whatever the network's scalar type, like every other scale in the
/// package (σ of the laws, the classifier's σ, q0): conversions happen once, inside.
public enum Initialization: String, Sendable, Codable, CaseIterable {
    /// W = σI: every layer starts as a scaled identity (Kubota et al. 2021; docs/theory.md §1).
    case identity
    /// W_ij ~ N(0, σ²/N).
    case gaussian
    /// W = σ·Q with Q Haar orthogonal (Saxe et al. 2014).
    case orthogonal
    /// W_ij ~ N(0, 2/N) (He et al. 2015); σ is not used.
    case he

    /// Whether the weights are drawn at random (so a seed matters).
    public var isRandom: Bool { self != .identity }

    /// The weight scale the weights are drawn at from the σ asked for: σ of W = σI, σ_w of
    /// orthogonal and Gaussian weights, and √2 for He whatever σ says. The theory (mean field,
    /// free probability, a study's arms) reads this, never σ itself. The one He rule.
    public func weightScale(sigma: Double) -> Double { self == .he ? 2.0.squareRoot() : sigma }

    /// The σ a classifier records and measures its distance from identity against: σ, and 1 for
    /// He, whose weights are not scaled by σ.
    public func referenceSigma(sigma: Double) -> Double { self == .he ? 1 : sigma }

    /// The standard deviation of one weight of a random N×N layer: `weightScale(sigma:)`/√N.
    /// He's is computed as √(2/N), as it always was, so that its draws stay bit for bit the same.
    func entryStandardDeviation(sigma: Double, width n: Int) -> Double {
        self == .he ? (2 / Double(n)).squareRoot() : weightScale(sigma: sigma) / Double(n).squareRoot()
    }
}

extension MultilayerPerceptron {
    /// L square layers of width N drawn by `initialization`, with (when σ_b > 0) N(0, σ_b²)
    /// biases. Random layers draw weight then bias, layer by layer, from one generator, so a
    /// seed fixes the whole network.
    public init(
        initialization: Initialization, width: Int, layers: Int, sigma: Double = 1, sigmaB: Double = 0,
        activation: Activation, using generator: inout SeededGenerator
    ) {
        guard width >= 1, layers >= 1 else {
            fatalError("MultilayerPerceptron: width \(width) and layers \(layers) must both be at least 1")
        }
        var weights: [Tensor<Scalar>] = []
        var biases: [Tensor<Scalar>?] = []
        let n = width
        for _ in 0 ..< layers {
            switch initialization {
            case .identity: weights.append(.identity(n, scale: Scalar(sigma)))
            case .gaussian, .he:
                weights.append(.randomNormal(
                    [n, n], standardDeviation: Scalar(initialization.entryStandardDeviation(sigma: sigma, width: n)), using: &generator))
            case .orthogonal: weights.append(.randomOrthogonal(n, scale: Scalar(sigma), using: &generator))
            }
            biases.append(sigmaB > 0 ? .randomNormal([n], standardDeviation: Scalar(sigmaB), using: &generator) : nil)
        }
        self.init(weights: weights, biases: biases, activation: activation)
    }

    /// Every layer σ·I, no bias: identity initialisation.
    public static func identity(width: Int, layers: Int, sigma: Double, activation: Activation) -> Self {
        var unused = SeededGenerator(seed: 0)
        return Self(initialization: .identity, width: width, layers: layers, sigma: sigma, activation: activation, using: &unused)
    }

    /// W_ij ~ N(0, σ_w²/N) and, when σ_b > 0, b_i ~ N(0, σ_b²).
    public static func gaussian(
        width: Int, layers: Int, sigmaW: Double, sigmaB: Double = 0, activation: Activation,
        using generator: inout SeededGenerator
    ) -> Self {
        Self(initialization: .gaussian, width: width, layers: layers, sigma: sigmaW, sigmaB: sigmaB, activation: activation, using: &generator)
    }

    /// W = σ_w·Q with Q Haar orthogonal and, when σ_b > 0, b_i ~ N(0, σ_b²).
    public static func orthogonal(
        width: Int, layers: Int, sigmaW: Double, sigmaB: Double = 0, activation: Activation,
        using generator: inout SeededGenerator
    ) -> Self {
        Self(initialization: .orthogonal, width: width, layers: layers, sigma: sigmaW, sigmaB: sigmaB, activation: activation, using: &generator)
    }
}
