import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// Which theory describes the spectrum of J Jᵀ of a centre-tap convolutional stack
/// (``PositionwiseNetwork``) at inputs with i.i.d. N(0, q0) entries (docs/theory.md §6).
///
/// The stack must be L pairs of a convolution with C → C channels and one pointwise
/// activation φ, on C input channels; then every position runs the same dense network of
/// width C. What it reduces to depends on the centre taps:
///
/// - **Dirac** (σ·I, no bias): J is diagonal, each of the C·P coordinates its own scalar chain
///   g(u) = ∏_l σ φ'(h^l(u)), so the eigenvalues are i.i.d. draws of g(u)², u ~ N(0, q0): the
///   exact ``IdentityLaw`` of the identity-initialised MLP, with i.i.d. sampling bands.
/// - **Delta-orthogonal** (σ·H_l, H_l Haar orthogonal, biases 0 or N(0, σ_b²)): each block is
///   the Jacobian of a width-C orthogonal network, so the spectrum follows free probability for
///   orthogonal weights at σ_w = σ, with each layer's active fraction p_l along the q-map
///   trajectory from q¹ = σ² q0 + σ_b² (``LayerwiseFreeProbabilityLaw``), for ReLU, hard-tanh
///   and the identity; tanh and erf get the mean-field mean only. The blocks share the H_l and
///   are dependent, so the bands are bootstraps over samples (one network per sample).
///
/// Anything else (another initialisation, channels that change, a missing activation, two
/// activations, leaky ReLU, biases on Dirac taps) has no theory, and ``note`` says which.
public struct PositionwiseTheory: Sendable {
    public enum Choice: Sendable, Equatable {
        case identityLaw
        case freeProbability
        case meanFieldOnly
        case none
    }

    public let choice: Choice
    /// The activation after every convolution (nil when there is no single one).
    public let activation: Activation?
    /// C, the channels of every layer (the width of the dense network each position runs).
    public let channels: Int
    /// The number of convolution–activation pairs L.
    public let layers: Int
    public let initialization: StackInitialization
    public let sigma: Double
    public let sigmaB: Double
    public let q0: Double
    /// Why there is no theory (choice `.none`), in words; nil otherwise.
    public let obstacle: String?

    /// The theory of `network` drawn by `initialization` at scale σ with N(0, σ_b²) biases, at
    /// N(0, q0) inputs. The centre taps are checked against the initialisation (σ·I to rounding
    /// for Dirac, HᵀH = I within 1e-4 for delta-orthogonal), so a network that is not what
    /// `initialization` says gets no theory rather than a wrong one.
    public init<Scalar: BLASScalar>(
        _ network: PositionwiseNetwork<Scalar>, initialization: StackInitialization, sigma: Double, sigmaB: Double, q0: Double
    ) {
        self.initialization = initialization
        self.sigma = sigma
        self.sigmaB = sigmaB
        self.q0 = q0
        channels = network.widths[0]
        let (structure, problem) = Self.pairs(network)
        layers = structure.count
        activation = structure.first.flatMap { $0.activation }
        var obstacle = problem
        if obstacle == nil {
            obstacle = Self.tapProblem(structure, initialization: initialization, sigma: sigma, sigmaB: sigmaB)
        }
        self.obstacle = obstacle
        guard obstacle == nil, let activation else {
            choice = .none
            return
        }
        switch initialization {
        case .dirac: choice = .identityLaw
        default: choice = [.relu, .hardTanh, .linear].contains(activation) ? .freeProbability : .meanFieldOnly
        }
    }

    typealias Pair = (weight: [Double], bias: [Double]?, activation: Activation?)

    /// The (centre tap, bias, activation) pairs, or the first thing that keeps the network from
    /// being L pairs of C → C convolutions and one activation on C input channels.
    static func pairs<Scalar>(_ network: PositionwiseNetwork<Scalar>) -> ([Pair], String?) {
        let c = network.widths[0]
        var result: [Pair] = []
        var steps = network.steps[...]
        var shared: Nonlinearity?
        while let step = steps.popFirst() {
            guard case .affine(let weight, let bias) = step else {
                return (result, "layer \(network.steps.count - steps.count - 1) is an activation without a convolution before it; the theory needs convolution, activation pairs")
            }
            let index = network.steps.count - steps.count - 1
            guard weight.shape == [c, c] else {
                return (result, "layer \(index) maps \(weight.shape[1]) → \(weight.shape[0]) channels; the theory needs \(c) → \(c) throughout (the input's channels)")
            }
            guard case .activation(let function) = steps.popFirst() else {
                return (result, "layer \(index) (a convolution) has no activation after it; the theory needs one after every convolution")
            }
            if let shared, shared != function {
                return (result, "the activations differ (\(shared) and \(function)); the theory needs one activation throughout")
            }
            shared = function
            let activation: Activation? = switch function {
            case .hardTanh: .hardTanh
            case .relu: .relu
            case .tanh: .tanh
            case .erf: .erf
            case .identity: .linear
            case .leakyReLU: nil
            }
            guard let activation else { return (result, "\(function) has no spectral theory here (hard-tanh, relu, tanh, erf or identity)") }
            result.append((weight.scalars.map { Double($0) }, bias.map { $0.scalars.map { Double($0) } }, activation))
        }
        if result.isEmpty { return (result, "the stack has no convolution") }
        return (result, nil)
    }

    /// Whether the centre taps are what `initialization` draws at σ: nil if so, else why not.
    static func tapProblem(_ pairs: [Pair], initialization: StackInitialization, sigma: Double, sigmaB: Double) -> String? {
        switch initialization {
        case .dirac:
            if sigmaB > 0 { return "Dirac taps with N(0, σ_b²) biases (σ_b = \(compactNumber(sigmaB))) have no exact law; the identity law needs σ_b = 0" }
            for (l, pair) in pairs.enumerated() {
                let c = Int(Double(pair.weight.count).squareRoot())
                for i in 0 ..< c {
                    for j in 0 ..< c where abs(pair.weight[i * c + j] - (i == j ? sigma : 0)) > 1e-6 * sigma {
                        return "convolution \(l + 1)'s centre tap is not σ·I (σ = \(compactNumber(sigma)))"
                    }
                }
                if let bias = pair.bias, bias.contains(where: { $0 != 0 }) { return "convolution \(l + 1) has a non-zero bias" }
            }
            return nil
        case .deltaOrthogonal:
            for (l, pair) in pairs.enumerated() {
                let c = Int(Double(pair.weight.count).squareRoot())
                // HᵀH = I for H = tap/σ: each Gram entry within 1e-4 (Float rounding of an
                // orthogonal H leaves ~1e-6).
                for i in 0 ..< c {
                    for j in i ..< c {
                        var dot = 0.0
                        for k in 0 ..< c { dot += pair.weight[k * c + i] * pair.weight[k * c + j] }
                        if abs(dot / (sigma * sigma) - (i == j ? 1 : 0)) > 1e-4 {
                            return "convolution \(l + 1)'s centre tap is not σ times an orthogonal matrix (σ = \(compactNumber(sigma)))"
                        }
                    }
                }
            }
            return nil
        case .pytorch, .he, .glorot:
            return "\(initialization.rawValue) initialisation has no spectral theory here (dirac and delta-orthogonal have)"
        }
    }

    /// The spectral law, when the choice has one; nil also when the variance map diverges
    /// within L layers.
    public func law() -> SpectralLaw? {
        guard let activation else { return nil }
        switch choice {
        case .identityLaw:
            return IdentityLaw.law(activation: activation, sigma: sigma, q0: q0, layers: layers)
        case .freeProbability:
            return LayerwiseFreeProbabilityLaw(weights: .orthogonal, activation: activation, sigmaW: sigma, sigmaB: sigmaB,
                                               inputSecondMoment: q0, layers: layers)?.law()
        case .meanFieldOnly, .none:
            return nil
        }
    }

    /// The mean eigenvalue mean-field theory predicts, ∏ χ_l along the trajectory from q0
    /// (``MeanField/meanEigenvalue(inputSecondMoment:layers:)``); nil without a theory.
    public var meanEigenvalue: Double? {
        guard let activation, choice != .none else { return nil }
        if choice == .identityLaw { return IdentityLaw.mean(activation: activation, sigma: sigma, q0: q0, layers: layers) }
        return MeanField(activation: activation, sigmaW: sigma, sigmaB: sigmaB).meanEigenvalue(inputSecondMoment: q0, layers: layers)
    }

    /// Independent bands for Dirac (i.i.d. eigenvalues), a bootstrap over samples otherwise.
    public var samplingModel: SamplingModel { choice == .identityLaw ? .independentEigenvalues : .bootstrapOverSamples }

    /// What the theory is, in words.
    public var note: String {
        switch choice {
        case .identityLaw:
            return "exact law for identity weights (Kubota et al. 2021): Dirac taps make every coordinate of every position "
                + "its own scalar chain of \(layers) layers"
        case .freeProbability:
            return "free probability for the orthogonal network of width C = \(channels) each position runs (Xiao et al. 2018), "
                + "active fractions along the q-map from q0 = \(compactNumber(q0)); the theory is the C → ∞ limit"
        case .meanFieldOnly:
            return "no free-probability law for \(activation?.rawValue ?? "this activation"); mean field only"
        case .none:
            return "none: \(obstacle ?? "no theory for this network")"
        }
    }
}
