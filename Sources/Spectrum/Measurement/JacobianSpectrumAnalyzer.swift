import Networks
@_spi(RawBLAS) import TensorAlgebra
import IsometrySupport

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
public final class JacobianSpectrumAnalyzer<Scalar: BLASScalar>: JacobianSpectrumMeasuring {
    public let network: MultilayerPerceptron<Scalar>
    /// Whether the diagonal route applies.
    public let isDiagonal: Bool
    /// Drop the rows and columns of units with φ' = 0 (default). Turning it off multiplies the
    /// full N×N matrices, for benchmarks that measure what the active subnetwork saves.
    public var skipsInactiveUnits = true
    /// OpenBLAS threads for the matrix products and the SVD, the process-wide setting restored
    /// after every call; nil (default) leaves the process's setting alone, so that analyzers
    /// used from several tasks at once never race on it. A caller that wants the size's best
    /// choice passes ``automaticThreads(width:)`` (as the `spectrum` command does): one thread
    /// below `singleThreadWidthLimit`, where a second thread only adds synchronisation
    /// (measured in docs/benchmarks.md).
    public var threads: Int?
    /// Why the network cannot be analysed (a zero dimension, NaN or infinite weights), thrown
    /// by every measurement.
    public let networkProblem: SpectrumError?
    private let diagonals: [[Scalar]]
    private var product: [Scalar]
    private var next: [Scalar]
    private var block: [Scalar]
    private var singular: [Scalar]

    /// Widths (the widest layer) below which a spectrum runs on one OpenBLAS thread when
    /// `threads` is nil. Measured on two cores: docs/benchmarks.md, "Threads for the spectrum".
    public static var singleThreadWidthLimit: Int { 400 }

    /// The thread count chosen for a network whose widest layer is `width`: 1 below
    /// `singleThreadWidthLimit`, nil (OpenBLAS's own setting) from there on.
    public static func automaticThreads(width: Int) -> Int? {
        width < singleThreadWidthLimit ? 1 : nil
    }

    /// `knownDiagonal` skips the O(L·N²) scan for diagonal weights when the caller built them
    /// (only the diagonals and biases are then checked for NaN and infinity).
    ///
    /// A degenerate network (a layer with a zero dimension) or one holding NaN or infinite
    /// weights is not refused here: `networkProblem` records it and every measurement throws it.
    public init(network: MultilayerPerceptron<Scalar>, knownDiagonal: Bool? = nil, threads: Int? = nil) {
        self.network = network
        self.threads = threads
        if let threads { require(threads >= 1, "JacobianSpectrumAnalyzer: threads must be at least 1, got \(threads)") }
        var problem: SpectrumError?
        for (index, w) in network.weights.enumerated() where w.shape.contains(0) {
            problem = .emptyLayer(layer: index + 1, shape: w.shape)
            break
        }
        if problem == nil, knownDiagonal == true {
            for w in network.weights {
                require(w.shape[0] == w.shape[1], "JacobianSpectrumAnalyzer: knownDiagonal is true but a weight has shape \(w.shape)")
            }
        }
        let scanned = problem == nil && knownDiagonal != true
            ? JacobianSpectrumAnalyzer.scan(network.weights) : (diagonal: knownDiagonal == true, nonFinite: nil)
        isDiagonal = problem == nil && scanned.nonFinite == nil && (knownDiagonal ?? scanned.diagonal)
        diagonals = isDiagonal
            ? network.weights.map { w in (0 ..< w.shape[0]).map { w[$0, $0] } }
            : []
        if problem == nil {
            if let (layer, count) = scanned.nonFinite {
                problem = .nonFiniteWeights(layer: layer, tensor: "weight", count: count)
            } else if knownDiagonal == true,
                      let layer = diagonals.firstIndex(where: { $0.contains { !$0.isFinite } }) {
                problem = .nonFiniteWeights(layer: layer + 1, tensor: "weight", count: diagonals[layer].filter { !$0.isFinite }.count)
            } else {
                for (index, bias) in network.biases.enumerated() {
                    guard let bias else { continue }
                    let count = bias.scalars.filter { !$0.isFinite }.count
                    if count > 0 {
                        problem = .nonFiniteWeights(layer: index + 1, tensor: "bias", count: count)
                        break
                    }
                }
            }
        }
        networkProblem = problem
        let widest = ([network.inputWidth] + network.weights.map { $0.shape[0] }).max() ?? 0
        let capacity = isDiagonal || problem != nil ? 0 : widest * widest
        product = [Scalar](repeating: 0, count: capacity)
        next = [Scalar](repeating: 0, count: capacity)
        block = [Scalar](repeating: 0, count: capacity)
        singular = [Scalar](repeating: 0, count: problem != nil ? 0 : widest)
    }

    /// One pass over every weight: whether all are square and diagonal, and the first layer
    /// (1-based) holding NaN or infinity with its count.
    private static func scan(_ weights: [Tensor<Scalar>]) -> (diagonal: Bool, nonFinite: (Int, Int)?) {
        var diagonal = true
        for (index, w) in weights.enumerated() {
            let (rows, columns) = (w.shape[0], w.shape[1])
            var count = 0
            var layerDiagonal = rows == columns
            w.withUnsafeBufferPointer { e in
                for i in 0 ..< rows {
                    let row = i * columns
                    for j in 0 ..< columns {
                        let value = e[row + j]
                        if !value.isFinite { count += 1 }
                        if i != j && value != 0 { layerDiagonal = false }
                    }
                }
            }
            if count > 0 { return (false, (index + 1, count)) }
            diagonal = diagonal && layerDiagonal
        }
        return (diagonal, nil)
    }

    /// Throws what keeps the analyzer from measuring at `input`: the network's problem, an
    /// input of the wrong width, or NaN and infinity in the input. Every route checks first.
    private func check(_ input: Tensor<Scalar>) throws(SpectrumError) {
        if let networkProblem { throw networkProblem }
        guard input.shape == [network.inputWidth] else {
            throw .inputShape(shape: input.shape, networkInputWidth: network.inputWidth)
        }
        let nonFinite = input.withUnsafeBufferPointer { e in e.reduce(0) { $0 + ($1.isFinite ? 0 : 1) } }
        if nonFinite > 0 { throw .nonFiniteInput(count: nonFinite) }
    }

    /// φ'(h^l) for every layer at `input`.
    ///
    /// Throws `SpectrumError` for an input whose width is not the network's, NaN or infinity in
    /// the input, the weights or any pre-activation, and degenerate networks.
    // Specialised here: callers in other modules would otherwise run the generic code.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func derivatives(at input: Tensor<Scalar>) throws(SpectrumError) -> [[Scalar]] {
        try check(input)
        let activation = network.activation
        if isDiagonal {
            // h^l_i = W^l_ii x^{l−1}_i + b^l_i, elementwise.
            var x = input.scalars
            var result: [[Scalar]] = []
            for (l, diagonal) in diagonals.enumerated() {
                let bias = network.biases[l]?.scalars
                var d = [Scalar](repeating: 0, count: x.count)
                var nonFinite = 0
                for i in x.indices {
                    let h = diagonal[i] * x[i] + (bias?[i] ?? 0)
                    if !h.isFinite { nonFinite += 1 }
                    d[i] = activation.derivative(h)
                    x[i] = activation(h)
                }
                if nonFinite > 0 { throw .nonFinitePreActivation(layer: l + 1, count: nonFinite) }
                result.append(d)
            }
            return result
        }
        var result: [[Scalar]] = []
        for (l, h) in network.preActivations(input).enumerated() {
            let values = h.scalars
            let nonFinite = values.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
            if nonFinite > 0 { throw .nonFinitePreActivation(layer: l + 1, count: nonFinite) }
            result.append(values.map { activation.derivative($0) })
        }
        return result
    }

    /// The eigenvalues of J Jᵀ at `input`, in descending order (one per output unit).
    ///
    /// Throws `SpectrumError` for an input whose width is not the network's (input from data is
    /// checked, never trusted), NaN or infinity in the input, weights or pre-activations, a
    /// degenerate network, and a failed SVD.
    // Specialised here: callers in other modules would otherwise run the generic code.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func eigenvalues(at input: Tensor<Scalar>) throws(SpectrumError) -> [Double] {
        let d = try derivatives(at: input)
        if isDiagonal {
            var values = [Double](repeating: 1, count: network.outputWidth)
            for (diagonal, dl) in zip(diagonals, d) {
                for i in values.indices { values[i] *= Double(diagonal[i] * dl[i]) }
            }
            return values.map { $0 * $0 }.sorted(by: >)
        }
        return try withChosenThreads { () throws(SpectrumError) -> [Double] in
            let (rows, columns) = activeProduct(d)
            var values = [Double](repeating: 0, count: network.outputWidth)
            let count = min(rows, columns)
            if count > 0 {
                // Each layer's factor is finite, but their product can still overflow; LAPACK
                // would answer an infinite entry with an illegal-argument code, not a reason.
                let overflowing = product.withUnsafeMutableBufferPointer { a in
                    a[0 ..< rows * columns].reduce(0) { $1.isFinite ? $0 : $0 + 1 }
                }
                if overflowing > 0 { throw .jacobianOverflows(layers: network.layerCount, count: overflowing) }
                // The product buffer is scratch, so LAPACK may overwrite it in place.
                let info = product.withUnsafeMutableBufferPointer { a in
                    singular.withUnsafeMutableBufferPointer { s in
                        Scalar.gesdd(
                            jobz: UInt8(ascii: "N"), m: rows, n: columns, a: a.baseAddress!, lda: columns,
                            s: s.baseAddress!, u: nil, ldu: rows, vt: nil, ldvt: columns)
                    }
                }
                if info != 0 { throw .singularValueDecomposition(routine: Scalar.blasPrefix + "gesdd", info: Int(info)) }
                for i in 0 ..< count { values[i] = Double(singular[i]) * Double(singular[i]) }
            }
            return values  // gesdd returns descending values; the zeros of inactive rows follow
        }
    }

    /// The full Jacobian J (outputs × inputs) at `input`. Throws as `eigenvalues(at:)` does.
    // Specialised here: callers in other modules would otherwise run the generic code.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func jacobian(at input: Tensor<Scalar>) throws(SpectrumError) -> Tensor<Scalar> {
        let d = try derivatives(at: input)
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
        let last = d[d.count - 1]
        let active = skipsInactiveUnits ? last.indices.filter { last[$0] != 0 } : Array(last.indices)
        let (rows, columns) = withChosenThreads { activeProduct(d) }
        if rows > 0 {
            require(rows == active.count && columns == inputs,
                    "JacobianSpectrumAnalyzer: the active product is \(rows) × \(columns), expected \(active.count) × \(inputs)")
            j.withUnsafeMutableBufferPointer { e in
                for (r, i) in active.enumerated() {
                    for c in 0 ..< inputs { e[i * inputs + c] = product[r * columns + c] }
                }
            }
        }
        return j
    }

    /// Runs `body` with `threads` OpenBLAS threads when set, then restores the process-wide
    /// setting; with `threads` nil, on the process's setting, untouched.
    private func withChosenThreads<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        guard let threads else { return try body() }
        require(threads >= 1, "JacobianSpectrumAnalyzer: threads must be at least 1, got \(threads)")
        return try OpenBLAS.withThreads(threads, body)
    }

    /// The widest layer (the input included): what ``automaticThreads(width:)`` takes.
    package var widestLayer: Int { ([network.inputWidth] + network.weights.map { $0.shape[0] }).max() ?? 0 }

    public var inputCount: Int { network.inputWidth }
    public var outputCount: Int { network.outputWidth }

    /// "diagonal (J is diagonal)", "active subnetwork" (piecewise-linear φ) or "dense product".
    public var route: String {
        isDiagonal ? "diagonal (J is diagonal)" : network.activation.isPiecewiseLinear ? "active subnetwork" : "dense product"
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
            require(inner == width, "JacobianSpectrumAnalyzer: layer \(l + 1) has \(inner) active units but the product \(width) columns")
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
