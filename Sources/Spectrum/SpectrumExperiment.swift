import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// How inputs are drawn.
public enum InputDistribution: String, Sendable, Codable, CaseIterable {
    /// u_i ~ N(0, q0).
    case normal
    /// x_i = φ(h_i), h_i ~ N(0, q*), as if the input were the output of a layer at the
    /// mean-field fixed point: then every pre-activation is ~ N(0, q*), as free probability
    /// assumes (`MeanField.fixedPointInputs`).
    case fixedPoint = "fixed-point"
}

/// Everything that defines one spectrum measurement.
///
/// Where the weights come from: drawn by `initialization` (Networks' `Initialization`), or,
/// when `weightsPath` is set, loaded from that file; `initialization` then names the
/// initialisation whose theory is drawn as a reference (identity by default).
public struct SpectrumConfiguration: Sendable, Codable, Equatable {
    public var activation: Activation
    /// How the weights are drawn (identity, gaussian, orthogonal, he), or, for weights from a
    /// file, whose theory is the reference.
    public var initialization: Initialization
    public var width: Int
    public var layers: Int
    /// σ of identity weights.
    public var sigma: Double
    /// Input variance.
    public var q0: Double
    /// σ_w and σ_b of random weights (He initialisation has σ_w = √2 whatever `sigmaW` says).
    public var sigmaW: Double
    public var sigmaB: Double
    public var samples: Int
    public var seed: UInt64
    public var input: InputDistribution
    public var precision: Precision
    /// A folder of W1.npy … WL.npy (and b1.npy …), or a `.safetensors` checkpoint from `train`
    /// (or exported from PyTorch); nil to draw the weights by `initialization`.
    public var weightsPath: String?
    /// Random weights: draw a new network for every sample (default), so the sampling bands
    /// cover the weights' randomness too, or keep the first one.
    public var redrawWeights: Bool
    /// OpenBLAS threads for the spectra; nil (default) chooses by width (one thread below
    /// `JacobianSpectrumAnalyzer.singleThreadWidthLimit`, OpenBLAS's own setting above).
    public var threads: Int?
    /// With `weightsPath` naming a checkpoint that records its activation, analyse with that
    /// activation (the default) rather than `activation`; `.npy` folders record none and always
    /// use `activation`. The report's configuration shows the activation actually used.
    public var activationFromFile: Bool

    public init(
        activation: Activation = .hardTanh, initialization: Initialization = .identity,
        width: Int = 794, layers: Int = 20, sigma: Double = 1, q0: Double = 0.5,
        sigmaW: Double = 1, sigmaB: Double = 0, samples: Int = 10, seed: UInt64 = 0,
        input: InputDistribution = .normal, precision: Precision = .double,
        weightsPath: String? = nil, redrawWeights: Bool = true, threads: Int? = nil, activationFromFile: Bool = true
    ) {
        self.activation = activation
        self.initialization = initialization
        self.width = width
        self.layers = layers
        self.sigma = sigma
        self.q0 = q0
        self.sigmaW = sigmaW
        self.sigmaB = sigmaB
        self.samples = samples
        self.seed = seed
        self.input = input
        self.precision = precision
        self.weightsPath = weightsPath
        self.redrawWeights = redrawWeights
        self.threads = threads
        self.activationFromFile = activationFromFile
    }

    /// Whether the weights are loaded from `weightsPath` rather than drawn.
    public var weightsFromFile: Bool { weightsPath != nil }

    /// σ_w of the drawn weights: `sigmaW`, or √2 for He initialisation (`Initialization.weightScale`).
    public var effectiveSigmaW: Double { initialization.weightScale(sigma: sigmaW) }

    /// Bytes a measurement of `layers` layers of width `width` holds: L weight matrices (one,
    /// shared, for identity weights), three N×N buffers, and the eigenvalues. The one memory
    /// model of `spectrum`, its sweeps and the checks on weights from a file.
    public static func estimatedBytes(width: Int, layers: Int, samples: Int, initialization: Initialization, precision: Precision) -> Double {
        let element = precision == .float ? 4.0 : 8.0
        let n = Double(width)
        let matrices = initialization == .identity ? 1 : Double(layers)
        return (matrices + 3) * n * n * element + Double(samples) * n * 8 * 2
    }

    /// The bytes of this configuration's measurement when its weights are drawn (weights from a
    /// file are sized when loaded, by `SpectrumExperiment.run`).
    public var estimatedBytes: Double {
        Self.estimatedBytes(width: width, layers: layers, samples: samples, initialization: initialization, precision: precision)
    }

    /// Throws `SpectrumError.invalidConfiguration` naming the first field the experiment
    /// cannot run with.
    public func validate() throws(SpectrumError) {
        func positive(_ value: Double, _ field: String) throws(SpectrumError) {
            if !(value.isFinite && value > 0) { throw .invalidConfiguration(field: field, value: "\(value)", expected: "a finite number above 0") }
        }
        if !weightsFromFile {
            if width < 1 { throw .invalidConfiguration(field: "width", value: "\(width)", expected: "at least 1") }
            if layers < 1 { throw .invalidConfiguration(field: "layers", value: "\(layers)", expected: "at least 1") }
        }
        if samples < 1 { throw .invalidConfiguration(field: "samples", value: "\(samples)", expected: "at least 1") }
        try positive(sigma, "sigma")
        try positive(q0, "q0")
        try positive(sigmaW, "sigmaW")
        if !(sigmaB.isFinite && sigmaB >= 0) {
            throw .invalidConfiguration(field: "sigmaB", value: "\(sigmaB)", expected: "a finite number, 0 or above")
        }
        if let threads, threads < 1 { throw .invalidConfiguration(field: "threads", value: "\(threads)", expected: "at least 1, or nil") }
    }
}

/// Mean-field figures of a random-weight configuration.
public struct MeanFieldSummary: Sendable, Codable, Equatable {
    public var fixedPoint: Double
    public var chi: Double
    public var activeFraction: Double

    public init(fixedPoint: Double, chi: Double, activeFraction: Double) {
        self.fixedPoint = fixedPoint
        self.chi = chi
        self.activeFraction = activeFraction
    }
}

/// A measured spectrum and its comparison with theory.
///
/// `SpectrumExperiment.run` makes one from a configuration; `init(eigenvalues:law:…)` makes
/// one from eigenvalues measured by any other code, so that `text` and `histogramFigure()`
/// work on them too.
public struct SpectrumReport: Sendable, Codable {
    /// The measurement's settings; for a report of a user's own eigenvalues only `width`
    /// (eigenvalues per sample), `samples` and `precision` describe the data.
    public var configuration: SpectrumConfiguration
    /// What was measured, in words, for reports of a user's own eigenvalues (it heads the text
    /// and the figure instead of the configuration); nil for `SpectrumExperiment` runs.
    public var subject: String?
    public var route: String
    public var law: SpectralLaw?
    public var theoryNote: String
    public var meanField: MeanFieldSummary?
    public var comparison: SpectrumComparison
    public var secondsPerSample: Double
    public var totalSeconds: Double
    /// One array of N eigenvalues per sample, descending.
    public var eigenvalues: [[Double]]

    /// Every field, as `SpectrumExperiment.run` fills them.
    public init(
        configuration: SpectrumConfiguration, subject: String? = nil, route: String, law: SpectralLaw?,
        theoryNote: String, meanField: MeanFieldSummary? = nil, comparison: SpectrumComparison,
        secondsPerSample: Double = 0, totalSeconds: Double = 0, eigenvalues: [[Double]]
    ) {
        self.configuration = configuration
        self.subject = subject
        self.route = route
        self.law = law
        self.theoryNote = theoryNote
        self.meanField = meanField
        self.comparison = comparison
        self.secondsPerSample = secondsPerSample
        self.totalSeconds = totalSeconds
        self.eigenvalues = eigenvalues
    }

    /// A report of eigenvalues measured elsewhere (one array per sample, e.g. per input or per
    /// network), compared with `law` (nil: no theory, measured rows only).
    ///
    /// `model` says how the sampling bands are estimated: `.independentEigenvalues` when every
    /// eigenvalue is an independent draw from the law (identity weights), otherwise a bootstrap
    /// over samples (the default). `atomTolerance` is the relative distance within which a
    /// value counts as at an atom (1e-9 suits float64, 1e-4 float32). `configuration` may
    /// describe the network; its `width` and `samples` are taken from `eigenvalues`.
    ///
    /// Throws `SpectrumError` for no eigenvalues at all, or NaN or infinite ones.
    public init(
        eigenvalues: [[Double]], law: SpectralLaw?, subject: String = "eigenvalues measured by the caller",
        model: SamplingModel = .bootstrapOverSamples, atomTolerance: Double = 1e-9,
        configuration: SpectrumConfiguration = SpectrumConfiguration(), theoryNote: String? = nil,
        secondsPerSample: Double = 0, seed: UInt64 = 1
    ) throws(SpectrumError) {
        let comparison = try SpectrumComparison(
            eigenvalues: eigenvalues, law: law, model: model, atomTolerance: atomTolerance, seed: seed)
        var configuration = configuration
        configuration.width = eigenvalues.map(\.count).max() ?? 0
        configuration.samples = eigenvalues.count
        self.init(
            configuration: configuration, subject: subject, route: "measured by the caller", law: law,
            theoryNote: theoryNote ?? law.map { $0.name } ?? "none", comparison: comparison,
            secondsPerSample: secondsPerSample, totalSeconds: secondsPerSample * Double(eigenvalues.count),
            eigenvalues: eigenvalues.map { $0.sorted(by: >) })
    }

    /// Eigenvalues per sample: the width of the network's output, as measured.
    public var width: Int { eigenvalues.first?.count ?? configuration.width }
}

/// Runs a configuration: builds the network, draws the inputs, measures the spectra,
/// computes the matching theory and compares.
public enum SpectrumExperiment {
    /// Throws `SpectrumError`: an invalid configuration, an unusable weights file, or a
    /// problem found while measuring (NaN or infinite values, a failed SVD).
    public static func run(
        _ configuration: SpectrumConfiguration, progress: ((Int, Int) -> Void)? = nil
    ) throws(SpectrumError) -> SpectrumReport {
        try configuration.validate()
        switch configuration.precision {
        case .float: return try run(configuration, Float.self, progress: progress)
        case .double: return try run(configuration, Double.self, progress: progress)
        }
    }

    static func run<Scalar: BLASScalar>(
        _ configuration: SpectrumConfiguration, _: Scalar.Type, progress: ((Int, Int) -> Void)?
    ) throws(SpectrumError) -> SpectrumReport {
        var c = configuration
        var generator = SeededGenerator(seed: c.seed)
        func makeNetwork() throws(SpectrumError) -> MultilayerPerceptron<Scalar> {
            if let path = c.weightsPath {
                // A checkpoint names its activation; a folder of .npy layers does not.
                let fromFile = c.activationFromFile && path.hasSuffix(".safetensors")
                do { return try MultilayerPerceptron(contentsOf: path, activation: fromFile ? nil : c.activation) } catch {
                    throw .weightsFile(error)
                }
            }
            if c.initialization == .identity {
                return .identity(width: c.width, layers: c.layers, sigma: c.sigma, activation: c.activation)
            }
            return MultilayerPerceptron(
                initialization: c.initialization, width: c.width, layers: c.layers, sigma: c.sigmaW, sigmaB: c.sigmaB,
                activation: c.activation, using: &generator)
        }
        let network = try makeNetwork()
        if c.weightsFromFile {
            // Shapes from a file get the same memory check as shapes from flags, before any work;
            // a file's layers may differ in width, so the widest counts, each layer its own.
            let widest = network.weights.flatMap(\.shape).max() ?? 0
            let bytes = SpectrumConfiguration.estimatedBytes(
                width: widest, layers: network.layerCount, samples: c.samples, initialization: .gaussian, precision: c.precision)
            if !MemoryBudget.allows(bytes) {
                throw .tooLarge(what: "\(c.weightsPath ?? "") (layers up to \(widest) wide)", estimatedBytes: bytes,
                                availableBytes: Double(MemoryBudget.physicalMemory))
            }
        }
        // The theory and the report follow the activation the network really has.
        c.activation = network.activation
        let redraw = c.redrawWeights && c.initialization.isRandom && !c.weightsFromFile
        let width = network.inputWidth

        // Theory, and the variance the inputs are drawn with.
        let theory = SpectrumTheory(c, layers: network.layerCount)
        let law = theory.law()
        let note = theory.note(input: c.input, weightsPath: c.weightsPath)
        let meanField = theory.meanField
        let inputVariance = theory.inputVariance

        var analyzer = JacobianSpectrumAnalyzer(
            network: network, knownDiagonal: c.initialization == .identity && !c.weightsFromFile ? true : nil, threads: c.threads)
        var eigenvalues: [[Double]] = []
        let start = Date()
        var measuredSeconds = 0.0
        for sample in 0 ..< c.samples {
            if redraw && sample > 0 {
                analyzer = JacobianSpectrumAnalyzer(network: try makeNetwork(), threads: c.threads)
            }
            let input: Tensor<Scalar> = switch c.input {
            case .normal:
                .randomNormal([width], standardDeviation: Scalar(inputVariance.squareRoot()), using: &generator)
            case .fixedPoint:
                MeanField.inputs(activation: c.activation, variance: inputVariance, width: width, count: 1, using: &generator)[0]
            }
            let t0 = Date()
            eigenvalues.append(try analyzer.eigenvalues(at: input))
            measuredSeconds += Date().timeIntervalSince(t0)
            progress?(sample + 1, c.samples)
        }
        let model: SamplingModel = analyzer.isDiagonal && c.input == .normal ? .independentEigenvalues : .bootstrapOverSamples
        let comparison = try SpectrumComparison(
            eigenvalues: eigenvalues, law: law, model: model,
            atomTolerance: Scalar.self == Float.self ? 1e-4 : 1e-9, seed: c.seed &+ 1)
        var described = c
        if c.weightsFromFile {
            described.layers = network.layerCount
            described.width = width
        }
        return SpectrumReport(
            configuration: described,
            route: analyzer.isDiagonal ? "diagonal (J is diagonal)"
                : c.activation.isPiecewiseLinear ? "active subnetwork" : "dense product",
            law: law, theoryNote: note, meanField: meanField, comparison: comparison,
            secondsPerSample: measuredSeconds / Double(max(c.samples, 1)),
            totalSeconds: Date().timeIntervalSince(start), eigenvalues: eigenvalues)
    }
}
