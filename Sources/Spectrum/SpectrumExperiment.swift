import Foundation
import Networks
import TensorAlgebra

/// Where the weights of the analysed network come from.
public enum WeightInitialization: String, Sendable, Codable, CaseIterable {
    /// W^l = σI, no bias.
    case identity
    /// W_ij ~ N(0, σ_w²/N), b_i ~ N(0, σ_b²).
    case gaussian
    /// W = σ_w·Haar orthogonal, b_i ~ N(0, σ_b²).
    case orthogonal
    /// Loaded from files (`SpectrumConfiguration.weightsPath`).
    case file
}

/// How inputs are drawn.
public enum InputDistribution: String, Sendable, Codable, CaseIterable {
    /// u_i ~ N(0, q0).
    case normal
    /// x_i = φ(h_i), h_i ~ N(0, q*), as if the input were the output of a layer at the
    /// mean-field fixed point: then every pre-activation is ~ N(0, q*), as free probability assumes.
    case fixedPoint = "fixed-point"
}

/// Everything that defines one spectrum measurement.
public struct SpectrumConfiguration: Sendable, Codable {
    public var activation: Activation = .hardTanh
    public var initialization: WeightInitialization = .identity
    public var width = 794
    public var layers = 20
    /// σ of identity weights.
    public var sigma = 1.0
    /// Input variance.
    public var q0 = 0.5
    /// σ_w and σ_b of random weights.
    public var sigmaW = 1.0
    public var sigmaB = 0.0
    public var samples = 10
    public var seed: UInt64 = 0
    public var input: InputDistribution = .normal
    public var precision: Precision = .double
    /// For `.file`: a folder of W1.npy … WL.npy (and b1.npy …), or a `.safetensors`
    /// checkpoint from `train` (or exported from PyTorch).
    public var weightsPath: String?
    /// Random weights: draw a new network for every sample (default), so the sampling bands
    /// cover the weights' randomness too, or keep the first one.
    public var redrawWeights = true

    public init() {}
}

/// Mean-field figures of a random-weight configuration.
public struct MeanFieldSummary: Sendable, Codable {
    public var fixedPoint: Double
    public var chi: Double
    public var activeFraction: Double
}

/// A measured spectrum and its comparison with theory.
public struct SpectrumReport: Sendable, Codable {
    public var configuration: SpectrumConfiguration
    public var route: String
    public var law: SpectralLaw?
    public var theoryNote: String
    public var meanField: MeanFieldSummary?
    public var comparison: SpectrumComparison
    public var secondsPerSample: Double
    public var totalSeconds: Double
    /// One array of N eigenvalues per sample, descending.
    public var eigenvalues: [[Double]]
}

/// Runs a configuration: builds the network, draws the inputs, measures the spectra,
/// computes the matching theory and compares.
public enum SpectrumExperiment {
    public static func run(
        _ configuration: SpectrumConfiguration, progress: ((Int, Int) -> Void)? = nil
    ) throws -> SpectrumReport {
        switch configuration.precision {
        case .float: return try run(configuration, Float.self, progress: progress)
        case .double: return try run(configuration, Double.self, progress: progress)
        }
    }

    static func run<Scalar: BLASScalar>(
        _ configuration: SpectrumConfiguration, _: Scalar.Type, progress: ((Int, Int) -> Void)?
    ) throws -> SpectrumReport {
        let c = configuration
        var generator = SeededGenerator(seed: c.seed)
        func makeNetwork() throws -> MultilayerPerceptron<Scalar> {
            switch c.initialization {
            case .identity:
                return .identity(width: c.width, layers: c.layers, sigma: c.sigma, activation: c.activation)
            case .gaussian:
                return .gaussian(width: c.width, layers: c.layers, sigmaW: c.sigmaW, sigmaB: c.sigmaB,
                                 activation: c.activation, using: &generator)
            case .orthogonal:
                return .orthogonal(width: c.width, layers: c.layers, sigmaW: c.sigmaW, sigmaB: c.sigmaB,
                                   activation: c.activation, using: &generator)
            case .file:
                return try MultilayerPerceptron(contentsOf: c.weightsPath ?? "", activation: c.activation)
            }
        }
        let network = try makeNetwork()
        let redraw = c.redrawWeights && [.gaussian, .orthogonal].contains(c.initialization)
        let width = network.inputWidth

        // Theory, and the variance the inputs are drawn with.
        var law: SpectralLaw?
        var note: String
        var meanField: MeanFieldSummary?
        var inputVariance = c.q0
        switch c.initialization {
        case .identity, .file:
            if c.input == .normal {
                law = IdentityLaw.law(activation: c.activation, sigma: c.sigma, q0: c.q0, layers: network.layerCount)
                note = c.initialization == .identity
                    ? "exact law for identity weights (Kubota et al. 2021)"
                    : "identity-initialisation law at σ = \(format(c.sigma)), q0 = \(format(c.q0)), for reference"
            } else {
                note = "no theory: identity weights with fixed-point inputs"
            }
        case .gaussian, .orthogonal:
            let field = MeanField(activation: c.activation, sigmaW: c.sigmaW, sigmaB: c.sigmaB)
            // Normal inputs give h^1 ~ N(0, σ_w² q0 + σ_b²); fixed-point inputs start the search at q0
            // (which matters only where every q is fixed, as for ReLU at σ_w² = 2, σ_b = 0).
            let start = c.input == .normal ? c.sigmaW * c.sigmaW * c.q0 + c.sigmaB * c.sigmaB : c.q0
            let q = field.fixedPoint(from: start)
            let p = MeanField.activeFraction(c.activation, q: q)
            if q.isFinite {
                meanField = MeanFieldSummary(fixedPoint: q, chi: field.chi(at: q), activeFraction: p)
                if c.input == .fixedPoint { inputVariance = q }
            }
            if !q.isFinite {
                note = "no theory: the variance map has no finite fixed point (σ_w = \(format(c.sigmaW)))"
            } else if [.relu, .hardTanh, .linear].contains(c.activation) {
                let weights: FreeProbabilityLaw.Weights = c.initialization == .gaussian ? .gaussian : .orthogonal
                law = FreeProbabilityLaw(weights: weights, sigmaW2: c.sigmaW * c.sigmaW, p: p, layers: c.layers).law()
                note = "free probability at the fixed point q* = \(format(q)), p = \(format(p)) (Pennington et al. 2018)"
                    + (c.input == .normal ? "; inputs are N(0, q0), not at the fixed point" : "")
            } else {
                note = "no free-probability theory for \(c.activation.rawValue); mean field only"
            }
        }

        var analyzer = JacobianSpectrumAnalyzer(network: network, knownDiagonal: c.initialization == .identity ? true : nil)
        var eigenvalues: [[Double]] = []
        let start = Date()
        var measuredSeconds = 0.0
        for sample in 0 ..< c.samples {
            if redraw && sample > 0 {
                analyzer = JacobianSpectrumAnalyzer(network: try makeNetwork())
            }
            let input: Tensor<Scalar>
            switch c.input {
            case .normal:
                input = .randomNormal([width], standardDeviation: Scalar(inputVariance.squareRoot()), using: &generator)
            case .fixedPoint:
                input = Tensor<Scalar>.randomNormal([width], standardDeviation: Scalar(inputVariance.squareRoot()), using: &generator)
                    .map { c.activation($0) }
            }
            let t0 = Date()
            eigenvalues.append(try analyzer.eigenvalues(at: input))
            measuredSeconds += Date().timeIntervalSince(t0)
            progress?(sample + 1, c.samples)
        }
        let model: SamplingModel = analyzer.isDiagonal && c.input == .normal ? .independentEigenvalues : .bootstrapOverSamples
        let comparison = SpectrumComparison(
            samples: eigenvalues, law: law, model: model,
            atomTolerance: Scalar.self == Float.self ? 1e-4 : 1e-9, seed: c.seed &+ 1)
        return SpectrumReport(
            configuration: c,
            route: analyzer.isDiagonal ? "diagonal (J is diagonal)"
                : c.activation.isPiecewiseLinear ? "active subnetwork" : "dense product",
            law: law, theoryNote: note, meanField: meanField, comparison: comparison,
            secondsPerSample: measuredSeconds / Double(max(c.samples, 1)),
            totalSeconds: Date().timeIntervalSince(start), eigenvalues: eigenvalues)
    }
}
