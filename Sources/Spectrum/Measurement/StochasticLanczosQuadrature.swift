import Networks
@_spi(RawBLAS) import TensorAlgebra
import IsometrySupport

/// The spectral density of J Jᵀ of a ``LayerStack`` at one input by stochastic Lanczos
/// quadrature (SLQ), matrix-free, for networks past the dense analyzers' reach.
///
/// How (docs/theory.md §7): the exactly known zero eigenvalues are set aside first — the
/// output units switched off by a closing activation (their rows of J vanish) and the rank
/// deficit of the active subnetwork (``JacobianOperator/rankBound``). On the remaining
/// `s`-dimensional space (the active outputs, or the inputs when J has fewer columns than
/// rows, where Jᵀ J has the same non-zero eigenvalues) `probes` Lanczos recurrences run side by
/// side from random unit vectors, each step one block product J(Jᵀ Q) through the stack's
/// batched `vjp`/`jvp` (the weights read twice per step for all probes together). Full
/// reorthogonalisation (twice, in float64) keeps the recurrences free of ghost Ritz values.
/// Each probe's tridiagonal T gives a Gauss quadrature — its eigenvalues are the nodes, the
/// squared first components of its eigenvectors the weights — of the probe's spectral
/// measure, whose expectation over probes is the spectral measure of the operator; the result
/// averages the probes, then removes the known rank-deficit mass from the bottom and puts all
/// known zeros back as one atom at λ = 0.
///
/// The products run in the stack's precision (float32 stacks: weights held once, in float32);
/// the recurrences, the reorthogonalisation and the quadrature in float64. Buffers are
/// allocated once per call to ``spectrum(at:)``, none per Lanczos step.
public final class StochasticLanczosQuadrature<Scalar: BLASScalar> {
    public let stack: LayerStack<Scalar>
    /// Lanczos steps per probe (the quadrature's nodes per probe).
    public let steps: Int
    /// Random starting vectors, run side by side as one block.
    public let probes: Int
    /// Seed of the probe vectors (Rademacher, normalised).
    public let seed: UInt64
    /// OpenBLAS threads; nil leaves the process-wide setting alone.
    public var threads: Int?
    /// Cut every product of the active subnetwork into this many slices run at once on as many
    /// cores, each with single-threaded BLAS (``JacobianOperator/parallelSlices``); 1 (default):
    /// one BLAS call per product with `threads`. Same numbers either way up to the order of
    /// BLAS's sums.
    public var parallelSlices = 1
    /// Whether a float32 active subnetwork's products stream the weights through the CPU's
    /// kernels (``JacobianOperator/usesStreamingProducts``) rather than BLAS; nil (default):
    /// where the kernels are the faster route, in optimised builds.
    public var streamsWeights: Bool?

    /// Scalars in one input and one output of the stack.
    public var inputCount: Int { stack.inputShape.reduce(1, *) }
    public var outputCount: Int { stack.outputShape.reduce(1, *) }

    /// Throws `SpectrumError.invalidConfiguration` for steps or probes below 1, or more steps
    /// than the operator has dimensions (min of the stack's input and output counts): the
    /// Krylov space of J Jᵀ cannot be larger.
    public init(stack: LayerStack<Scalar>, steps: Int = 40, probes: Int = 16, seed: UInt64 = 0, threads: Int? = nil) throws(SpectrumError) {
        let dimension = min(stack.inputShape.reduce(1, *), stack.outputShape.reduce(1, *))
        guard steps >= 1 else { throw .invalidConfiguration(field: "steps", value: "\(steps)", expected: "at least 1") }
        guard probes >= 1 else { throw .invalidConfiguration(field: "probes", value: "\(probes)", expected: "at least 1") }
        guard steps <= dimension else {
            throw .invalidConfiguration(field: "steps", value: "\(steps)", expected: "at most \(dimension), the dimension of J Jᵀ's smaller side")
        }
        if let threads { require(threads >= 1, "StochasticLanczosQuadrature: threads must be at least 1, got \(threads)") }
        self.stack = stack
        self.steps = steps
        self.probes = probes
        self.seed = seed
        self.threads = threads
    }

    /// Bytes ``spectrum(at:)`` allocates beyond the stack's weights for a stack whose layers
    /// have `layerScalars` scalars per sample each (input first): the Lanczos basis (float64),
    /// the operator's forward pass and its two blocks per layer, the product buffers.
    public static func estimatedBytes(layerScalars: [Int], steps: Int, probes: Int) -> Double {
        let inputs = Double(layerScalars.first ?? 0), outputs = Double(layerScalars.last ?? 0)
        let side = min(inputs, outputs)
        let basis = Double(steps + 2) * Double(probes) * side * 8
        let perLayer = layerScalars.reduce(0.0) { $0 + Double($1) } * Double(MemoryLayout<Scalar>.stride) * Double(2 * probes + 2)
        let blocks = Double(probes) * (inputs + outputs) * Double(MemoryLayout<Scalar>.stride) * 2
        return basis + perLayer + blocks
    }

    /// The SLQ estimate of the spectrum of J Jᵀ at `input`.
    ///
    /// Throws as ``JacobianOperator/init(stack:at:blockSize:)`` does, and
    /// `SpectrumError.jacobianOverflows` when a product overflows.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func spectrum(at input: Tensor<Scalar>) throws(SpectrumError) -> LanczosSpectrum {
        if parallelSlices > 1 {
            return try OpenBLAS.withThreads(1) { () throws(SpectrumError) -> LanczosSpectrum in try run(input) }
        }
        guard let threads else { return try run(input) }
        return try OpenBLAS.withThreads(threads) { () throws(SpectrumError) -> LanczosSpectrum in try run(input) }
    }

    private func run(_ input: Tensor<Scalar>) throws(SpectrumError) -> LanczosSpectrum {
        let k = probes
        let op = try JacobianOperator(stack: stack, at: input, blockSize: k, streamsWeights: streamsWeights)
        op.parallelSlices = parallelSlices
        op.streamingThreads = max(parallelSlices, OpenBLAS.threads)
        let (n, m) = (op.inputCount, op.outputCount)
        // The side the recurrence runs on: the active outputs of J Jᵀ (m ≤ n), else the inputs
        // of Jᵀ J, whose non-zero eigenvalues are the same.
        let outputSide = m <= n
        let coordinates = outputSide ? op.activeOutputs : Array(0 ..< n)
        let s = coordinates.count
        let rank = min(op.rankBound, s)
        let zeroCount = m - rank
        guard rank > 0 else {
            return LanczosSpectrum(dimension: m, zeroCount: m, subspaceDimension: s, quadratures: [], steps: steps, probes: k)
        }
        let stepCount = min(steps, s)

        // basis[j][p * s + i]: Lanczos vector j of probe p.
        var basis = [[Double]](repeating: [Double](repeating: 0, count: k * s), count: stepCount + 1)
        var w = [Double](repeating: 0, count: k * s)
        var outputBlock = Tensor<Scalar>.zeros([k, m])
        var inputBlock = Tensor<Scalar>.zeros([k, n])
        var alphas = [[Double]](repeating: [], count: k)
        var betas = [[Double]](repeating: [], count: k)
        var running = [Bool](repeating: true, count: k)
        // β after each probe's last step: the Ritz residuals' scale (0 when the Krylov space ran out).
        var lastBetas = [Double](repeating: 0, count: k)

        var generator = SeededGenerator(seed: seed)
        let scale = 1 / Double(s).squareRoot()
        for p in 0 ..< k {
            for i in 0 ..< s { basis[0][p * s + i] = generator.next() & 1 == 0 ? scale : -scale }
        }
        // Relative size below which a new Lanczos vector is rounding: the Krylov space is exhausted.
        let breakdown = 64 * Double(Scalar.ulpOfOne)

        for j in 0 ..< stepCount {
            // w ← A q_j for every probe, A = J Jᵀ on the active outputs or Jᵀ J on the inputs.
            let q = basis[j]
            if outputSide {
                Self.scatter(q, coordinates, rows: k, into: &outputBlock)
                op.applyTransposed(outputBlock, into: &inputBlock)
                op.apply(inputBlock, into: &outputBlock)
                let overflowing = Self.gather(outputBlock, coordinates, rows: k, into: &w)
                if overflowing > 0 { throw .jacobianOverflows(layers: stack.layerCount, count: overflowing) }
            } else {
                Self.scatter(q, coordinates, rows: k, into: &inputBlock)
                op.apply(inputBlock, into: &outputBlock)
                op.applyTransposed(outputBlock, into: &inputBlock)
                let overflowing = Self.gather(inputBlock, coordinates, rows: k, into: &w)
                if overflowing > 0 { throw .jacobianOverflows(layers: stack.layerCount, count: overflowing) }
            }
            for p in 0 ..< k where running[p] {
                let base = p * s
                let alpha = Self.dot(q, w, base, s)
                alphas[p].append(alpha)
                let previous = j > 0 ? betas[p][j - 1] : 0
                for i in 0 ..< s {
                    w[base + i] -= alpha * q[base + i] + (j > 0 ? previous * basis[j - 1][base + i] : 0)
                }
                // Full reorthogonalisation, twice ("twice is enough", Parlett): with float32
                // products the three-term recurrence alone loses orthogonality within a few
                // dozen steps and repeats converged Ritz values with spurious weight.
                for _ in 0 ..< 2 {
                    for i in 0 ... j {
                        let c = Self.dot(basis[i], w, base, s)
                        basis[i].withUnsafeBufferPointer { v in
                            w.withUnsafeMutableBufferPointer { x in
                                for t in base ..< base + s { x[t] -= c * v[t] }
                            }
                        }
                    }
                }
                let beta = Self.dot(w, w, base, s).squareRoot()
                let size = max(alphas[p].map(abs).max() ?? 0, betas[p].max() ?? 0)
                if j == stepCount - 1 || !(beta > breakdown * size) {
                    if beta > breakdown * size { lastBetas[p] = beta }
                    running[p] = false
                    continue
                }
                betas[p].append(beta)
                let next = 1 / beta
                for i in 0 ..< s { basis[j + 1][base + i] = w[base + i] * next }
            }
            if !running.contains(true) { break }
        }

        var quadratures: [GaussQuadrature] = []
        for p in 0 ..< k {
            let t = alphas[p].count
            var tridiagonal = Tensor<Double>.zeros([t, t])
            tridiagonal.withUnsafeMutableBufferPointer { e in
                for i in 0 ..< t {
                    e[i * t + i] = alphas[p][i]
                    if i + 1 < t {
                        e[i * t + i + 1] = betas[p][i]
                        e[(i + 1) * t + i] = betas[p][i]
                    }
                }
            }
            let decomposition: (values: Tensor<Double>, vectors: Tensor<Double>)
            do { decomposition = try eigh(tridiagonal) } catch {
                throw .singularValueDecomposition(routine: "dsyevd", info: -1)
            }
            let values = decomposition.values.scalars
            let vectors = decomposition.vectors.scalars
            // J Jᵀ is positive semi-definite: a node below zero is rounding. The top Ritz pair's
            // residual ‖A y − θ y‖ = β_t |e_tᵀ y| bounds its distance to an eigenvalue.
            quadratures.append(GaussQuadrature(
                nodes: values.map { max(0, $0) }, weights: (0 ..< t).map { vectors[$0] * vectors[$0] },
                topResidual: lastBetas[p] * abs(vectors[(t - 1) * t + t - 1])))
        }
        return LanczosSpectrum(dimension: m, zeroCount: zeroCount, subspaceDimension: s, quadratures: quadratures, steps: stepCount, probes: k)
    }

    private static func dot(_ a: [Double], _ b: [Double], _ base: Int, _ count: Int) -> Double {
        a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in
                var sum = 0.0
                for i in base ..< base + count { sum += x[i] * y[i] }
                return sum
            }
        }
    }

    /// Rows of `vectors` (k × s) into the coordinates `coordinates` of `block`'s rows (k × d), zeros elsewhere.
    private static func scatter(_ vectors: [Double], _ coordinates: [Int], rows: Int, into block: inout Tensor<Scalar>) {
        let s = coordinates.count
        let width = block.shape[1]
        block.withUnsafeMutableBufferPointer { b in
            for r in 0 ..< rows {
                let row = b.baseAddress! + r * width
                row.update(repeating: 0, count: width)
                for (i, c) in coordinates.enumerated() { row[c] = Scalar(vectors[r * s + i]) }
            }
        }
    }

    /// The coordinates `coordinates` of `block`'s rows into `vectors` (k × s); returns how many are not finite.
    private static func gather(_ block: Tensor<Scalar>, _ coordinates: [Int], rows: Int, into vectors: inout [Double]) -> Int {
        let s = coordinates.count
        let width = block.shape[1]
        var nonFinite = 0
        block.withUnsafeBufferPointer { b in
            for r in 0 ..< rows {
                for (i, c) in coordinates.enumerated() {
                    let value = b[r * width + c]
                    if !value.isFinite { nonFinite += 1 }
                    vectors[r * s + i] = Double(value)
                }
            }
        }
        return nonFinite
    }
}

/// One probe's Gauss quadrature of its spectral measure: nodes (the Ritz values, ascending)
/// and weights (summing to 1).
public struct GaussQuadrature: Equatable, Codable, Sendable {
    public var nodes: [Double]
    public var weights: [Double]
    /// ‖A y − θ y‖ of the largest node θ and its Ritz vector y: some eigenvalue lies within it
    /// of θ (0 when the probe's Krylov space was exhausted; nil when not recorded).
    public var topResidual: Double?
    public init(nodes: [Double], weights: [Double], topResidual: Double? = nil) {
        self.nodes = nodes
        self.weights = weights
        self.topResidual = topResidual
    }
}

/// The spectrum of J Jᵀ (`dimension` eigenvalues) as SLQ estimates it: an exact atom of
/// `zeroCount` eigenvalues at 0 and the non-zero part as the probes' averaged quadrature.
public struct LanczosSpectrum: Equatable, Codable, Sendable {
    /// Eigenvalues of J Jᵀ: the stack's output count.
    public let dimension: Int
    /// The exactly known zero eigenvalues (switched-off outputs and the rank deficit).
    public let zeroCount: Int
    /// The dimension the recurrences ran on (active outputs, or the inputs).
    public let subspaceDimension: Int
    /// Each probe's quadrature on that subspace (its measure includes the rank-deficit zeros).
    public let quadratures: [GaussQuadrature]
    /// Lanczos steps asked (per probe; a probe stops early when its Krylov space is exhausted).
    public let steps: Int
    public let probes: Int
    /// The non-zero part: nodes ascending, weights summing to 1.
    public let nonZeroNodes: [Double]
    public let nonZeroWeights: [Double]

    /// Wasserstein-1 (∫|F̂ − F| dλ) and Kolmogorov–Smirnov (sup |F̂ − F|) distances between the
    /// estimate's non-zero part and the empirical measure of `eigenvalues` (the dense route's
    /// non-zero eigenvalues of the same J, say), both exact over the merged breakpoints of the two
    /// step functions.
    public func distances(toEigenvalues eigenvalues: [Double]) -> (wasserstein1: Double, kolmogorovSmirnov: Double) {
        var points = eigenvalues.map { ($0, 1 / Double(eigenvalues.count), 0.0) } + zip(nonZeroNodes, nonZeroWeights).map { ($0, 0.0, $1) }
        points.sort { $0.0 < $1.0 }
        var (f, g, w1, ks) = (0.0, 0.0, 0.0, 0.0)
        for (index, (x, exact, estimated)) in points.enumerated() {
            f += exact
            g += estimated
            if index + 1 < points.count { w1 += abs(f - g) * (points[index + 1].0 - x) }
            if index + 1 == points.count || points[index + 1].0 != x { ks = max(ks, abs(f - g)) }
        }
        return (w1, ks)
    }

    public init(dimension: Int, zeroCount: Int, subspaceDimension: Int, quadratures: [GaussQuadrature], steps: Int, probes: Int) {
        self.dimension = dimension
        self.zeroCount = zeroCount
        self.subspaceDimension = subspaceDimension
        self.quadratures = quadratures
        self.steps = steps
        self.probes = probes
        var merged: [(node: Double, weight: Double)] = []
        let share = 1 / Double(max(1, quadratures.count))
        for q in quadratures {
            for (node, weight) in zip(q.nodes, q.weights) { merged.append((node, weight * share)) }
        }
        merged.sort { $0.node < $1.node }
        // The rank-deficit zeros lie in the subspace the probes sample: their expected share,
        // (s − rank)/s, is taken off the bottom of the averaged measure, which the lowest
        // Ritz values carry (docs/theory.md §7).
        let rank = dimension - zeroCount
        var remove = subspaceDimension > 0 ? Double(subspaceDimension - rank) / Double(subspaceDimension) : 0
        let kept = 1 - remove
        var nodes: [Double] = [], weights: [Double] = []
        for (node, weight) in merged {
            let taken = min(weight, remove)
            remove -= taken
            if weight - taken > 0 {
                nodes.append(node)
                weights.append((weight - taken) / kept)
            }
        }
        nonZeroNodes = nodes
        nonZeroWeights = weights
    }

    /// The fraction of the non-zero eigenvalues: 1 − zeroCount/dimension.
    public var nonZeroFraction: Double { Double(dimension - zeroCount) / Double(max(1, dimension)) }

    /// λ_max: the largest Ritz value over the probes (a lower bound that converges first).
    public var largestEigenvalue: Double { quadratures.map { $0.nodes.last ?? 0 }.max() ?? 0 }

    /// The mean of λᵖ over all `dimension` eigenvalues (the zeros included): tr((J Jᵀ)ᵖ)/m.
    /// Gauss quadrature with t nodes is exact for polynomials of degree 2t − 1, so for
    /// p < 2·steps the only error is the probes' sampling error.
    public func moment(_ p: Int) -> Double {
        if p == 0 { return 1 }
        var sum = 0.0
        for (node, weight) in zip(nonZeroNodes, nonZeroWeights) {
            var power = 1.0
            for _ in 0 ..< p { power *= node }
            sum += weight * power
        }
        return nonZeroFraction * sum
    }

    /// The fraction of all `dimension` eigenvalues at most `lambda` (the zeros included).
    public func cumulativeFraction(atMost lambda: Double) -> Double {
        guard lambda >= 0 else { return 0 }
        let atom = 1 - nonZeroFraction
        return atom + nonZeroFraction * nonZeroCumulativeFraction(atMost: lambda)
    }

    /// The fraction of the non-zero eigenvalues at most `lambda`.
    public func nonZeroCumulativeFraction(atMost lambda: Double) -> Double {
        var total = 0.0
        for (node, weight) in zip(nonZeroNodes, nonZeroWeights) where node <= lambda { total += weight }
        return min(1, total)
    }

    /// `dimension` values, descending, distributed as the estimate: the `zeroCount` zeros, and
    /// for the rest the non-zero part's quantiles at (i − ½)/count. What the reports, tables and
    /// figures made for dense eigenvalues take.
    public var quantileEigenvalues: [Double] {
        let count = dimension - zeroCount
        var values = [Double](repeating: 0, count: dimension)
        guard count > 0, !nonZeroNodes.isEmpty else { return values }
        var index = 0
        var cumulative = nonZeroWeights[0]
        for i in 0 ..< count {
            let level = (Double(i) + 0.5) / Double(count)
            while cumulative < level && index + 1 < nonZeroNodes.count {
                index += 1
                cumulative += nonZeroWeights[index]
            }
            values[count - 1 - i] = nonZeroNodes[index]
        }
        return values
    }
}
