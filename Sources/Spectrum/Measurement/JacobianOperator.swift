import Dispatch
import Networks
@_spi(RawBLAS) import TensorAlgebra
import IsometrySupport

/// The input–output Jacobian J of a ``LayerStack`` at one input as a linear map, never formed:
/// `apply` gives J·V and `applyTransposed` Jᵀ·U for a block of vectors (rows).
///
/// Why a block and not a vector: a Lanczos step for k probe vectors is k products with J Jᵀ;
/// done one vector at a time it reads every weight 2k times (GEMV, memory-bound), done as one
/// block it reads them twice (GEMM with k rows). The forward pass runs once, at construction,
/// and keeps every layer's pattern (φ′, max-pool winners); each product then chains the
/// layers' `jvp` or `vjp` at those patterns (docs/theory.md §7), so J·V and Jᵀ·U are exactly
/// the products of one fixed linear map and its transpose.
///
/// Memory: the stack's weights are shared, not copied (tensors are copy-on-write and the
/// operator never writes them); the operator adds one activation per layer (the forward pass)
/// and two blocks of `blockSize` rows per layer (the tangents and cotangents), allocated once.
/// One operator is not to be used by two threads at once.
public final class JacobianOperator<Scalar: BLASScalar> {
    public let stack: LayerStack<Scalar>
    /// Scalars in one input (the flattened input shape): the columns of J.
    public let inputCount: Int
    /// Scalars in one output: the rows of J.
    public let outputCount: Int
    /// The rows of every block `apply` and `applyTransposed` take.
    public let blockSize: Int
    /// Output coordinates whose row of J is not known to be zero, ascending: all outputs, but
    /// those an elementwise activation closing the stack switches off (φ′ = 0: a ReLU unit
    /// below zero, a saturated hard-tanh unit), whose rows of J vanish.
    public let activeOutputs: [Int]
    /// An upper bound on rank J from the recorded pattern: the fewest units with φ′ ≠ 0 in
    /// any elementwise activation layer, and the narrowest layer. J factors through every
    /// layer's Jacobian, so rank J is at most each of their ranks; for weights in general
    /// position (random Gaussian or orthogonal) it is attained, and J Jᵀ has exactly
    /// `outputCount − rankBound` zero eigenvalues.
    public let rankBound: Int

    /// Whether the products run on the active subnetwork (see ``init(stack:at:blockSize:compactsActiveSubnetwork:)``).
    public let usesActiveSubnetwork: Bool
    /// Bytes of the active subnetwork's weight copies (0 when the products run through the stack).
    public let activeSubnetworkBytes: Int
    /// Whether the active subnetwork's products stream its weights through
    /// `StreamingBlockProducts` (float32, on a CPU with its kernels) instead of BLAS: each weight
    /// read once per product and never packed, the blocks kept feature-major (16 lanes).
    public let usesStreamingProducts: Bool
    /// Threads each streaming product is split over (rows of W for J·V, columns for Jᵀ·U, so
    /// every weight is read by one thread). Defaults to OpenBLAS's thread count.
    public var streamingThreads = max(1, OpenBLAS.threads)

    private let workspace: LayerStackWorkspace<Scalar>
    private var tangents: [Tensor<Scalar>]
    private var cotangents: [Tensor<Scalar>]
    private var scratch: [Tensor<Scalar>]
    /// The active subnetwork: C_l = diag(φ′_l[A_l])·W_l[A_l, A_{l−1}] (A_0 all inputs; a closing
    /// dense layer keeps all its rows), and one block buffer per layer each way.
    private var compact: [Tensor<Scalar>] = []
    private var compactForward: [Tensor<Scalar>] = []
    private var compactBackward: [Tensor<Scalar>] = []
    /// For the streaming products: per layer boundary of the active subnetwork, its features ×
    /// 16 lanes × ⌈blockSize / 16⌉ chunks, in one allocation; both directions share them.
    private var laneMemory: UnsafeMutablePointer<Float>?
    private var laneOffsets: [Int] = []
    private var laneFeatures: [Int] = []

    /// Runs the stack forward at `input` (any shape with the stack's number of input scalars)
    /// and keeps the patterns; `blockSize` (≥ 1) is the number of vectors per product.
    ///
    /// Throws `SpectrumError` for NaN or infinite parameters, an input of another size or
    /// holding NaN or infinity, and a layer output that overflows at this input.
    ///
    /// `compactsActiveSubnetwork`: for a stack of dense layers each followed by an elementwise
    /// activation (an MLP; a last dense layer may stand alone), the products run on the active
    /// subnetwork when that is smaller than three quarters of the weights — units with φ′ = 0
    /// drop their row of W_l and their column of W_{l+1}, the slopes folded into the rows (the
    /// dense analyzer's route, docs/theory.md §2): for ReLU at p ≈ ½ a quarter of the arithmetic
    /// and of the weight reads per product. The price is a copy of those active weights
    /// (``activeSubnetworkBytes``, about a quarter of the weights for ReLU), made once here.
    ///
    /// `streamsWeights`: whether a float32 active subnetwork runs its products through
    /// ``usesStreamingProducts``'s kernels (where the CPU has them); nil (default): where they
    /// are the faster route, in optimised builds; false keeps BLAS (to compare).
    public init(stack: LayerStack<Scalar>, at input: Tensor<Scalar>, blockSize: Int, compactsActiveSubnetwork: Bool = true,
                streamsWeights: Bool? = nil) throws(SpectrumError) {
        require(blockSize >= 1, "JacobianOperator: blockSize must be at least 1, got \(blockSize)")
        for (l, layer) in stack.layers.enumerated() {
            for (name, parameter) in zip(layer.parameterNames, layer.parameters) {
                let count = parameter.withUnsafeBufferPointer { $0.reduce(0) { $1.isFinite ? $0 : $0 + 1 } }
                if count > 0 { throw .nonFiniteWeights(layer: l, tensor: name, count: count) }
            }
        }
        self.stack = stack
        self.blockSize = blockSize
        inputCount = stack.inputShape.reduce(1, *)
        outputCount = stack.outputShape.reduce(1, *)
        guard input.count == inputCount else { throw .inputShape(shape: input.shape, networkInputWidth: inputCount) }
        let nonFinite = input.withUnsafeBufferPointer { e in e.reduce(0) { $0 + ($1.isFinite ? 0 : 1) } }
        if nonFinite > 0 { throw .nonFiniteInput(count: nonFinite) }
        workspace = stack.makeWorkspace(batchSize: 1)
        stack.forward(input.reshaped([1] + stack.inputShape), in: workspace)
        for l in 0 ..< stack.layerCount {
            let count = workspace.activations[l + 1].withUnsafeBufferPointer { $0.reduce(0) { $1.isFinite ? $0 : $0 + 1 } }
            if count > 0 { throw .nonFinitePreActivation(layer: l, count: count) }
        }
        tangents = stack.shapes.map { Tensor.zeros([blockSize] + $0) }
        cotangents = stack.shapes.map { Tensor.zeros([blockSize] + $0) }
        scratch = stack.layers.indices.map { stack.layers[$0].scratchShape(forInput: stack.shapes[$0]).map { Tensor.zeros($0) } ?? Tensor.zeros([0]) }

        var bound = stack.shapes.map { $0.reduce(1, *) }.min() ?? 0
        var active = Array(0 ..< stack.outputShape.reduce(1, *))
        for (l, layer) in stack.layers.enumerated() where layer is ActivationLayer<Scalar> {
            let slopes = workspace.patterns[l]
            let nonZero = slopes.withUnsafeBufferPointer { $0.reduce(0) { $0 + ($1 != 0 ? 1 : 0) } }
            bound = min(bound, nonZero)
            if l == stack.layerCount - 1 {
                let outputs = stack.outputShape.reduce(1, *)
                active = slopes.withUnsafeBufferPointer { s in (0 ..< outputs).filter { s[$0] != 0 } }
            }
        }
        activeOutputs = active
        rankBound = bound

        // The active subnetwork, when the stack is dense layers and elementwise activations.
        var chain: [(weight: Tensor<Scalar>, slopes: Tensor<Scalar>?)] = []
        var l = 0
        while l < stack.layerCount, let dense = stack.layers[l] as? Dense<Scalar> {
            if l + 1 < stack.layerCount, stack.layers[l + 1] is ActivationLayer<Scalar> {
                chain.append((dense.weight, workspace.patterns[l + 1]))
                l += 2
            } else {
                chain.append((dense.weight, nil))
                l += 1
            }
        }
        var compactCount = 0
        var sets: [[Int]] = [Array(0 ..< stack.inputShape.reduce(1, *))]
        if l == stack.layerCount && compactsActiveSubnetwork {
            for (weight, slopes) in chain {
                let rows = weight.shape[0]
                let kept = slopes.map { s in s.withUnsafeBufferPointer { p in (0 ..< rows).filter { p[$0] != 0 } } } ?? Array(0 ..< rows)
                compactCount += kept.count * sets[sets.count - 1].count
                sets.append(kept)
            }
        }
        let total = chain.reduce(0) { $0 + $1.weight.count }
        if l == stack.layerCount && compactsActiveSubnetwork && compactCount * 4 < total * 3 {
            for (index, (weight, slopes)) in chain.enumerated() {
                let (rows, columns) = (sets[index + 1], sets[index])
                let width = weight.shape[1]
                var c = Tensor<Scalar>.zeros([rows.count, columns.count])
                c.withUnsafeMutableBufferPointer { out in
                    weight.withUnsafeBufferPointer { w in
                        for (r, i) in rows.enumerated() {
                            let slope = slopes.map { s in s.withUnsafeBufferPointer { $0[i] } } ?? 1
                            let source = i * width, target = r * columns.count
                            for (q, j) in columns.enumerated() { out[target + q] = slope * w[source + j] }
                        }
                    }
                }
                compact.append(c)
            }
            compactOutputs = sets[sets.count - 1]
            usesActiveSubnetwork = true
            activeSubnetworkBytes = compactCount * MemoryLayout<Scalar>.stride
            usesStreamingProducts = (streamsWeights ?? StreamingBlockProducts.isPreferred) && Scalar.self == Float.self
                && StreamingBlockProducts.instructionSet != nil
            if usesStreamingProducts {
                let lanes = StreamingBlockProducts.lanes
                let chunks = (blockSize + lanes - 1) / lanes
                laneFeatures = sets.map(\.count)
                laneOffsets = laneFeatures.reduce(into: [0]) { $0.append($0[$0.count - 1] + chunks * lanes * $1) }
                let total = laneOffsets[laneOffsets.count - 1]
                laneMemory = .allocate(capacity: total)
                laneMemory!.initialize(repeating: 0, count: total)   // unused lanes stay zero
            } else {
                compactForward = sets.dropFirst().map { Tensor.zeros([blockSize, $0.count]) }
                compactBackward = sets.map { Tensor.zeros([blockSize, $0.count]) }
            }
        } else {
            compactOutputs = []
            usesActiveSubnetwork = false
            activeSubnetworkBytes = 0
            usesStreamingProducts = false
        }
    }

    deinit { laneMemory?.deallocate() }

    /// The output coordinates of the active subnetwork's last layer.
    private let compactOutputs: [Int]

    /// How many slices each of the active subnetwork's products is cut into, run at once on as
    /// many cores (rows of W for J·V, its columns for Jᵀ·U: each slice reads its own part of
    /// the weights, none twice). 1 (default): one BLAS call per product, threaded as OpenBLAS
    /// chooses. Above 1 the caller runs the products with single-threaded BLAS
    /// (`OpenBLAS.withThreads(1)`), as `StochasticLanczosQuadrature` does.
    public var parallelSlices = 1

    /// y = x·Wᵀ (`transposeB`, slices of W's rows) or y = x·W (slices of its columns), each
    /// slice on its own core.
    private func slicedProduct(_ x: Tensor<Scalar>, _ w: Tensor<Scalar>, transposeB: Bool, into y: inout Tensor<Scalar>) {
        guard parallelSlices > 1 else {
            matmul(x, w, transposeB: transposeB, into: &y)
            return
        }
        let slices = parallelSlices
        x.withUnsafeBufferPointer { xp in
            w.withUnsafeBufferPointer { wp in
                y.withUnsafeMutableBufferPointer { yp in
                    let product = SlicedProduct(x: xp.baseAddress!, w: wp.baseAddress!, y: yp.baseAddress!, rows: x.shape[0],
                                                wRows: w.shape[0], wColumns: w.shape[1], transposeB: transposeB, slices: slices)
                    DispatchQueue.concurrentPerform(iterations: slices) { product.run(slice: $0) }
                }
            }
        }
    }

    /// output ← V·Jᵀ: row i of `output` (`[blockSize, outputCount]`) is J times row i of
    /// `block` (`[blockSize, inputCount]`), forward mode through the stack.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply(_ block: Tensor<Scalar>, into output: inout Tensor<Scalar>) {
        require(block.shape == [blockSize, inputCount] && output.shape == [blockSize, outputCount],
                "JacobianOperator.apply: takes [\(blockSize), \(inputCount)] into [\(blockSize), \(outputCount)], got \(block.shape) into \(output.shape)")
        if usesStreamingProducts {
            streamingApply(block, into: &output)
            return
        }
        if usesActiveSubnetwork {
            for l in compact.indices {
                slicedProduct(l == 0 ? block : compactForward[l - 1], compact[l], transposeB: true, into: &compactForward[l])
            }
            let result = compactForward[compact.count - 1]
            let (width, kept, rows) = (outputCount, compactOutputs, blockSize)
            result.withUnsafeBufferPointer { y in
                output.withUnsafeMutableBufferPointer { o in
                    o.update(repeating: 0)
                    for r in 0 ..< rows {
                        for (q, i) in kept.enumerated() { o[r * width + i] = y[r * kept.count + q] }
                    }
                }
            }
            return
        }
        let layers = stack.layers
        let last = layers.count
        Self.copy(block, into: &tangents[0])
        for l in 0 ..< last {
            layers[l].jvp(tangents[l], pattern: workspace.patterns[l], scratch: &scratch[l], into: &tangents[l + 1])
        }
        Self.copy(tangents[last], into: &output)
    }

    /// output ← U·J: row i of `output` (`[blockSize, inputCount]`) is Jᵀ times row i of
    /// `block` (`[blockSize, outputCount]`), reverse mode through the stack.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func applyTransposed(_ block: Tensor<Scalar>, into output: inout Tensor<Scalar>) {
        require(block.shape == [blockSize, outputCount] && output.shape == [blockSize, inputCount],
                "JacobianOperator.applyTransposed: takes [\(blockSize), \(outputCount)] into [\(blockSize), \(inputCount)], got \(block.shape) into \(output.shape)")
        if usesStreamingProducts {
            streamingApplyTransposed(block, into: &output)
            return
        }
        if usesActiveSubnetwork {
            let last = compact.count
            let (width, kept, rows) = (outputCount, compactOutputs, blockSize)
            block.withUnsafeBufferPointer { u in
                compactBackward[last].withUnsafeMutableBufferPointer { y in
                    for r in 0 ..< rows {
                        for (q, i) in kept.enumerated() { y[r * kept.count + q] = u[r * width + i] }
                    }
                }
            }
            for l in (0 ..< last).reversed() {
                if l == 0 {
                    slicedProduct(compactBackward[1], compact[0], transposeB: false, into: &output)
                } else {
                    slicedProduct(compactBackward[l + 1], compact[l], transposeB: false, into: &compactBackward[l])
                }
            }
            return
        }
        let layers = stack.layers
        let last = layers.count
        Self.copy(block, into: &cotangents[last])
        for l in (0 ..< last).reversed() {
            layers[l].vjp(cotangents[l + 1], pattern: workspace.patterns[l], scratch: &scratch[l], into: &cotangents[l])
        }
        Self.copy(cotangents[0], into: &output)
    }

    /// J·V on the active subnetwork with the streaming kernels: V into lane blocks, one
    /// W·x per layer (rows of W split over the threads), the last block out to the kept outputs.
    private func streamingApply(_ block: Tensor<Scalar>, into output: inout Tensor<Scalar>) {
        let lanes = StreamingBlockProducts.lanes
        let memory = laneMemory!
        let (k, n, width, kept) = (blockSize, laneFeatures[0], outputCount, compactOutputs)
        block.withUnsafeBufferPointer { b in
            let v = UnsafeRawPointer(b.baseAddress!).assumingMemoryBound(to: Float.self)
            let x = memory + laneOffsets[0]
            for r in 0 ..< k {
                let target = x + (r / lanes) * n * lanes + r % lanes
                for i in 0 ..< n { target[lanes * i] = v[r * n + i] }
            }
        }
        for l in compact.indices {
            runStreaming(layer: l, transposed: false)
        }
        let last = laneFeatures.count - 1, count = laneFeatures[last]
        let y = memory + laneOffsets[last]
        output.withUnsafeMutableBufferPointer { o in
            let out = UnsafeMutableRawPointer(o.baseAddress!).assumingMemoryBound(to: Float.self)
            out.update(repeating: 0, count: k * width)
            for r in 0 ..< k {
                let source = y + (r / lanes) * count * lanes + r % lanes
                for (q, i) in kept.enumerated() { out[r * width + i] = source[lanes * q] }
            }
        }
    }

    /// Jᵀ·U on the active subnetwork with the streaming kernels: the kept outputs of U into
    /// lane blocks, one Wᵀ·u per layer (columns of W split over the threads), the input block out.
    private func streamingApplyTransposed(_ block: Tensor<Scalar>, into output: inout Tensor<Scalar>) {
        let lanes = StreamingBlockProducts.lanes
        let memory = laneMemory!
        let (k, n, width, kept) = (blockSize, laneFeatures[0], outputCount, compactOutputs)
        let last = laneFeatures.count - 1, count = laneFeatures[last]
        block.withUnsafeBufferPointer { b in
            let u = UnsafeRawPointer(b.baseAddress!).assumingMemoryBound(to: Float.self)
            let y = memory + laneOffsets[last]
            for r in 0 ..< k {
                let target = y + (r / lanes) * count * lanes + r % lanes
                for (q, i) in kept.enumerated() { target[lanes * q] = u[r * width + i] }
            }
        }
        for l in compact.indices.reversed() {
            runStreaming(layer: l, transposed: true)
        }
        let x = memory + laneOffsets[0]
        output.withUnsafeMutableBufferPointer { o in
            let out = UnsafeMutableRawPointer(o.baseAddress!).assumingMemoryBound(to: Float.self)
            for r in 0 ..< k {
                let source = x + (r / lanes) * n * lanes + r % lanes
                for i in 0 ..< n { out[r * n + i] = source[lanes * i] }
            }
        }
    }

    /// One layer of the active subnetwork, every chunk of 16 lanes, split over the threads.
    private func runStreaming(layer l: Int, transposed: Bool) {
        let lanes = StreamingBlockProducts.lanes
        let chunks = (blockSize + lanes - 1) / lanes
        let memory = laneMemory!
        guard compact[l].count > 0 else {
            // A layer with no active unit (or no active input): its product is zero.
            let (target, features) = transposed ? (laneOffsets[l], laneFeatures[l]) : (laneOffsets[l + 1], laneFeatures[l + 1])
            (memory + target).update(repeating: 0, count: chunks * features * lanes)
            return
        }
        compact[l].withUnsafeBufferPointer { w in
            let product = StreamingProduct(
                w: UnsafeRawPointer(w.baseAddress!).assumingMemoryBound(to: Float.self),
                rows: laneFeatures[l + 1], columns: laneFeatures[l],
                inputs: memory + laneOffsets[l], outputs: memory + laneOffsets[l + 1],
                chunks: chunks, transposed: transposed, slices: max(1, streamingThreads))
            if product.slices == 1 {
                product.run(slice: 0)
            } else {
                DispatchQueue.concurrentPerform(iterations: product.slices) { product.run(slice: $0) }
            }
        }
    }

    /// Element-by-element copy between tensors of one count and any shapes: the buffers keep
    /// their stacked shapes (a `[k, C, H, W]` block), callers see `[k, n]` matrices.
    private static func copy(_ source: Tensor<Scalar>, into target: inout Tensor<Scalar>) {
        source.withUnsafeBufferPointer { s in
            target.withUnsafeMutableBufferPointer { t in
                t.baseAddress!.update(from: s.baseAddress!, count: s.count)
            }
        }
    }
}

/// One product cut into slices of W for `DispatchQueue.concurrentPerform`: raw pointers into
/// buffers the caller keeps alive and unique for the call; the slices write disjoint columns of y.
private struct SlicedProduct<Scalar: BLASScalar>: @unchecked Sendable {
    let x: UnsafePointer<Scalar>, w: UnsafePointer<Scalar>, y: UnsafeMutablePointer<Scalar>
    let rows: Int, wRows: Int, wColumns: Int
    let transposeB: Bool
    let slices: Int

    func run(slice: Int) {
        if transposeB {
            // y[rows × wRows] = x[rows × wColumns]·Wᵀ: W's rows r0 ..< r1 give y's columns r0 ..< r1.
            let (r0, r1) = (wRows * slice / slices, wRows * (slice + 1) / slices)
            guard r1 > r0 else { return }
            Scalar.gemm(transposeA: false, transposeB: true, m: rows, n: r1 - r0, k: wColumns, alpha: 1, a: x, lda: wColumns,
                        b: w + r0 * wColumns, ldb: wColumns, beta: 0, c: y + r0, ldc: wRows)
        } else {
            // y[rows × wColumns] = x[rows × wRows]·W: W's columns c0 ..< c1 give y's columns c0 ..< c1.
            let (c0, c1) = (wColumns * slice / slices, wColumns * (slice + 1) / slices)
            guard c1 > c0 else { return }
            Scalar.gemm(transposeA: false, transposeB: false, m: rows, n: c1 - c0, k: wRows, alpha: 1, a: x, lda: wRows,
                        b: w + c0, ldb: wColumns, beta: 0, c: y + c0, ldc: wColumns)
        }
    }
}

/// One streaming product of a layer, cut into slices for `DispatchQueue.concurrentPerform`:
/// `inputs` holds the layer's input features (`columns`) and `outputs` its output features
/// (`rows`), each `chunks` × features × 16 lanes. Forward, W·x: slice s computes its own rows
/// (multiples of 8, the kernel's group). Transposed, Wᵀ·u from `outputs` into `inputs`: slice
/// s its own columns. Each weight is read by one slice; slices write disjoint features.
private struct StreamingProduct: @unchecked Sendable {
    let w: UnsafePointer<Float>
    let rows: Int, columns: Int
    let inputs: UnsafeMutablePointer<Float>, outputs: UnsafeMutablePointer<Float>
    let chunks: Int
    let transposed: Bool
    let slices: Int

    func run(slice: Int) {
        let lanes = StreamingBlockProducts.lanes
        let span = transposed ? columns : rows
        let bound = { (s: Int) in s == slices ? span : min(span, (span * s / slices) / 8 * 8) }
        let range = bound(slice) ..< bound(slice + 1)
        guard !range.isEmpty else { return }
        for c in 0 ..< chunks {
            let x = inputs + c * columns * lanes, y = outputs + c * rows * lanes
            if transposed {
                StreamingBlockProducts.columns(range, of: w, rowCount: rows, columnCount: columns, times: y, into: x)
            } else {
                StreamingBlockProducts.rows(range, of: w, columns: columns, times: x, into: y)
            }
        }
    }
}
