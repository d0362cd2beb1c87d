import Foundation
import Datasets
import FileFormats
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

/// The settings of a stochastic Lanczos quadrature measurement.
public struct LanczosSettings: Sendable, Codable, Equatable {
    /// Lanczos steps per probe (nodes of each probe's quadrature).
    public var steps: Int
    /// Random probe vectors, run as one block.
    public var probes: Int
    public init(steps: Int = 40, probes: Int = 16) {
        self.steps = steps
        self.probes = probes
    }
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
    /// OpenBLAS threads for the spectra; nil (default) leaves the process-wide setting alone,
    /// unless `SpectrumExperiment.run` is asked to choose by width (`chooseThreads`).
    public var threads: Int?
    /// With `weightsPath` naming a checkpoint that records its activation, analyse with that
    /// activation (the default) rather than `activation`; `.npy` folders record none and always
    /// use `activation`. The report's configuration shows the activation actually used.
    public var activationFromFile: Bool
    /// For a PyTorch state dict in `weightsPath` (`<index>.weight` tensors, no architecture):
    /// the activations, one name ("relu": after every dense layer but the last, whose outputs
    /// are the logits) or one per such layer separated by commas ("relu,tanh"). A file that
    /// carries its architecture (a layer stack written by Isometry) needs none; nil otherwise.
    public var stackActivations: String?
    /// Take the inputs from data: the first `samples` test images of this IDX folder (e.g.
    /// Fashion-MNIST), pixels / 255 as the trainer reads them, instead of drawing them by
    /// `input`. No theory describes a spectrum at data, so the report gives measured
    /// statistics only. nil (default): inputs drawn by `input`.
    public var testImagesFolder: String?
    /// A convolutional (or any) layer stack to draw instead of an MLP, as an architecture string
    /// (`ArchitectureString`: "conv64k3p1,hard-tanh,conv64k3p1,hard-tanh"), on per-sample inputs
    /// of `inputShape` ([64, 32]: 64 channels, 32 positions), its weights drawn by
    /// `stackInitialization` at σ = `sigma` with N(0, σ_b²) biases. Dirac and delta-orthogonal
    /// stacks of centre-tap convolutions are compared with their theory (`PositionwiseTheory`);
    /// `width`, `layers`, `activation` and `initialization` are then not used. nil (default): an MLP.
    public var architecture: String?
    /// The per-sample input shape of `architecture`, `[C, L]` or `[C, H, W]` (or any shape the
    /// string takes).
    public var inputShape: [Int]?
    /// How `architecture`'s weights are drawn (nil: PyTorch's default); random ones are drawn
    /// anew for every sample unless `redrawWeights` is false.
    public var stackInitialization: StackInitialization?
    /// How the spectrum is measured: nil (the default) for the dense analyzers (J formed, an
    /// SVD), or stochastic Lanczos quadrature with these settings (``LanczosSpectrumAnalyzer``).
    public var lanczos: LanczosSettings?

    public init(
        activation: Activation = .hardTanh, initialization: Initialization = .identity,
        width: Int = 794, layers: Int = 20, sigma: Double = 1, q0: Double = 0.5,
        sigmaW: Double = 1, sigmaB: Double = 0, samples: Int = 10, seed: UInt64 = 0,
        input: InputDistribution = .normal, precision: Precision = .double,
        weightsPath: String? = nil, redrawWeights: Bool = true, threads: Int? = nil, activationFromFile: Bool = true,
        stackActivations: String? = nil, testImagesFolder: String? = nil,
        architecture: String? = nil, inputShape: [Int]? = nil, stackInitialization: StackInitialization? = nil,
        lanczos: LanczosSettings? = nil
    ) {
        self.lanczos = lanczos
        self.architecture = architecture
        self.inputShape = inputShape
        self.stackInitialization = stackInitialization
        self.stackActivations = stackActivations
        self.testImagesFolder = testImagesFolder
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
        // The weights, and four n × n buffers of the analyzer (the layer product, its scratch,
        // the derivatives' expansion and LAPACK's work): 1010 MB measured for 4 layers of
        // 4000 in double against (4 + 4)·4000²·8 = 1024 MB.
        return (matrices + 4) * n * n * element + Double(samples) * n * 8 * 2
    }

    /// The bytes of this configuration's measurement when its weights are drawn (weights from a
    /// file are sized when loaded, by `SpectrumExperiment.run`).
    public var estimatedBytes: Double {
        guard let lanczos else {
            return Self.estimatedBytes(width: width, layers: layers, samples: samples, initialization: initialization, precision: precision)
        }
        return Self.estimatedLanczosBytes(width: width, layers: layers, samples: samples, initialization: initialization,
                                          precision: precision, settings: lanczos)
    }

    /// Bytes of a Lanczos measurement: the weights once (in `precision`), at most three quarters
    /// of them again for the active subnetwork (``JacobianOperator``), the forward pass and
    /// the operator's blocks (``StochasticLanczosQuadrature/estimatedBytes(layerScalars:steps:probes:)``),
    /// the eigenvalues. No N × N buffer: J is never formed.
    public static func estimatedLanczosBytes(
        width: Int, layers: Int, samples: Int, initialization: Initialization, precision: Precision, settings: LanczosSettings
    ) -> Double {
        let element = precision == .float ? 4.0 : 8.0
        let n = Double(width)
        let matrices = initialization == .identity ? 1 : Double(layers)
        // Each layer of the stack is a dense and an activation: 2L + 1 tensors of N per sample.
        let scalars = [Int](repeating: width, count: 2 * layers + 1)
        let working = precision == .float
            ? StochasticLanczosQuadrature<Float>.estimatedBytes(layerScalars: scalars, steps: settings.steps, probes: settings.probes)
            : StochasticLanczosQuadrature<Double>.estimatedBytes(layerScalars: scalars, steps: settings.steps, probes: settings.probes)
        // The active subnetwork's copy is made only when under three quarters of the weights.
        let activeCopy = initialization == .identity ? 0 : 0.75 * matrices * n * n * element
        return matrices * n * n * element + activeCopy + working + Double(samples) * n * 8 * 2
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
        if let lanczos {
            if lanczos.steps < 1 { throw .invalidConfiguration(field: "steps", value: "\(lanczos.steps)", expected: "at least 1") }
            if lanczos.probes < 1 { throw .invalidConfiguration(field: "probes", value: "\(lanczos.probes)", expected: "at least 1") }
            if !weightsFromFile && architecture == nil && lanczos.steps > width {
                throw .invalidConfiguration(field: "steps", value: "\(lanczos.steps)", expected: "at most \(width), the dimension of J Jᵀ")
            }
        }
        try positive(sigma, "sigma")
        try positive(q0, "q0")
        try positive(sigmaW, "sigmaW")
        if !(sigmaB.isFinite && sigmaB >= 0) {
            throw .invalidConfiguration(field: "sigmaB", value: "\(sigmaB)", expected: "a finite number, 0 or above")
        }
        if let threads, threads < 1 { throw .invalidConfiguration(field: "threads", value: "\(threads)", expected: "at least 1, or nil") }
        if let names = stackActivations {
            if weightsPath?.hasSuffix(".safetensors") != true {
                throw .invalidConfiguration(field: "stackActivations", value: names, expected: "nil unless weightsPath names a .safetensors PyTorch state dict")
            }
            if names.split(separator: ",", omittingEmptySubsequences: false).contains(where: { Nonlinearity(name: String($0)) == nil }) {
                throw .invalidConfiguration(field: "stackActivations", value: names,
                                            expected: "activation names separated by commas (relu, leaky-relu, leaky-relu:0.2, hard-tanh, tanh, erf, identity)")
            }
        }
        if testImagesFolder != nil && input == .fixedPoint {
            throw .invalidConfiguration(field: "input", value: "fixed-point", expected: "normal when the inputs are test images (testImagesFolder)")
        }
        if let architecture {
            if let weightsPath {
                throw .invalidConfiguration(field: "weightsPath", value: weightsPath, expected: "nil when the stack is drawn from architecture")
            }
            if input == .fixedPoint {
                throw .invalidConfiguration(field: "input", value: "fixed-point", expected: "normal for a stack drawn from architecture (it has no mean-field fixed point)")
            }
            guard let inputShape else {
                throw .invalidConfiguration(field: "inputShape", value: "nil", expected: "the per-sample input shape of architecture '\(quotedValue(architecture))'")
            }
            do { _ = try ArchitectureString.parse(architecture, inputShape: inputShape) } catch { throw .architecture(.architecture(error)) }
        } else if let inputShape {
            throw .invalidConfiguration(field: "inputShape", value: "\(inputShape)", expected: "nil unless architecture is given")
        } else if let stackInitialization {
            throw .invalidConfiguration(field: "stackInitialization", value: stackInitialization.rawValue, expected: "nil unless architecture is given")
        }
    }

    /// The activations `stackActivations` names, in order.
    package var parsedStackActivations: [Nonlinearity]? {
        stackActivations.map { $0.split(separator: ",", omittingEmptySubsequences: false).compactMap { Nonlinearity(name: String($0)) } }
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
    /// The width whose N → ∞ limit the theory is, when it is not the eigenvalues per sample:
    /// C for a CNN whose P positions each run a width-C network (its samples hold C·P
    /// eigenvalues). nil: the eigenvalues per sample (``width``).
    public var finiteWidth: Int?
    /// For a stochastic Lanczos quadrature measurement, the estimates (one per sample) whose
    /// quantile eigenvalues `eigenvalues` holds; nil for a dense one.
    public var quadratures: [LanczosSpectrum]?

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

    /// How far the measured spectrum lies from the law (W1 and KS, ``LawDistance``), with the
    /// quadrature's uncertainty for a Lanczos measurement; nil without a law.
    public var lawDistance: LawDistance? {
        law.map { LawDistance(eigenvalues: eigenvalues, law: $0, quadratures: quadratures) }
    }
}

/// Runs a configuration: builds the network, draws the inputs, measures the spectra,
/// computes the matching theory and compares.
///
/// The network is drawn by the configuration, or loaded from `weightsPath`: a folder of
/// `W<k>.npy`, an identity-classifier checkpoint from `train` (`layers.<l>.weight`; measured
/// by ``JacobianSpectrumAnalyzer``, as always), a layer stack that carries its architecture,
/// or a PyTorch state dict given `stackActivations` (both measured by
/// ``LayerStackSpectrumAnalyzer``: J of the stack's output, no theory).
public enum SpectrumExperiment {
    /// Throws `SpectrumError`: an invalid configuration, an unusable weights or data file, or a
    /// problem found while measuring (NaN or infinite values, a failed SVD).
    ///
    /// `chooseThreads`: when `configuration.threads` is nil, run on the thread count the
    /// network's widest layer calls for (`JacobianSpectrumAnalyzer.automaticThreads(width:)`),
    /// which sets the process-wide OpenBLAS setting for the duration of each measurement; the
    /// default (false) leaves it alone, so that experiments run from several tasks at once do
    /// not race on it. The `spectrum` command passes true.
    public static func run(
        _ configuration: SpectrumConfiguration, chooseThreads: Bool = false, progress: ((Int, Int) -> Void)? = nil
    ) throws(SpectrumError) -> SpectrumReport {
        try configuration.validate()
        if configuration.architecture != nil {
            switch configuration.precision {
            case .float: return try runArchitecture(configuration, Float.self, chooseThreads: chooseThreads, progress: progress)
            case .double: return try runArchitecture(configuration, Double.self, chooseThreads: chooseThreads, progress: progress)
            }
        }
        switch configuration.precision {
        case .float: return try run(configuration, Float.self, chooseThreads: chooseThreads, progress: progress)
        case .double: return try run(configuration, Double.self, chooseThreads: chooseThreads, progress: progress)
        }
    }

    /// The spectrum of `stack` at inputs drawn by `configuration` (`input` = normal, N(0, q0))
    /// or at its `testImagesFolder`'s test images, with no theory: the general path for a
    /// network the caller built or loaded. `configuration`'s network fields (weights, width,
    /// layers, activation) are not used; `subject` names the network in the report.
    public static func run<Scalar: BLASScalar>(
        stack: LayerStack<Scalar>, configuration: SpectrumConfiguration, subject: String? = nil,
        chooseThreads: Bool = false, progress: ((Int, Int) -> Void)? = nil
    ) throws(SpectrumError) -> SpectrumReport {
        var c = configuration
        c.weightsPath = nil
        c.stackActivations = nil
        (c.architecture, c.inputShape, c.stackInitialization) = (nil, nil, nil)
        try c.validate()
        return try measure(stack: stack, c, subject: subject ?? "layer stack \(describe(stack))",
                           chooseThreads: chooseThreads, progress: progress)
    }

    /// What a weights file holds.
    enum LoadedNetwork<Scalar: BLASScalar> {
        case perceptron(MultilayerPerceptron<Scalar>)
        case stack(LayerStack<Scalar>)
    }

    /// Reads `path` once: a layer stack (architecture in its metadata, or a PyTorch state dict
    /// with `stackActivations`) or a multilayer perceptron (checkpoint or `.npy` folder).
    static func load<Scalar: BLASScalar>(_ path: String, _ c: SpectrumConfiguration) throws(SpectrumError) -> LoadedNetwork<Scalar> {
        guard path.hasSuffix(".safetensors") else {
            do { return .perceptron(try MultilayerPerceptron(contentsOf: path, activation: c.activation)) } catch {
                throw .weightsFile(error)
            }
        }
        // Loading holds the file's bytes, the tensors' bytes it parses into, then the weights in
        // the run's precision: up to S + S/4·e for a float32 file of S bytes and e-byte scalars
        // (measured for a 256 MB file in double: 768 MB while loading), where the reader alone
        // budgets 2·S. Refused, with that estimate, before anything is read.
        if let size = try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int {
            let element = Double(MemoryLayout<Scalar>.stride)
            let bytes = max(2 * Double(size), Double(size) + Double(size) / 4 * element)
            if !MemoryBudget.allows(bytes) {
                throw .tooLarge(what: "loading \(path) (\(MemoryBudget.format(size)))", estimatedBytes: bytes,
                                availableBytes: Double(MemoryBudget.physicalMemory))
            }
        }
        let file: SafetensorsFile
        do { file = try Checkpoint.read(contentsOf: URL(fileURLWithPath: path)) } catch { throw .weightsFile(error) }
        do throws(LayerStackError) {
            if let json = file.metadata[LayerStackArchitecture.metadataKey] {
                let architecture = try LayerStack<Scalar>.decodeArchitecture(json, path: path)
                return .stack(try LayerStack(architecture: architecture, parameters: file, path: path))
            }
            // PyTorch's names: `<module index>.weight`.
            let dense = file.entries.keys.filter { $0.hasSuffix(".weight") && Int($0.dropLast(".weight".count)) != nil }.count
            if var activations = c.parsedStackActivations {
                // One name serves every dense layer but the last (whose outputs are the logits).
                if activations.count == 1 { activations = Array(repeating: activations[0], count: max(dense - 1, 0)) }
                return .stack(try LayerStack(stateDict: file, path: path, activations: activations))
            }
            // A state dict with no identity-classifier layers: its activations are not in the file.
            if file.entries[Checkpoint.weightName(0)] == nil && dense > 0 {
                throw LayerStackError(path: path, problem: .missingArchitecture)
            }
        } catch { throw .layerStackFile(error) }
        // A checkpoint names its activation unless one is given.
        do { return .perceptron(try Checkpoint.network(from: file, path: path, activation: c.activationFromFile ? nil : c.activation)) } catch {
            throw .weightsFile(error)
        }
    }

    /// "784 → 1000 → 300 → 10 (dense, relu, dense, relu, dense)".
    public static func describe<Scalar>(_ stack: LayerStack<Scalar>) -> String {
        let shapes = stack.shapes.enumerated().filter { $0.offset == 0 || !(stack.layers[$0.offset - 1] is ActivationLayer<Scalar>) }
            .map { $0.element.count == 1 ? "\($0.element[0])" : "\($0.element)" }
        return shapes.joined(separator: " → ") + " (" + stack.layers.map { $0.layerDescription.kind }.joined(separator: ", ") + ")"
    }

    /// The first `count` test images of `folder`.
    static func testImages(_ folder: String, count: Int) throws(SpectrumError) -> LabeledImages {
        let test: LabeledImages
        do { test = try ImageDataset(folder: folder).test } catch { throw .dataset("\(error)") }
        guard count <= test.count else {
            throw .invalidConfiguration(field: "samples", value: "\(count)", expected: "at most \(test.count), the test images in \(folder)")
        }
        return test.prefix(count)
    }

    /// "the first 100 test images of FOLDER (pixels / 255)".
    static func imagesText(_ count: Int, _ folder: String) -> String {
        "the first \(count) test image\(count == 1 ? "" : "s") of \(folder) (pixels / 255)"
    }

    static func run<Scalar: BLASScalar>(
        _ configuration: SpectrumConfiguration, _: Scalar.Type, chooseThreads: Bool, progress: ((Int, Int) -> Void)?
    ) throws(SpectrumError) -> SpectrumReport {
        var c = configuration
        var generator = SeededGenerator(seed: c.seed)
        var loaded: MultilayerPerceptron<Scalar>?
        if let path = c.weightsPath {
            switch try load(path, c) as LoadedNetwork<Scalar> {
            case .perceptron(let network): loaded = network
            case .stack(let stack):
                try checkMemory(stack: stack, c)
                return try measure(stack: stack, c, subject: "layer stack \(describe(stack)) from \(path)",
                                   chooseThreads: chooseThreads, progress: progress)
            }
        }
        func makeNetwork() -> MultilayerPerceptron<Scalar> {
            if let loaded { return loaded }
            if c.initialization == .identity {
                return .identity(width: c.width, layers: c.layers, sigma: c.sigma, activation: c.activation)
            }
            return MultilayerPerceptron(
                initialization: c.initialization, width: c.width, layers: c.layers, sigma: c.sigmaW, sigmaB: c.sigmaB,
                activation: c.activation, using: &generator)
        }
        let network = makeNetwork()
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
        let images = try c.testImagesFolder.map { folder throws(SpectrumError) in try testImages(folder, count: c.samples) }
        // Test images go in as they are, or padded with zero class units (an identity
        // classifier's input layout, `IdentityClassifier.padded`).
        if let images, width != images.features && width != images.features + images.classes {
            throw .inputShape(shape: [images.features], networkInputWidth: width)
        }

        // Theory, and the variance the inputs are drawn with.
        let theory = SpectrumTheory(c, layers: network.layerCount)
        let law = images == nil ? theory.law() : nil
        let note = images == nil ? theory.note(input: c.input, weightsPath: c.weightsPath)
            : "none at data: inputs are \(imagesText(c.samples, c.testImagesFolder!)); measured statistics only"
        let meanField = theory.meanField
        let inputVariance = theory.inputVariance

        // Sample n's input, for both routes: drawn after the sample's network (when redrawn) from
        // the generator makeNetwork shares, or gathered from the images.
        var pixels = Tensor<Scalar>.zeros([1, width])
        func drawInput(_ sample: Int) -> Tensor<Scalar> {
            if let images {
                images.gather([sample], into: &pixels)
                return pixels.reshaped([width])
            }
            return switch c.input {
            case .normal: .randomNormal([width], standardDeviation: Scalar(inputVariance.squareRoot()), using: &generator)
            case .fixedPoint: MeanField.inputs(activation: c.activation, variance: inputVariance, width: width, count: 1, using: &generator)[0]
            }
        }
        if let settings = c.lanczos {
            return try measureByLanczos(network: network, makeNetwork: makeNetwork, drawInput: drawInput, redraw: redraw,
                                        settings: settings, c, law: law, note: note, meanField: meanField, progress: progress)
        }
        var analyzer = JacobianSpectrumAnalyzer(
            network: network, knownDiagonal: c.initialization == .identity && !c.weightsFromFile ? true : nil, threads: c.threads)
        if c.threads == nil && chooseThreads {
            analyzer.threads = JacobianSpectrumAnalyzer<Scalar>.automaticThreads(width: analyzer.widestLayer)
        }
        var eigenvalues: [[Double]] = []
        let start = Date()
        var measuredSeconds = 0.0
        for sample in 0 ..< c.samples {
            if redraw && sample > 0 {
                analyzer = JacobianSpectrumAnalyzer(network: makeNetwork(), threads: analyzer.threads)
            }
            let input = drawInput(sample)
            let t0 = Date()
            eigenvalues.append(try analyzer.eigenvalues(at: input))
            measuredSeconds += Date().timeIntervalSince(t0)
            progress?(sample + 1, c.samples)
        }
        let model: SamplingModel = analyzer.isDiagonal && c.input == .normal && images == nil ? .independentEigenvalues : .bootstrapOverSamples
        let comparison = try SpectrumComparison(
            eigenvalues: eigenvalues, law: law, model: model,
            atomTolerance: Scalar.self == Float.self ? 1e-4 : 1e-9, seed: c.seed &+ 1)
        var described = c
        if c.weightsFromFile {
            described.layers = network.layerCount
            described.width = width
        }
        return SpectrumReport(
            configuration: described, route: analyzer.route,
            law: law, theoryNote: note, meanField: meanField, comparison: comparison,
            secondsPerSample: measuredSeconds / Double(max(c.samples, 1)),
            totalSeconds: Date().timeIntervalSince(start), eigenvalues: eigenvalues)
    }

    /// A stack's measurement needs its parameters (loaded), the workspace's buffers for
    /// min(m, n) directions through every layer, J twice and the eigenvalues.
    static func checkMemory<Scalar>(stack: LayerStack<Scalar>, _ c: SpectrumConfiguration) throws(SpectrumError) {
        let (m, n) = (stack.outputShape.reduce(1, *), stack.inputShape.reduce(1, *))
        let units = stack.shapes.reduce(0) { $0 + $1.reduce(1, *) }
        let element = Double(MemoryLayout<Scalar>.stride)
        let bytes = (Double(stack.parameterCount) + Double(min(m, n) + 2) * Double(units) * 2 + 2 * Double(m * n)) * element
            + Double(c.samples * m) * 16
        if !MemoryBudget.allows(bytes) {
            throw .tooLarge(what: "\(c.weightsPath ?? "the stack") (\(describe(stack)))", estimatedBytes: bytes,
                            availableBytes: Double(MemoryBudget.physicalMemory))
        }
    }

    /// The stack's spectrum at normal inputs or test images, no theory.
    static func measure<Scalar: BLASScalar>(
        stack: LayerStack<Scalar>, _ c: SpectrumConfiguration, subject: String, chooseThreads: Bool, progress: ((Int, Int) -> Void)?
    ) throws(SpectrumError) -> SpectrumReport {
        if c.input == .fixedPoint {
            throw .invalidConfiguration(field: "input", value: "fixed-point", expected: "normal or test images for a layer stack (it has no mean-field fixed point)")
        }
        // Centre-tap convolutional stacks go block by block; the callers size the dense J.
        let analyzer: any JacobianSpectrumMeasuring<Scalar> = if let settings = c.lanczos {
            LanczosSpectrumAnalyzer(quadrature: try StochasticLanczosQuadrature(
                stack: stack, steps: settings.steps, probes: settings.probes, seed: c.seed &+ 2, threads: c.threads))
        } else {
            try analyzer(for: stack, c, chooseThreads: chooseThreads, checkingMemory: false)
        }
        let width = analyzer.inputCount
        let images = try c.testImagesFolder.map { folder throws(SpectrumError) in try testImages(folder, count: c.samples) }
        if let images, images.features != width {
            throw .inputShape(shape: images.imageShape, networkInputWidth: width)
        }
        if let images, let folder = c.testImagesFolder {
            do { try stack.checkSamples(shape: images.imageShape, source: folder) } catch { throw .stackSamples(error) }
        }
        var generator = SeededGenerator(seed: c.seed)
        var pixels = Tensor<Scalar>.zeros([1, width])
        var eigenvalues: [[Double]] = []
        let lanczos = analyzer as? LanczosSpectrumAnalyzer<Scalar>
        var estimates: [LanczosSpectrum] = []
        let start = Date()
        var measuredSeconds = 0.0
        for sample in 0 ..< c.samples {
            let input: Tensor<Scalar>
            if let images {
                images.gather([sample], into: &pixels)
                input = pixels.reshaped([width])
            } else {
                input = .randomNormal([width], standardDeviation: Scalar(c.q0.squareRoot()), using: &generator)
            }
            let t0 = Date()
            eigenvalues.append(try analyzer.eigenvalues(at: input))
            measuredSeconds += Date().timeIntervalSince(t0)
            if let estimate = lanczos?.lastSpectrum { estimates.append(estimate) }
            progress?(sample + 1, c.samples)
        }
        let comparison = try SpectrumComparison(
            eigenvalues: eigenvalues, law: nil, model: .bootstrapOverSamples,
            atomTolerance: Scalar.self == Float.self ? 1e-4 : 1e-9, seed: c.seed &+ 1,
            quadratures: lanczos == nil ? nil : estimates)
        let inputs = c.testImagesFolder.map { imagesText(c.samples, $0) } ?? "inputs N(0, q0 = \(compactNumber(c.q0)))"
        var described = c
        described.width = analyzer.outputCount
        described.layers = stack.layerCount
        var report = SpectrumReport(
            configuration: described, subject: "\(subject), at \(inputs)", route: analyzer.route, law: nil,
            theoryNote: "none for this network (a trained or imported layer stack): measured statistics only",
            comparison: comparison, secondsPerSample: measuredSeconds / Double(max(c.samples, 1)),
            totalSeconds: Date().timeIntervalSince(start), eigenvalues: eigenvalues)
        report.quadratures = lanczos == nil ? nil : estimates
        return report
    }

    /// The MLP measurement by stochastic Lanczos quadrature: the network as a stack (its
    /// weights shared, not copied), the same inputs and theory as the dense route.
    static func measureByLanczos<Scalar: BLASScalar>(
        network: MultilayerPerceptron<Scalar>, makeNetwork: () -> MultilayerPerceptron<Scalar>,
        drawInput: (Int) -> Tensor<Scalar>, redraw: Bool,
        settings: LanczosSettings, _ c: SpectrumConfiguration, law: SpectralLaw?, note: String, meanField: MeanFieldSummary?,
        progress: ((Int, Int) -> Void)?
    ) throws(SpectrumError) -> SpectrumReport {
        let width = network.inputWidth
        func analyzer(_ network: MultilayerPerceptron<Scalar>) throws(SpectrumError) -> LanczosSpectrumAnalyzer<Scalar> {
            LanczosSpectrumAnalyzer(quadrature: try StochasticLanczosQuadrature(
                stack: LayerStack(network), steps: min(settings.steps, width), probes: settings.probes, seed: c.seed &+ 2, threads: c.threads))
        }
        var current = try analyzer(network)
        var eigenvalues: [[Double]] = []
        var estimates: [LanczosSpectrum] = []
        let start = Date()
        var measuredSeconds = 0.0
        for sample in 0 ..< c.samples {
            if redraw && sample > 0 { current = try analyzer(makeNetwork()) }
            let input = drawInput(sample)
            let t0 = Date()
            eigenvalues.append(try current.eigenvalues(at: input))
            measuredSeconds += Date().timeIntervalSince(t0)
            if let estimate = current.lastSpectrum { estimates.append(estimate) }
            progress?(sample + 1, c.samples)
        }
        let comparison = try SpectrumComparison(
            eigenvalues: eigenvalues, law: law, model: .bootstrapOverSamples,
            atomTolerance: Scalar.self == Float.self ? 1e-4 : 1e-9, seed: c.seed &+ 1, quadratures: estimates)
        var described = c
        if c.weightsFromFile {
            described.layers = network.layerCount
            described.width = width
        }
        var report = SpectrumReport(
            configuration: described, route: current.route,
            law: law, theoryNote: note, meanField: meanField, comparison: comparison,
            secondsPerSample: measuredSeconds / Double(max(c.samples, 1)),
            totalSeconds: Date().timeIntervalSince(start), eigenvalues: eigenvalues)
        report.quadratures = estimates
        return report
    }
}
