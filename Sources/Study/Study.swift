import Datasets
import Foundation
import IsometrySupport
import Networks
import Spectrum
import TensorAlgebra
import Training

/// Why a study cannot start or a point cannot be computed (a diverging point is not an error:
/// it is recorded with `diverged: true`).
public enum StudyError: Error, Equatable, CustomStringConvertible {
    case invalidGrid(name: String, value: String, expected: String)
    /// The deepest network of the grid would not fit in memory.
    case tooLarge(depth: Int, width: Int, batchSize: Int, estimatedBytes: Double, availableBytes: Double)
    /// Training could not start (batch larger than the data, labels out of range, …).
    case training(TrainingError)
    /// The spectrum at initialisation could not be measured.
    case spectrum(SpectrumError)

    public var description: String {
        switch self {
        case .invalidGrid(let name, let value, let expected): "the grid's \(name) is \(value), expected \(expected)"
        case .tooLarge(let depth, let width, let batch, let bytes, let available):
            String(format: "the grid cannot fit: L = %d × width %d × batch %d needs about %.1f GiB (weights, optimizer state, a batch of activations per layer, the data) but this machine has %.1f GiB",
                   depth, width, batch, bytes / 1_073_741_824, available / 1_073_741_824)
        case .training(let error): error.description
        case .spectrum(let error): error.description
        }
    }
}

/// A study bound to its data: computes grid points one at a time.
///
/// ```swift
/// let data = try ImageDataset(folder: ImageDataset.fashionMNISTFolder)
/// let study = try Study(grid: StudyGrid(depths: [2, 10, 50]), data: data)
/// let results = try (0 ..< study.grid.pointCount).map { try study.run($0) }
/// try study.grid.figure(results).write(to: URL(fileURLWithPath: "study.svg"))
/// ```
public struct Study: Sendable {
    /// The grid, with `data` describing the data it runs on.
    public let grid: StudyGrid
    public let data: ImageDataset
    /// OpenBLAS threads for training and spectra (nil: OpenBLAS's setting).
    public var threads: Int?

    /// Binds `grid` to `data`. Refuses, before any training, a grid that is not valid or whose
    /// deepest network would not fit in memory (80 % of the machine), with the estimate.
    public init(grid: StudyGrid, data: ImageDataset, threads: Int? = nil) throws(StudyError) {
        if let problem = grid.problem { throw problem }
        var grid = grid
        grid.data = StudyData(data, trainLimit: grid.training.trainLimit)
        self.grid = grid
        self.data = data
        self.threads = threads
        let bytes = estimatedBytes
        if !MemoryBudget.allows(bytes) {
            throw .tooLarge(depth: grid.depths.max()!, width: width, batchSize: grid.training.batchSize, estimatedBytes: bytes,
                            availableBytes: Double(MemoryBudget.physicalMemory))
        }
        // After the memory check, which names the whole grid's size (a batch too large for
        // memory is usually also larger than the data).
        do { try grid.training.validate(images: grid.data!.trainImages) } catch { throw .training(error) }
    }

    /// The network width N = features + classes.
    public var width: Int { data.train.features + data.train.classes }

    /// Peak bytes of the deepest point: `TrainingSession.estimatedBytes` (weights, optimizer
    /// state, a batch of activations per layer) plus the dataset and the spectrum's buffers.
    public var estimatedBytes: Double {
        let deepest = ClassifierConfiguration(layers: grid.depths.max() ?? 1, activation: grid.activation)
        let training = grid.training
        let session = switch grid.precision {
        case .float: TrainingSession<Float>.estimatedBytes(model: deepest, training: training, width: width)
        case .double: TrainingSession<Double>.estimatedBytes(model: deepest, training: training, width: width)
        }
        let dataset = Double(data.train.pixels.count + data.test.pixels.count)
        let spectrum = grid.spectrumInputs > 0 ? 3 * Double(width * width) * 8 : 0
        return session + dataset + spectrum
    }

    /// The theory at a point: (α, mean, χ), as `SpectrumTheory` chooses it for the point's
    /// network with N(0, q0) inputs and no bias. The mean of random weights is the finite-depth
    /// ∏ χ_l along the q-map from q0 (`SpectrumTheory.finiteDepthMean`); χ is the limiting gain at q*.
    public func theory(_ point: StudyGrid.Point) -> (unitFraction: Double?, mean: Double, chi: Double?) {
        let q0 = grid.data?.q0 ?? StudyData.q0(data.train)
        let (activation, sigma, depth) = (grid.activation, point.arm.sigma, point.depth)
        let theory = SpectrumTheory(SpectrumConfiguration(
            activation: activation, initialization: point.arm.initialization, layers: depth, sigma: sigma, q0: q0,
            sigmaW: sigma, sigmaB: 0, input: .normal))
        if theory.choice == .identityLaw, let law = theory.law() {
            let fraction = activation == .hardTanh
                ? IdentityLaw.hardTanhActiveFraction(sigma: sigma, q0: q0, layers: depth) : law.tail(1e-3 * law.lambdaMax)
            return (fraction, IdentityLaw.mean(activation: activation, sigma: sigma, q0: q0, layers: depth), nil)
        }
        // The finite-depth prediction ∏ χ_l from the data's q0, not the limiting χ^L: the data
        // start far from q* (issue 23 #2), so the gains of the first layers are not χ.
        let chi = theory.chi ?? .nan
        return (nil, theory.finiteDepthMean ?? pow(chi, Double(depth)), chi)
    }

    /// The seconds still needed for points of depths `pendingDepths`, from the points done so far
    /// (their depths and seconds): a point's time is fitted as a + b·L by least squares (a, b ≥ 0).
    /// nil until two depths are done (unless every point has one depth): one depth cannot tell the
    /// set-up share a from the per-layer cost b, and with a guessed share (the old fixed "L + 3")
    /// a first estimate of 5 min was seen for a 20 min 45 s run (issue 23 #14). 0 when nothing is
    /// pending.
    public static func estimatedSecondsLeft(pendingDepths: [Int], done: [(depth: Int, seconds: Double)]) -> Double? {
        if pendingDepths.isEmpty { return 0 }
        guard !done.isEmpty else { return nil }
        let n = Double(done.count)
        let meanDepth = done.map { Double($0.depth) }.reduce(0, +) / n
        let meanSeconds = done.map(\.seconds).reduce(0, +) / n
        let spread = done.map { (Double($0.depth) - meanDepth) * (Double($0.depth) - meanDepth) }.reduce(0, +)
        if spread == 0 {
            // One depth done: known only if every pending point has that depth too.
            return pendingDepths.allSatisfy({ Double($0) == meanDepth }) ? meanSeconds * Double(pendingDepths.count) : nil
        }
        var slope = done.map { (Double($0.depth) - meanDepth) * ($0.seconds - meanSeconds) }.reduce(0, +) / spread
        var intercept = meanSeconds - slope * meanDepth
        // The least-squares fit under a, b ≥ 0: on the boundary b = 0 (the mean) or a = 0 (the
        // slope through the origin) when the free fit leaves it — load noise, since time neither
        // falls with depth nor is negative at L = 0.
        if slope < 0 {
            (slope, intercept) = (0, meanSeconds)
        } else if intercept < 0 {
            slope = done.map { Double($0.depth) * $0.seconds }.reduce(0, +)
                / done.map { Double($0.depth) * Double($0.depth) }.reduce(0, +)
            intercept = 0
        }
        return pendingDepths.map { intercept + slope * Double($0) }.reduce(0, +)
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
        let session: TrainingSession<Scalar>
        do { session = try TrainingSession<Scalar>(model: grid.model(point), training: grid.training(point, threads: threads), data: data) } catch {
            throw .training(error)
        }
        let (fraction, mean) = try measureSpectrum(session.trainer.classifier.network)
        let theory = theory(point)
        session.onStep = onStep
        var result = StudyResult(index: index, depth: point.depth, initialization: point.arm.initialization, sigma: point.arm.sigma,
                                 seed: point.seed, theoryUnitFraction: theory.unitFraction, theoryMean: theory.mean, chi: theory.chi,
                                 measuredFraction: fraction, measuredMean: mean)
        do {
            if let evaluation = try session.run() {
                result.testAccuracy = evaluation.accuracy
                result.testLoss = evaluation.loss
                result.layerAccuracy = evaluation.layerAccuracies
            }
        } catch .diverged(let divergence) {
            result.diverged = true
            result.divergedAt = "epoch \(divergence.epoch) step \(divergence.step)"
        } catch {
            throw .training(error)
        }
        let history = session.trainer.history
        result.epochTestAccuracy = history.map(\.testAccuracy)
        result.epochTestLoss = history.map(\.testLoss)
        result.epochTrainLoss = history.map(\.trainLoss)
        result.distanceFromIdentity = session.trainer.classifier.distanceFromIdentity()
        result.seconds = Date().timeIntervalSince(start)
        return result
    }

    /// The spectrum of J Jᵀ at initialisation on the first `spectrumInputs` training images:
    /// the fraction of eigenvalues above 1e-3 of each input's λ_max (averaged) and the mean.
    func measureSpectrum<Scalar: BLASScalar>(_ network: MultilayerPerceptron<Scalar>) throws(StudyError) -> (Double?, Double?) {
        let count = min(grid.spectrumInputs, data.train.count)
        guard count > 0 else { return (nil, nil) }
        let analyzer = JacobianSpectrumAnalyzer(network: network, threads: threads)
        var fractions: [Double] = [], total = 0.0, values = 0
        for i in 0 ..< count {
            var input = Tensor<Scalar>.zeros([1, width])
            data.train.gather([i][...], into: &input)
            let eigenvalues: [Double]
            do { eigenvalues = try analyzer.eigenvalues(at: input.reshaped([width])) } catch { throw .spectrum(error) }
            let largest = eigenvalues.max() ?? 0
            fractions.append(largest > 0 ? Double(eigenvalues.filter { $0 > 1e-3 * largest }.count) / Double(eigenvalues.count) : 0)
            total += eigenvalues.reduce(0, +)
            values += eigenvalues.count
        }
        return (fractions.reduce(0, +) / Double(count), total / Double(max(values, 1)))
    }
}
