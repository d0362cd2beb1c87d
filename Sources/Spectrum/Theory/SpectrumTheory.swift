import IsometrySupport
import Networks

/// Which theory describes the spectrum of J Jᵀ for a configuration, with its inputs: the one
/// choice that `SpectrumExperiment` (a measurement's reference) and a study's points (their
/// predicted fraction and mean) both make.
///
/// - identity weights with N(0, q0) inputs: the exact identity law (`IdentityLaw`);
/// - identity weights with fixed-point inputs: no theory;
/// - random weights (Gaussian, orthogonal, He at σ_w = `Initialization.weightScale`): the
///   mean-field fixed point and χ (`MeanField`), and for ReLU, hard-tanh and linear
///   activations free probability at that fixed point (`FreeProbabilityLaw`).
public struct SpectrumTheory: Sendable {
    public enum Choice: Sendable, Equatable {
        case identityLaw
        case freeProbability(FreeProbabilityLaw.Weights)
        /// A random-weight configuration with a finite fixed point but no spectral law for its activation.
        case meanFieldOnly
        case none
    }

    public let choice: Choice
    public let activation: Activation
    public let layers: Int
    /// σ of identity weights, and q0.
    public let sigma: Double
    public let q0: Double
    /// σ_w of random weights (√2 for He) and σ_b.
    public let sigmaW: Double
    public let sigmaB: Double
    /// Random weights: the fixed point q* the variance map reaches (it may not be finite), χ
    /// there, and the active fraction p; nil for identity weights.
    public let fixedPoint: Double?
    public let chi: Double?
    public let activeFraction: Double?
    /// The variance the inputs are drawn with: q0, or q* for fixed-point inputs when finite.
    public let inputVariance: Double
    /// Random weights: the mean eigenvalue of J Jᵀ mean-field theory predicts at this depth,
    /// ∏ χ_l along the q-map trajectory from the inputs (``MeanField/meanEigenvalue(inputSecondMoment:layers:)``).
    /// It equals χ^L only for inputs at the fixed point; N(0, q0) inputs far from q* differ
    /// (hard-tanh at σ_w = 1 from q0 = 0.205: 0.65 at L = 100 where χ^L = 1). Nil for identity weights.
    public let finiteDepthMean: Double?

    /// The theory of `configuration` for a network of `layers` layers (the configuration's own
    /// unless the weights come from a file of another depth).
    public init(_ configuration: SpectrumConfiguration, layers: Int? = nil) {
        let c = configuration
        activation = c.activation
        self.layers = layers ?? c.layers
        sigma = c.sigma
        q0 = c.q0
        sigmaW = c.effectiveSigmaW
        sigmaB = c.sigmaB
        var inputVariance = c.q0
        switch c.initialization {
        case .identity:
            choice = c.input == .normal ? .identityLaw : .none
            (fixedPoint, chi, activeFraction, finiteDepthMean) = (nil, nil, nil, nil)
        case .gaussian, .orthogonal, .he:
            let field = MeanField(activation: c.activation, sigmaW: sigmaW, sigmaB: c.sigmaB)
            // Normal inputs give h^1 ~ N(0, σ_w² q0 + σ_b²); fixed-point inputs start the search at q0
            // (which matters only where every q is fixed, as for ReLU at σ_w² = 2, σ_b = 0).
            let start = c.input == .normal ? sigmaW * sigmaW * c.q0 + c.sigmaB * c.sigmaB : c.q0
            let q = field.fixedPoint(from: start)
            fixedPoint = q
            chi = field.chi(at: q)
            activeFraction = MeanField.activeFraction(c.activation, q: q)
            if q.isFinite && c.input == .fixedPoint { inputVariance = q }
            // Fixed-point inputs x = φ(h), h ~ N(0, q*), have E[x²] = (q* − σ_b²)/σ_w², so that q¹ = q*.
            let secondMoment = c.input == .normal || sigmaW == 0 ? c.q0 : (q - c.sigmaB * c.sigmaB) / (sigmaW * sigmaW)
            finiteDepthMean = c.input == .normal || q.isFinite
                ? field.meanEigenvalue(inputSecondMoment: secondMoment, layers: self.layers) : nil
            if !q.isFinite {
                choice = .none
            } else if [.relu, .hardTanh, .linear].contains(c.activation) {
                choice = .freeProbability(c.initialization == .orthogonal ? .orthogonal : .gaussian)
            } else {
                choice = .meanFieldOnly
            }
        }
        self.inputVariance = inputVariance
    }

    /// The spectral law, when the choice has one.
    public func law() -> SpectralLaw? {
        switch choice {
        case .identityLaw: IdentityLaw.law(activation: activation, sigma: sigma, q0: q0, layers: layers)
        case .freeProbability(let weights):
            FreeProbabilityLaw(weights: weights, sigmaW2: sigmaW * sigmaW, p: activeFraction ?? .nan, layers: layers).law()
        case .meanFieldOnly, .none: nil
        }
    }

    /// The mean-field figures of random weights at a finite fixed point.
    public var meanField: MeanFieldSummary? {
        guard let fixedPoint, fixedPoint.isFinite, let chi, let activeFraction else { return nil }
        return MeanFieldSummary(fixedPoint: fixedPoint, chi: chi, activeFraction: activeFraction)
    }

    /// What the theory is, in words; `reference` names where loaded weights came from (their
    /// spectrum is compared with this theory for reference only).
    public func note(input: InputDistribution, weightsPath: String?) -> String {
        let reference = weightsPath.map { ", for reference (the weights come from \($0))" } ?? ""
        switch choice {
        case .identityLaw:
            return weightsPath == nil
                ? "exact law for identity weights (Kubota et al. 2021)"
                : "identity-initialisation law at σ = \(compactNumber(sigma)), q0 = \(compactNumber(q0)), for reference"
        case .freeProbability:
            return "free probability at the fixed point q* = \(compactNumber(fixedPoint ?? .nan)), p = \(compactNumber(activeFraction ?? .nan)) (Pennington et al. 2018)"
                + (input == .normal ? "; inputs are N(0, q0), not at the fixed point" : "") + reference
        case .meanFieldOnly:
            return "no free-probability theory for \(activation.rawValue); mean field only" + reference
        case .none:
            return fixedPoint == nil ? "no theory: identity weights with fixed-point inputs"
                : "no theory: the variance map has no finite fixed point (σ_w = \(compactNumber(sigmaW)))"
        }
    }
}
