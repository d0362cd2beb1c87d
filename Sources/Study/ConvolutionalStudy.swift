import Datasets
import Foundation
import IsometrySupport
import Networks
import Spectrum
import TensorAlgebra
import Training

/// A study of vanilla CNNs bound to its data: depth L (convolutions) × kernel initialisation
/// (Dirac, delta-orthogonal, He) × seed, one grid point at a time, into the same
/// ``StudyResult`` rows, files, figure and summary as the MLP ``Study``.
///
/// A point trains the stack ``ConvolutionalNetwork/architecture(depth:activation:classes:)``
/// describes, initialised by `LayerStack(architecture:inputShape:initialization:sigma:using:)`
/// with the point's seed, with `StackTrainer` (epoch e shuffled by seed + e): the numbers of
/// `train --architecture <string> --init dirac|delta-orthogonal|he [--sigma σ] --seed s` with
/// the same run settings. Samples are taken channels first: a sequence `[L]` as `[1, L]`
/// (`Conv1d`), an image `[H, W]` as `[1, H, W]` (`Conv2d`).
///
/// ```swift
/// // example: compile only
/// let train = try TensorDataset(npyFeatures: URL(fileURLWithPath: "data/mnist1d/x_train.npy"),
///                               labels: URL(fileURLWithPath: "data/mnist1d/y_train.npy"))
/// let test = try TensorDataset(npyFeatures: URL(fileURLWithPath: "data/mnist1d/x_test.npy"),
///                              labels: URL(fileURLWithPath: "data/mnist1d/y_test.npy"))
/// let grid = StudyGrid(depths: [2, 100], initializations: [.identity, .orthogonal, .he],
///                      training: TrainingConfiguration(epochs: 10), convolution: ConvolutionalNetwork(channels: 16))
/// let study = try ConvolutionalStudy(grid: grid, train: train, test: test)
/// let results = try (0 ..< study.grid.pointCount).map { try study.run($0) }
/// ```
public struct ConvolutionalStudy: Sendable {
    /// The grid, with `data` describing the data it runs on.
    public let grid: StudyGrid
    public let network: ConvolutionalNetwork
    public let train: TensorDataset
    public let test: TensorDataset
    /// OpenBLAS threads for training and spectra (nil: OpenBLAS's setting).
    public var threads: Int?

    /// Binds a convolutional `grid` to its data. Refuses, before any training, a grid that is
    /// not valid or not convolutional, data without labels, and a grid whose deepest network
    /// would not fit in memory (80 % of the machine), with the estimate.
    public init(grid: StudyGrid, train: TensorDataset, test: TensorDataset, threads: Int? = nil) throws(StudyError) {
        if let problem = grid.problem { throw problem }
        guard let network = grid.convolution else {
            throw .invalidGrid(name: "convolution", value: "none", expected: "a ConvolutionalNetwork (an MLP grid runs with Study)")
        }
        guard train.classes != nil, test.classes != nil else {
            throw .invalidGrid(name: "data", value: "float targets", expected: "class labels")
        }
        var grid = grid
        let limited = grid.training.trainLimit.map { train.prefix($0) } ?? train
        grid.data = StudyData(train: limited, test: test, trainLimit: nil)
        self.grid = grid
        self.network = network
        self.train = limited
        self.test = test
        self.threads = threads
        let inputShape = self.inputShape
        guard inputShape.count == 2 || inputShape.count == 3 else {
            throw .invalidGrid(name: "data", value: "samples of shape \(train.sampleShape)", expected: "sequences [L] or images [H, W] (or [C, L], [C, H, W])")
        }
        let bytes = estimatedBytes
        if !MemoryBudget.allows(bytes) {
            throw .tooLarge(depth: grid.depths.max()!, width: network.channels * positions, batchSize: grid.training.batchSize,
                            estimatedBytes: bytes, availableBytes: Double(MemoryBudget.physicalMemory))
        }
        do { try grid.training.validate(images: limited.count) } catch { throw .training(error) }
    }

    /// A sample as the stack takes it, channels first.
    public var inputShape: [Int] { train.sampleShape.count <= 2 ? [1] + train.sampleShape : train.sampleShape }
    var inputChannels: Int { inputShape[0] }
    var positions: Int { inputShape.dropFirst().reduce(1, *) }
    var classes: Int { max(train.classes ?? 0, test.classes ?? 0) }

    /// The architecture string of a point's network.
    public func architecture(_ point: StudyGrid.Point) -> String {
        network.architecture(depth: point.depth, activation: grid.activation, classes: classes)
    }

    /// A point's network at initialisation, drawn from its seed: every layer by the arm's
    /// ``ConvolutionalNetwork/stackInitialization(_:)``, except in the Dirac arm, whose layers
    /// that change the channel count (the lifting convolution, the head) are drawn
    /// delta-orthogonal at the same σ after the Dirac ones (``ConvolutionalNetwork/liftedLayers(depth:inputChannels:)``).
    public func stack<Scalar: BLASScalar>(_ point: StudyGrid.Point) -> LayerStack<Scalar> {
        var generator = SeededGenerator(seed: point.seed)
        // The grid's kernels are odd and its scales positive, so this cannot fail.
        guard let initialization = ConvolutionalNetwork.stackInitialization(point.arm.initialization),
              var stack = try? LayerStack<Scalar>(architecture: architecture(point), inputShape: inputShape, initialization: initialization,
                                                 sigma: point.arm.sigma, using: &generator)
        else { fatalError("ConvolutionalStudy: point \(point.index) does not build (\(architecture(point)))") }
        if initialization == .dirac {
            let lifted = network.liftedLayers(depth: point.depth, inputChannels: inputChannels)
            do { try stack.initialize(.deltaOrthogonal, sigma: point.arm.sigma, only: lifted, using: &generator) } catch {
                fatalError("ConvolutionalStudy: point \(point.index): \(error)")
            }
        }
        return stack
    }

    /// Peak bytes of the deepest point: a training batch's activations, patterns and
    /// cotangents, the evaluation's (1000 samples: activations and patterns), the spectrum's
    /// tangents (one per input scalar), the weights four times (weights, gradients, two
    /// optimizer moments), and the data.
    public var estimatedBytes: Double {
        let depth = Double(grid.depths.max() ?? 1)
        let scalar: Double = grid.precision == .float ? 4 : 8
        let perSample = 2 * depth * Double(network.channels * positions)     // convolutions and activations
        let batch = Double(grid.training.batchSize)
        let evaluation = Double(min(1000, test.count))
        let spectrum = grid.spectrumInputs > 0 ? Double(inputChannels * positions) : 0
        let weights = depth * Double(network.channels * network.channels) * pow(Double(network.kernel), Double(inputShape.count - 1))
            + Double(network.channels * positions * classes)
        let data = Double((train.count + test.count) * train.featureCount) * 8
        return scalar * (3 * batch * perSample + 2 * evaluation * perSample + 2 * spectrum * perSample + 4 * weights) + data
    }

    /// The theory at a point: (α, mean, χ) for the input-side spectrum of JᵀJ of the point's
    /// convolutions and activations at initialisation (the head left out), at the samples the
    /// spectrum is measured at (the first `spectrumInputs` training samples; the first 100 when
    /// none is measured), each sample's own E[x_p²] at each position, averaged over samples and
    /// positions (docs/theory.md §5):
    ///
    /// * Dirac: after the delta-orthogonal lifting x_p ↦ σ h x_p (h a unit column), channel c of
    ///   position p is the identity MLP's scalar chain (§1) of u = h_c x_p, with gain g(u) =
    ///   ∏_l σφ′(h^l). With one input channel J's column at p is (h_c g(h_c x_p))_c, so its
    ///   eigenvalue is Σ_c h_c² g(h_c x_p)², and with h_c ≈ w/√C, w ~ N(0, 1): the mean is
    ///   E[w² g(w x_p/√C)²] (by quadrature; large units weigh more and saturate first), the
    ///   share above 0 is 1 − (1 − α_p)^C, α_p = P(g(w x_p/√C) ≠ 0). With as many input channels
    ///   as C (no lifting) it is §1's identity law at E[x_p²], unweighted. No χ.
    /// * delta-orthogonal: the dense orthogonal network's mean field at every position (the
    ///   centre tap alone is non-zero): ∏ χ_l from q¹ = σ_w² E[x_p²]·in/C.
    /// * He: the convolutional mean field by position (``ConvolutionalMeanField``): away from the
    ///   borders (C/in)·∏ χ_l of the dense He network, less where windows reach into the zero
    ///   padding.
    ///
    /// χ is the dense network's at the fixed point reached from the data's q0. The mean field
    /// takes the tangent independent of the signal; with one input channel both start along h,
    /// so the largest units carry the most tangent and saturate first: the mean field is an
    /// upper bound there, as the Dirac formula shows.
    public func theory(_ point: StudyGrid.Point) -> (unitFraction: Double?, mean: Double, chi: Double?) {
        let (activation, sigma, depth) = (grid.activation, point.arm.sigma, point.depth)
        let q0 = grid.data?.q0 ?? 0
        let samples = theoryMoments
        let lifting = min(1, Double(inputChannels) / Double(network.channels))
        switch point.arm.initialization {
        case .identity:
            var mean = 0.0, fraction = 0.0
            for moments in samples {
                for m in moments {
                    if inputChannels == 1 && network.channels > 1 {
                        let (weighted, passing) = Self.liftedDiracGain(activation: activation, sigma: sigma, layers: depth,
                                                                       scale: (m / Double(network.channels)).squareRoot())
                        mean += weighted
                        fraction += 1 - pow(1 - passing, Double(network.channels))
                    } else {
                        let q = max(m * lifting, 1e-12)
                        mean += IdentityLaw.mean(activation: activation, sigma: sigma, q0: q, layers: depth)
                        let law = IdentityLaw.law(activation: activation, sigma: sigma, q0: q, layers: depth)
                        fraction += law.lambdaMax > 0 ? law.tail(1e-3 * law.lambdaMax) : 0
                    }
                }
            }
            let count = Double(samples.count * positions)
            return (fraction / count, mean / count, nil)
        case .orthogonal, .he, .gaussian:
            let kernels: ConvolutionalMeanField.Kernels = point.arm.initialization == .orthogonal
                ? .deltaOrthogonal(sigma: sigma) : .gaussian(sigmaW: sigma)
            let field = ConvolutionalMeanField(kernels: kernels, activation: activation, inputChannels: inputChannels,
                                               channels: network.channels, kernel: network.kernel, positions: Array(inputShape.dropFirst()))
            let mean = samples.map { field.meanEigenvalue(secondMoments: $0, layers: depth) }.reduce(0, +) / Double(samples.count)
            // χ at the dense network's fixed point, reached from the first layer's q¹ (a
            // delta-orthogonal lifting spreads the input's norm over C channels; He's fan-in does not).
            let dense = MeanField(activation: activation, sigmaW: sigma, sigmaB: 0)
            let chi = dense.chi(at: dense.fixedPoint(from: sigma * sigma * q0 * (point.arm.initialization == .orthogonal ? lifting : 1)))
            return (nil, mean, chi)
        }
    }

    /// E[w² g(w·scale)²] and P(g(w·scale) ≠ 0) for w ~ N(0, 1), g the identity chain's gain
    /// (``IdentityLaw/gain(_:activation:sigma:layers:)``), by the midpoint rule on w ∈ [−8, 8]
    /// (2,001 nodes: the truncated mass is below 1e-14; hard-tanh's jumps cost about 1e-3).
    static func liftedDiracGain(activation: Activation, sigma: Double, layers: Int, scale: Double) -> (weighted: Double, passing: Double) {
        let nodes = 2001, width = 16.0 / Double(nodes)
        var weighted = 0.0, passing = 0.0, total = 0.0
        for k in 0 ..< nodes {
            let w = -8 + (Double(k) + 0.5) * width
            let density = exp(-w * w / 2)
            let g = IdentityLaw.gain(w * scale, activation: activation, sigma: sigma, layers: layers)
            weighted += density * w * w * g * g
            if g != 0 { passing += density }
            total += density
        }
        return (weighted / total, passing / total)
    }

    /// E[x_p²] (the mean over input channels) at every position of each theory sample.
    var theoryMoments: [[Double]] {
        let count = min(grid.spectrumInputs > 0 ? grid.spectrumInputs : 100, train.count)
        let width = train.featureCount
        var values = [Double](repeating: 0, count: count * width)
        values.withUnsafeMutableBufferPointer { train.gatherFeatures(Array(0 ..< count)[...], into: $0.baseAddress!) }
        return (0 ..< count).map { r in
            (0 ..< positions).map { p in
                (0 ..< inputChannels).reduce(0) { $0 + values[r * width + $1 * positions + p] * values[r * width + $1 * positions + p] }
                    / Double(inputChannels)
            }
        }
    }

    /// Trains and measures point `index`. A NaN or infinite loss or weight stops the point and is
    /// recorded (`diverged`), not thrown. `onStep` sees every training step.
    public func run(_ index: Int, onStep: ((StepEvent) -> Void)? = nil) throws(StudyError) -> StudyResult {
        switch grid.precision {
        case .float: try run(index, as: Float.self, onStep: onStep)
        case .double: try run(index, as: Double.self, onStep: onStep)
        }
    }

    func run<Scalar: BLASScalar>(_ index: Int, as _: Scalar.Type, onStep: ((StepEvent) -> Void)?) throws(StudyError) -> StudyResult {
        let start = Date()
        let point = grid.point(index)
        let initial: LayerStack<Scalar> = stack(point)
        let (fraction, mean) = try measureSpectrum(initial, depth: point.depth)
        let theory = theory(point)
        var result = StudyResult(index: index, depth: point.depth, initialization: point.arm.initialization, sigma: point.arm.sigma,
                                 seed: point.seed, theoryUnitFraction: theory.unitFraction, theoryMean: theory.mean, chi: theory.chi,
                                 measuredFraction: fraction, measuredMean: mean)
        let c = grid.training(point, threads: threads)
        let rate: Schedule = c.schedule == .cosine
            ? .cosine(c.learningRate, steps: train.count / c.batchSize * c.epochs) : .constant(c.learningRate)
        let optimizer: any Optimizer<Scalar> = switch c.optimizer {
        case .sgd(let momentum, let weightDecay): SGD(learningRate: rate, momentum: momentum, weightDecay: weightDecay)
        case .adam(let beta1, let beta2, let epsilon, let weightDecay):
            Adam(learningRate: rate, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay)
        }
        let trainer: StackTrainer<Scalar>
        do { trainer = try StackTrainer(stack: initial, optimizer: optimizer, batchSize: c.batchSize, epochs: c.epochs, seed: c.seed, threads: threads) } catch {
            throw .training(error)
        }
        trainer.onStep = onStep.map { report in { event, _ in report(event) } }
        do {
            try trainer.train(train, test: test)
            if let last = trainer.history.last {
                result.testAccuracy = last.testAccuracy
                result.testLoss = last.testLoss
            }
        } catch .diverged(let divergence) {
            result.diverged = true
            result.divergedAt = "epoch \(divergence.epoch) step \(divergence.step)"
        } catch {
            throw .training(error)
        }
        result.epochTestAccuracy = trainer.history.compactMap(\.testAccuracy)
        result.epochTestLoss = trainer.history.compactMap(\.testLoss)
        result.epochTrainLoss = trainer.history.map(\.trainLoss)
        result.distanceFromIdentity = Self.distances(from: initial, to: trainer.stack)
        result.seconds = Date().timeIntervalSince(start)
        return result
    }

    /// ‖W − W₀‖_F / ‖W₀‖_F of every convolution: how far training moved each kernel from its
    /// initialisation (from σ·δ for Dirac, which is the MLP's distance from σI).
    static func distances<Scalar>(from initial: LayerStack<Scalar>, to trained: LayerStack<Scalar>) -> [Double] {
        zip(initial.layers, trained.layers).compactMap { before, after -> Double? in
            guard before.layerDescription.kind.hasPrefix("conv") else { return nil }
            let (w0, w) = (before.parameters[0].scalars, after.parameters[0].scalars)
            var difference = 0.0, reference = 0.0
            for i in w0.indices {
                let d = Double(w[i]) - Double(w0[i])
                difference += d * d
                reference += Double(w0[i]) * Double(w0[i])
            }
            return (difference / reference).squareRoot()
        }
    }

    /// The input-side spectrum of JᵀJ at initialisation, J the Jacobian of the convolutions and
    /// their activations (the head left out) at each of the first `spectrumInputs` training
    /// samples: the fraction of its eigenvalues above 1e-3 of λ_max (averaged over samples) and
    /// their mean, tr(JᵀJ)/n over the n input scalars.
    func measureSpectrum<Scalar: BLASScalar>(_ stack: LayerStack<Scalar>, depth: Int) throws(StudyError) -> (Double?, Double?) {
        let count = min(grid.spectrumInputs, train.count)
        guard count > 0 else { return (nil, nil) }
        let trunk = LayerStack<Scalar>(inputShape: inputShape, layers: Array(stack.layers.prefix(2 * depth)))
        let analyzer = LayerStackSpectrumAnalyzer(stack: trunk, threads: threads)
        // JᵀJ has n eigenvalues over the input's n scalars: the min(n, m) squared singular
        // values of J (m outputs) and n − m zeros when the trunk narrows.
        let n = trunk.inputShape.reduce(1, *), m = trunk.outputShape.reduce(1, *)
        var fractions: [Double] = [], total = 0.0
        for i in 0 ..< count {
            var input = Tensor<Scalar>.zeros(inputShape)
            input.withUnsafeMutableBufferPointer { train.gatherFeatures([i][...], into: $0.baseAddress!) }
            let eigenvalues: [Double]
            do { eigenvalues = Array(try analyzer.eigenvalues(at: input).prefix(min(n, m))) + Array(repeating: 0, count: max(n - m, 0)) } catch {
                throw .spectrum(error)
            }
            let largest = eigenvalues.max() ?? 0
            fractions.append(largest > 0 ? Double(eigenvalues.filter { $0 > 1e-3 * largest }.count) / Double(n) : 0)
            total += eigenvalues.reduce(0, +)
        }
        return (fractions.reduce(0, +) / Double(count), total / Double(count * n))
    }
}
