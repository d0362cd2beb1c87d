import IsometrySupport
import Networks
@_spi(RawBLAS) import TensorAlgebra

/// The spectrum of J Jᵀ of a convolutional stack whose J is block-diagonal over positions
/// (``PositionwiseNetwork``: centre-tap convolutions keeping positions in place, pointwise
/// activations), one position block at a time.
///
/// One forward pass of the stack gives every activation's pattern; then for each of the P
/// positions x the block J_x = D_L W_L ⋯ D_1 W_1 (C_L × C_0) is multiplied out from the centre
/// taps and that position's pattern, and gesdd gives its singular values. The eigenvalues are
/// the union of their squares over positions (with C_L − C_0 zeros per position when
/// C_L > C_0), sorted descending: exactly those of the whole J Jᵀ, which
/// ``LayerStackSpectrumAnalyzer`` gets from the dense (C_L·P) × (C_0·P) J (a test checks the
/// two to 1e-10 of λ_max in float64). The cost is P·(L·C³ + C³) instead of about (C·P)³ for the
/// dense SVD, and the memory P times less: a 64-channel stack on 32 positions takes P = 32
/// SVDs of 64 × 64 rather than one of 2048 × 2048, so the channel counts at which the theory
/// is compared (docs/theory.md §6) are in reach.
///
/// Buffers (the blocks, the SVD's scratch, the stack's workspace) are allocated once per
/// analyzer; one analyzer is not to be used by two threads at once.
public final class PositionwiseSpectrumAnalyzer<Scalar: BLASScalar>: JacobianSpectrumMeasuring {
    public let stack: LayerStack<Scalar>
    public let network: PositionwiseNetwork<Scalar>
    public let inputCount: Int
    public let outputCount: Int
    /// OpenBLAS threads; nil (default) leaves the process-wide setting as it is.
    public var threads: Int?
    /// Why the stack cannot be analysed (NaN or infinite parameters), thrown by every measurement.
    public let networkProblem: SpectrumError?
    private let workspace: LayerStackWorkspace<Scalar>
    /// The running product of one position's block: buffers[0] = I, buffers[k + 1] after step k.
    private var buffers: [Tensor<Scalar>]
    private var scratch: [Scalar]
    private var singular: [Scalar]

    /// Throws `SpectrumError.notPositionwise` for a stack whose J is not block-diagonal over
    /// positions (``PositionwiseNetwork/init(_:)``). `threads`: at least 1 when given.
    public init(stack: LayerStack<Scalar>, threads: Int? = nil) throws(SpectrumError) {
        if let threads { require(threads >= 1, "PositionwiseSpectrumAnalyzer: threads must be at least 1, got \(threads)") }
        network = try PositionwiseNetwork(stack)
        self.stack = stack
        self.threads = threads
        inputCount = stack.inputShape.reduce(1, *)
        outputCount = stack.outputShape.reduce(1, *)
        var problem: SpectrumError?
        search: for (l, layer) in stack.layers.enumerated() {
            for (name, parameter) in zip(layer.parameterNames, layer.parameters) {
                let count = parameter.withUnsafeBufferPointer { $0.reduce(0) { $1.isFinite ? $0 : $0 + 1 } }
                if count > 0 {
                    problem = .nonFiniteWeights(layer: l, tensor: name, count: count)
                    break search
                }
            }
        }
        networkProblem = problem
        workspace = stack.makeWorkspace(batchSize: 1)
        let c0 = network.widths[0]
        buffers = network.widths.map { Tensor<Scalar>.zeros([$0, c0]) }
        let last = network.widths[network.widths.count - 1]
        scratch = [Scalar](repeating: 0, count: last * c0)
        singular = [Scalar](repeating: 0, count: min(last, c0))
    }

    public var route: String {
        let c = network.widths
        return "positionwise: \(network.positions) blocks of \(c[c.count - 1]) × \(c[0]) (centre taps), gesdd per block"
    }

    /// Runs the forward pass for the patterns; throws for a bad input or an overflowing layer.
    private func forward(_ input: Tensor<Scalar>) throws(SpectrumError) {
        if let networkProblem { throw networkProblem }
        guard input.count == inputCount else { throw .inputShape(shape: input.shape, networkInputWidth: inputCount) }
        let nonFinite = input.withUnsafeBufferPointer { e in e.reduce(0) { $0 + ($1.isFinite ? 0 : 1) } }
        if nonFinite > 0 { throw .nonFiniteInput(count: nonFinite) }
        stack.forward(input.reshaped([1] + stack.inputShape), in: workspace)
        for l in 0 ..< stack.layerCount {
            let count = workspace.activations[l + 1].withUnsafeBufferPointer { $0.reduce(0) { $1.isFinite ? $0 : $0 + 1 } }
            if count > 0 { throw .nonFinitePreActivation(layer: l, count: count) }
        }
    }

    /// Multiplies out position x's block J_x into `buffers.last`.
    private func formBlock(_ x: Int) {
        let positions = network.positions
        // Written in place, so that no position allocates (an assignment would share the
        // identity's storage, and scaling it would copy).
        let c0 = network.widths[0]
        buffers[0].withUnsafeMutableBufferPointer { a in
            a.update(repeating: 0)
            for i in 0 ..< c0 { a[i * c0 + i] = 1 }
        }
        for (k, step) in network.steps.enumerated() {
            switch step {
            case .affine(let weight, _):
                matmul(weight, buffers[k], into: &buffers[k + 1])
            case .activation:
                // D_l scales row c by φ'(h) at channel c, position x: the pattern's [c·P + x].
                buffers.swapAt(k, k + 1)
                let pattern = workspace.patterns[k]
                let columns = network.widths[0]
                buffers[k + 1].withUnsafeMutableBufferPointer { a in
                    pattern.withUnsafeBufferPointer { d in
                        for c in 0 ..< network.widths[k + 1] {
                            let slope = d[c * positions + x]
                            for j in 0 ..< columns { a[c * columns + j] *= slope }
                        }
                    }
                }
            }
        }
    }

    /// The eigenvalues of J Jᵀ at `input`, descending, one per output.
    ///
    /// Throws `SpectrumError` for an input of another size or holding NaN or infinity, a stack
    /// with NaN or infinite parameters, a layer output or a block that overflows, and a failed SVD.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func eigenvalues(at input: Tensor<Scalar>) throws(SpectrumError) -> [Double] {
        try withThreads { () throws(SpectrumError) -> [Double] in
            try forward(input)
            let (rows, columns) = (network.widths[network.widths.count - 1], network.widths[0])
            var values: [Double] = []
            values.reserveCapacity(outputCount)
            for x in 0 ..< network.positions {
                formBlock(x)
                let overflowing = buffers[buffers.count - 1].withUnsafeBufferPointer { b in
                    scratch.withUnsafeMutableBufferPointer { s in
                        var count = 0
                        for i in 0 ..< b.count {
                            s[i] = b[i]
                            if !b[i].isFinite { count += 1 }
                        }
                        return count
                    }
                }
                if overflowing > 0 { throw .jacobianOverflows(layers: stack.layerCount, count: overflowing) }
                let info = scratch.withUnsafeMutableBufferPointer { a in
                    singular.withUnsafeMutableBufferPointer { s in
                        Scalar.gesdd(jobz: UInt8(ascii: "N"), m: rows, n: columns, a: a.baseAddress!, lda: columns,
                                     s: s.baseAddress!, u: nil, ldu: rows, vt: nil, ldvt: columns)
                    }
                }
                if info != 0 { throw .singularValueDecomposition(routine: Scalar.blasPrefix + "gesdd", info: info) }
                for s in singular { values.append(Double(s) * Double(s)) }
            }
            // A widening block (C_L > C_0) has C_L − C_0 zero eigenvalues per position.
            values += [Double](repeating: 0, count: outputCount - values.count)
            values.sort(by: >)
            return values
        }
    }

    /// J at `input`, `[outputCount, inputCount]` over the flattened `[C, …]` shapes: the blocks
    /// J_x at rows c·P + x and columns c′·P + x, zero elsewhere. Throws as ``eigenvalues(at:)``
    /// does (but for the SVD).
    public func jacobian(at input: Tensor<Scalar>) throws(SpectrumError) -> Tensor<Scalar> {
        try withThreads { () throws(SpectrumError) -> Tensor<Scalar> in
            try forward(input)
            let (rows, columns, positions) = (network.widths[network.widths.count - 1], network.widths[0], network.positions)
            var j = [Scalar](repeating: 0, count: outputCount * inputCount)
            for x in 0 ..< positions {
                formBlock(x)
                buffers[buffers.count - 1].withUnsafeBufferPointer { b in
                    for c in 0 ..< rows {
                        for d in 0 ..< columns { j[(c * positions + x) * inputCount + d * positions + x] = b[c * columns + d] }
                    }
                }
            }
            if j.contains(where: { !$0.isFinite }) {
                throw .jacobianOverflows(layers: stack.layerCount, count: j.filter { !$0.isFinite }.count)
            }
            return Tensor(shape: [outputCount, inputCount], scalars: j)
        }
    }

    private func withThreads<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        guard let threads else { return try body() }
        return try OpenBLAS.withThreads(threads, body)
    }
}
