import Networks
@_spi(RawBLAS) import TensorAlgebra

/// Computes the input–output Jacobian J = D^L W^L ⋯ D^1 W^1 of a network at an input, and
/// the eigenvalues of J Jᵀ as the squared singular values of J.
///
/// Three routes, chosen per network and input, give the same numbers:
/// * **diagonal** — every W^l diagonal (identity initialisation): coordinates never mix, J is
///   diagonal and each eigenvalue is (∏_l W^l_ii φ'(h^l_i))², O(N·L) per input;
/// * **active subnetwork** — rows of D^l W^l where φ' = 0 vanish, and so do the matching
///   columns of W^{l+1}: J restricted to the active rows is B^L ⋯ B^1 with
///   B^l = (D^l W^l)[A_l, A_{l−1}], multiplied left to right so every GEMM is
///   a_L × a_l × a_{l−1} (for ReLU, p ≈ ½: an eighth of the dense arithmetic per layer);
/// * for smooth φ the active sets are all units and the same code is the dense product.
///
/// Buffers are allocated once per analyzer and reused for every input.
public final class JacobianSpectrumAnalyzer<Scalar: BLASScalar> {
    public let network: MultilayerPerceptron<Scalar>
    /// Whether the diagonal route applies.
    public let isDiagonal: Bool
    /// Drop the rows and columns of units with φ' = 0 (default). Turning it off multiplies the
    /// full N×N matrices, for benchmarks that measure what the active subnetwork saves.
    public var skipsInactiveUnits = true
    private let diagonals: [[Scalar]]
    private var product: [Scalar]
    private var next: [Scalar]
    private var block: [Scalar]
    private var singular: [Scalar]

    /// `knownDiagonal` skips the O(L·N²) scan for diagonal weights when the caller built them.
    public init(network: MultilayerPerceptron<Scalar>, knownDiagonal: Bool? = nil) {
        self.network = network
        isDiagonal = knownDiagonal ?? network.isDiagonal
        diagonals = isDiagonal
            ? network.weights.map { w in (0 ..< w.shape[0]).map { w[$0, $0] } }
            : []
        let widest = ([network.inputWidth] + network.weights.map { $0.shape[0] }).max()!
        let capacity = isDiagonal ? 0 : widest * widest
        product = [Scalar](repeating: 0, count: capacity)
        next = [Scalar](repeating: 0, count: capacity)
        block = [Scalar](repeating: 0, count: capacity)
        singular = [Scalar](repeating: 0, count: widest)
    }

    /// φ'(h^l) for every layer at `input`.
    // Specialised here: callers in other modules would otherwise run the generic code.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func derivatives(at input: Tensor<Scalar>) -> [[Scalar]] {
        let activation = network.activation
        if isDiagonal {
            // h^l_i = W^l_ii x^{l−1}_i + b^l_i, elementwise.
            var x = input.scalars
            var result: [[Scalar]] = []
            for (l, diagonal) in diagonals.enumerated() {
                let bias = network.biases[l]?.scalars
                var d = [Scalar](repeating: 0, count: x.count)
                for i in x.indices {
                    let h = diagonal[i] * x[i] + (bias?[i] ?? 0)
                    d[i] = activation.derivative(h)
                    x[i] = activation(h)
                }
                result.append(d)
            }
            return result
        }
        return network.preActivations(input).map { $0.scalars.map { activation.derivative($0) } }
    }

    /// The eigenvalues of J Jᵀ at `input`, in descending order (one per output unit).
    // Specialised here: callers in other modules would otherwise run the generic code.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func eigenvalues(at input: Tensor<Scalar>) throws -> [Double] {
        let d = derivatives(at: input)
        if isDiagonal {
            var values = [Double](repeating: 1, count: network.outputWidth)
            for (diagonal, dl) in zip(diagonals, d) {
                for i in values.indices { values[i] *= Double(diagonal[i] * dl[i]) }
            }
            return values.map { $0 * $0 }.sorted(by: >)
        }
        let (rows, columns) = activeProduct(d)
        var values = [Double](repeating: 0, count: network.outputWidth)
        let count = min(rows, columns)
        if count > 0 {
            // The product buffer is scratch, so LAPACK may overwrite it in place.
            let info = product.withUnsafeMutableBufferPointer { a in
                singular.withUnsafeMutableBufferPointer { s in
                    Scalar.gesdd(
                        jobz: UInt8(ascii: "N"), m: rows, n: columns, a: a.baseAddress!, lda: columns,
                        s: s.baseAddress!, u: nil, ldu: rows, vt: nil, ldvt: columns)
                }
            }
            if info != 0 { throw LAPACKError(routine: Scalar.blasPrefix + "gesdd", info: info) }
            for i in 0 ..< count { values[i] = Double(singular[i]) * Double(singular[i]) }
        }
        return values  // gesdd returns descending values; the zeros of inactive rows follow
    }

    /// The full Jacobian J (outputs × inputs) at `input`.
    // Specialised here: callers in other modules would otherwise run the generic code.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func jacobian(at input: Tensor<Scalar>) -> Tensor<Scalar> {
        let d = derivatives(at: input)
        let (outputs, inputs) = (network.outputWidth, network.inputWidth)
        var j = Tensor<Scalar>.zeros([outputs, inputs])
        if isDiagonal {
            j.withUnsafeMutableBufferPointer { e in
                for i in 0 ..< outputs {
                    var value: Scalar = 1
                    for (diagonal, dl) in zip(diagonals, d) { value *= diagonal[i] * dl[i] }
                    e[i * inputs + i] = value
                }
            }
            return j
        }
        let active = skipsInactiveUnits ? d.last!.indices.filter { d.last![$0] != 0 } : Array(d.last!.indices)
        let (rows, columns) = activeProduct(d)
        precondition(rows == active.count && columns == inputs)
        j.withUnsafeMutableBufferPointer { e in
            for (r, i) in active.enumerated() {
                for c in 0 ..< inputs { e[i * inputs + c] = product[r * columns + c] }
            }
        }
        return j
    }

    /// Leaves B^L ⋯ B^1 in `product` (row-major, rows × columns) and returns its shape.
    // Specialised here: callers in other modules would otherwise run the generic code.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    private func activeProduct(_ d: [[Scalar]]) -> (rows: Int, columns: Int) {
        let weights = network.weights
        let layers = weights.count
        let active = skipsInactiveUnits ? d.map { dl in dl.indices.filter { dl[$0] != 0 } } : d.map { Array($0.indices) }
        let inputs = network.inputWidth
        // Columns of B^l: the active units of the previous layer, or every input for l = 1.
        func columnsOf(_ l: Int) -> [Int]? { l == 0 ? nil : active[l - 1] }
        if active.contains(where: \.isEmpty) { return (0, inputs) }

        // product ← B^L.
        let top = layers - 1
        var rows = active[top].count
        var width = gather(weights[top], d[top], rows: active[top], columns: columnsOf(top), into: &product)
        // product ← product · B^l for l = L−1 … 1.
        for l in stride(from: top - 1, through: 0, by: -1) {
            let blockColumns = gather(weights[l], d[l], rows: active[l], columns: columnsOf(l), into: &block)
            let inner = active[l].count
            precondition(inner == width)
            product.withUnsafeBufferPointer { a in
                block.withUnsafeBufferPointer { b in
                    next.withUnsafeMutableBufferPointer { c in
                        Scalar.gemm(
                            transposeA: false, transposeB: false, m: rows, n: blockColumns, k: inner,
                            alpha: 1, a: a.baseAddress!, lda: inner, b: b.baseAddress!, ldb: blockColumns,
                            beta: 0, c: c.baseAddress!, ldc: blockColumns)
                    }
                }
            }
            swap(&product, &next)
            width = blockColumns
        }
        rows = active[top].count
        return (rows, width)
    }

    /// Writes (D W)[rows, columns] into `buffer` row-major and returns its column count.
    // Specialised here: callers in other modules would otherwise run the generic code.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    private func gather(
        _ w: Tensor<Scalar>, _ d: [Scalar], rows: [Int], columns: [Int]?, into buffer: inout [Scalar]
    ) -> Int {
        let n = w.shape[1]
        let width = columns?.count ?? n
        w.withUnsafeBufferPointer { source in
            buffer.withUnsafeMutableBufferPointer { target in
                for (r, i) in rows.enumerated() {
                    let scale = d[i]
                    let sourceRow = source.baseAddress! + i * n
                    let targetRow = target.baseAddress! + r * width
                    if let columns {
                        for (c, j) in columns.enumerated() { targetRow[c] = scale * sourceRow[j] }
                    } else {
                        for j in 0 ..< n { targetRow[j] = scale * sourceRow[j] }
                    }
                }
            }
        }
        return width
    }
}
