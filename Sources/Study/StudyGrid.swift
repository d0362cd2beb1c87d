import Datasets
import Foundation
import GridShards
import Networks
import Spectrum
import TensorAlgebra
import Training
import IsometrySupport

/// A grid of trainings: depth L × initialisation (identity at each σ, orthogonal, Gaussian at
/// the mean-field critical σ_w, He) × seed, all with the same training settings.
///
/// Points are numbered depth-major, then by arm (initialisation and scale, `arms`), then seed:
/// point = (depth · arms + arm) · seeds + seed. A point's network and shuffles are seeded by its
/// seed alone, so a point gives the numbers of `train` with the same flags, and the same numbers
/// in a sharded study as in an unsharded one.
public struct StudyGrid: Sendable, Codable, Equatable {
    public var depths: [Int]
    /// σ of identity initialisation (W = σI), one arm each.
    public var sigmas: [Double]
    public var initializations: [Initialization]
    public var seeds: [UInt64]
    public var activation: Activation
    /// σ_w of orthogonal initialisation (W = σ_w·Q).
    public var orthogonalSigma: Double
    /// The run settings of every point; its `seed` is replaced by the point's and `threads` is
    /// not part of the grid (it does not change what is computed).
    public var training: TrainingConfiguration
    public var precision: Precision
    /// Data inputs on which the spectrum of J Jᵀ is measured at initialisation.
    public var spectrumInputs: Int
    /// What the data were (set by `Study`), so that shards of other data do not merge.
    public var data: StudyData?
    /// The CNN of a convolutional study (``ConvolutionalStudy``): depth L is then its number of
    /// convolutions, and the arms are its kernels' initialisations (identity → Dirac,
    /// orthogonal → delta-orthogonal, he → He). Nil: the identity classifier's MLP (``Study``).
    public var convolution: ConvolutionalNetwork?

    public init(depths: [Int] = [2, 5, 10, 20, 50, 100], sigmas: [Double] = [1],
                initializations: [Initialization] = [.identity, .orthogonal, .gaussian, .he], seeds: [UInt64] = [0],
                activation: Activation = .hardTanh, orthogonalSigma: Double = 1,
                training: TrainingConfiguration = TrainingConfiguration(epochs: 1, trainLimit: 10_000),
                precision: Precision = .float, spectrumInputs: Int = 2, convolution: ConvolutionalNetwork? = nil) {
        self.depths = depths
        self.sigmas = sigmas
        self.initializations = initializations
        self.seeds = seeds
        self.activation = activation
        self.orthogonalSigma = orthogonalSigma
        var training = training
        training.seed = 0
        training.threads = nil
        self.training = training
        self.precision = precision
        self.spectrumInputs = spectrumInputs
        self.convolution = convolution
    }

    /// The deepest network a study may ask for (`study --layers`, and the grid line of a file).
    public static let maximumDepth = 10_000

    /// Why this grid cannot run, or nil.
    public var problem: StudyError? {
        func bad(_ name: String, _ value: String, _ expected: String) -> StudyError { .invalidGrid(name: name, value: value, expected: expected) }
        if depths.isEmpty || depths.contains(where: { !(1 ... Self.maximumDepth).contains($0) }) {
            return bad("depths", "\(depths)", "at least one depth, each between 1 and \(Self.maximumDepth)")
        }
        if Set(depths).count != depths.count { return bad("depths", "\(depths)", "no depth twice") }
        if initializations.isEmpty { return bad("initializations", "none", "at least one") }
        if Set(initializations).count != initializations.count {
            return bad("initializations", initializations.map(\.rawValue).joined(separator: ","), "no initialisation twice")
        }
        if initializations.contains(.identity) {
            if sigmas.isEmpty || !sigmas.allSatisfy({ $0.isFinite && $0 > 0 }) { return bad("sigmas", "\(sigmas)", "at least one, each finite and > 0") }
            if Set(sigmas).count != sigmas.count { return bad("sigmas", "\(sigmas)", "no σ twice") }
        }
        if !(orthogonalSigma.isFinite && orthogonalSigma > 0) { return bad("orthogonalSigma", "\(orthogonalSigma)", "finite and > 0") }
        if seeds.isEmpty || Set(seeds).count != seeds.count { return bad("seeds", "\(seeds)", "at least one, no seed twice") }
        if ![.hardTanh, .relu, .tanh].contains(activation) { return bad("activation", activation.rawValue, "hard-tanh, relu or tanh") }
        if spectrumInputs < 0 { return bad("spectrumInputs", "\(spectrumInputs)", "≥ 0") }
        if let convolution {
            if let problem = convolution.problem { return problem }
            if let gaussian = initializations.first(where: { ConvolutionalNetwork.stackInitialization($0) == nil }) {
                return bad("initializations", gaussian.rawValue, "identity (Dirac), orthogonal (delta-orthogonal) or he for a convolutional grid")
            }
        }
        return nil
    }

    /// An arm's name in figures, summaries and progress lines: its ``Arm/description`` for the
    /// MLP, and for a convolutional grid the kernels' initialisation ("Dirac σ = 1",
    /// "delta-orthogonal σ_w = 1", "He (σ_w = √2)").
    public func label(_ arm: Arm) -> String {
        guard convolution != nil else { return arm.description }
        return switch arm.initialization {
        case .identity: "Dirac σ = \(compactNumber(arm.sigma))"
        case .orthogonal: "delta-orthogonal σ_w = \(compactNumber(arm.sigma))"
        case .gaussian, .he: arm.description
        }
    }

    /// One initialisation at one weight scale: a line of the figure.
    public struct Arm: Sendable, Codable, Hashable, CustomStringConvertible {
        public var initialization: Initialization
        /// The weight scale: σ of W = σI, σ_w of orthogonal and Gaussian weights, √2 for He.
        public var sigma: Double

        public var description: String {
            switch initialization {
            case .identity: "identity σ = \(compactNumber(sigma))"
            case .orthogonal: "orthogonal σ_w = \(compactNumber(sigma))"
            case .gaussian: "Gaussian σ_w = \(compactNumber(sigma)) (critical)"
            case .he: "He (σ_w = √2)"
            }
        }
    }

    /// The arms in order: one identity arm per σ, one arm for each random initialisation.
    public var arms: [Arm] {
        initializations.flatMap { initialization -> [Arm] in
            switch initialization {
            case .identity: sigmas.map { Arm(initialization: .identity, sigma: $0) }
            case .orthogonal: [Arm(initialization: .orthogonal, sigma: orthogonalSigma)]
            case .gaussian: [Arm(initialization: .gaussian, sigma: StudyGrid.criticalSigmaW(activation))]
            case .he: [Arm(initialization: .he, sigma: Initialization.he.weightScale(sigma: 1))]
            }
        }
    }

    /// The χ = 1 point of Gaussian weights without bias (σ_b = 0): the fixed point is then
    /// q* → 0, and σ_w² = 1/E[φ'(√q z)²] there (docs/theory.md §2): 1 for hard-tanh and tanh,
    /// √2 for ReLU.
    public static func criticalSigmaW(_ activation: Activation) -> Double {
        MeanField.criticalPoint(activation, fixedPoint: 1e-12).sigmaW2.squareRoot()
    }

    public var pointCount: Int { depths.count * arms.count * seeds.count }

    /// Where a grid point is.
    public struct Point: Sendable, Codable, Equatable {
        public var index: Int
        public var depth: Int
        public var arm: Arm
        public var seed: UInt64
    }

    public func point(_ index: Int) -> Point {
        require((0 ..< pointCount).contains(index), "StudyGrid.point: \(index) is outside the grid of \(pointCount)")
        let arms = arms
        let seed = index % seeds.count, rest = index / seeds.count
        return Point(index: index, depth: depths[rest / arms.count], arm: arms[rest % arms.count], seed: seeds[seed])
    }

    /// The classifier a point trains.
    public func model(_ point: Point) -> ClassifierConfiguration {
        ClassifierConfiguration(layers: point.depth, activation: activation, initialization: point.arm.initialization,
                                sigma: point.arm.initialization.referenceSigma(sigma: point.arm.sigma))
    }

    /// The run settings of a point (its seed; `threads` for OpenBLAS).
    public func training(_ point: Point, threads: Int? = nil) -> TrainingConfiguration {
        var c = training
        c.seed = point.seed
        c.threads = threads
        return c
    }
}

/// What the data of a study were: sizes and q0, the mean squared pixel value (pixels / 255) of
/// the first 1000 training images, the input variance the identity law is evaluated at.
public struct StudyData: Sendable, Codable, Equatable {
    public var trainImages: Int
    public var testImages: Int
    public var features: Int
    public var classes: Int
    public var q0: Double

    public init(_ data: ImageDataset, trainLimit: Int?) {
        trainImages = min(trainLimit ?? data.train.count, data.train.count)
        testImages = data.test.count
        features = data.train.features
        classes = data.train.classes
        q0 = StudyData.q0(data.train)
    }

    /// The data of a convolutional study: samples as the trainer gathers them, q0 the mean
    /// squared feature of the first 1000 training samples.
    public init(train: TensorDataset, test: TensorDataset, trainLimit: Int?) {
        trainImages = min(trainLimit ?? train.count, train.count)
        testImages = test.count
        features = train.featureCount
        classes = train.classes ?? 0
        let moments = StudyData.secondMoments(train)
        q0 = moments.reduce(0, +) / Double(max(moments.count, 1))
    }

    /// E[x²] of every feature over the first `count` samples (all of them when fewer), as the
    /// trainer gathers them (bytes ÷ 255, floats as they are).
    public static func secondMoments(_ data: TensorDataset, count: Int = 1000) -> [Double] {
        let n = min(count, data.count), width = data.featureCount
        guard n > 0 else { return Array(repeating: 0, count: width) }
        var values = [Double](repeating: 0, count: n * width)
        values.withUnsafeMutableBufferPointer { data.gatherFeatures(Array(0 ..< n)[...], into: $0.baseAddress!) }
        var moments = [Double](repeating: 0, count: width)
        for r in 0 ..< n {
            for j in 0 ..< width { moments[j] += values[r * width + j] * values[r * width + j] }
        }
        return moments.map { $0 / Double(n) }
    }

    /// Mean of (pixel / 255)² over the first 1000 images (all of them when fewer).
    public static func q0(_ images: LabeledImages, count: Int = 1000) -> Double {
        let n = min(count, images.count) * images.features
        guard n > 0 else { return 0 }
        var total = 0.0
        for value in images.pixels[0 ..< n] {
            let x = Double(value) / 255
            total += x * x
        }
        return total / Double(n)
    }
}
