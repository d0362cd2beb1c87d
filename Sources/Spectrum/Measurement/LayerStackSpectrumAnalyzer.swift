import Networks
@_spi(RawBLAS) import TensorAlgebra
import IsometrySupport

/// What the spectrum experiment needs of an analyzer: J at an input and the eigenvalues of
/// J Jᵀ there. Both analyzers conform, so one measurement loop serves every network.
///
/// Why two analyzers behind one protocol, and not one analyzer of stacks only.
/// ``JacobianSpectrumAnalyzer`` knows its network is a `MultilayerPerceptron`: square or not,
/// every layer is W then φ, so it can take the *diagonal* route (identity weights: O(N·L),
/// no BLAS at all) and the *active subnetwork* route (drop the rows of units with φ′ = 0
/// before multiplying: an eighth of the dense arithmetic per ReLU layer). Those routes are
/// what the theory comparisons, sweeps and the study run millions of times, and their numbers
/// are the project's reference values; they stay as they are. ``LayerStackSpectrumAnalyzer``
/// is the general path: any `LayerStack` (dense layers of any shape, any activation, flatten,
/// and any layer a user writes), through the stack's own matrix-free J·v and Jᵀ·u, with no
/// knowledge of which layers it holds. A stack that *is* an identity classifier
/// (`LayerStack(classifier.network)`) gives the same eigenvalues through either (a test
/// checks it to 1e-10 in float64).
public protocol JacobianSpectrumMeasuring<Scalar>: AnyObject {
    associatedtype Scalar: BLASScalar
    /// Scalars in one input (the flattened input shape).
    var inputCount: Int { get }
    /// Outputs of the network: the eigenvalues of J Jᵀ per input.
    var outputCount: Int { get }
    /// OpenBLAS threads for the products and the SVD; nil leaves the process-wide setting
    /// alone (a library call changes it only when its caller asks).
    var threads: Int? { get set }
    /// How J and its spectrum are computed, in words (reports print it).
    var route: String { get }
    /// The eigenvalues of J Jᵀ at `input`, descending, `outputCount` of them.
    func eigenvalues(at input: Tensor<Scalar>) throws(SpectrumError) -> [Double]
    /// J at `input`, `[outputCount, inputCount]`.
    func jacobian(at input: Tensor<Scalar>) throws(SpectrumError) -> Tensor<Scalar>
}

/// The spectrum of J Jᵀ of any `LayerStack`, J = ∂(stack output)/∂(input) at one input over
/// the flattened shapes: the logits when the last layer is affine (no output activation unless
/// the stack has one), rectangular layers, piecewise-linear or smooth activations.
///
/// How: one forward pass keeps every layer's pattern; then J is formed from the side with
/// fewer dimensions — m reverse-mode products Jᵀ·e_i (the rows of J) when the output is the
/// narrower side, as for a classifier (10 outputs, 784 inputs: 10 directions through the
/// stack rather than 784), or n forward-mode products J·e_j otherwise — all directions of one
/// pass as one batched product per layer. The eigenvalues are the squared singular values of
/// J from LAPACK's `gesdd` on J itself, never the Gram matrix: forming J Jᵀ squares the
/// condition number, so eigenvalues below ε·λ_max would be lost in rounding. Measured
/// (docs/spectrum.md, "Any network"): for a 10 × 784 J gesdd is also the faster (11.0 against
/// 13.3 ms with J's formation); for a square 794 × 794 J the Gram route would save a quarter.
/// When m > n, J Jᵀ has m − n zero eigenvalues beyond the n singular values; they are
/// returned as zeros, as ``JacobianSpectrumAnalyzer`` returns those of inactive units.
///
/// The workspace, the seed directions and the SVD's scratch are allocated once per analyzer:
/// measuring at another input allocates no tensor storage. One analyzer is not to be used by
/// two threads at once; make one per task (they share the stack's weights, copy-on-write).
public final class LayerStackSpectrumAnalyzer<Scalar: BLASScalar>: JacobianSpectrumMeasuring {
    public let stack: LayerStack<Scalar>
    public let inputCount: Int
    public let outputCount: Int
    /// OpenBLAS threads; nil (default) leaves the process-wide setting as it is.
    public var threads: Int?
    /// Why the stack cannot be analysed (NaN or infinite parameters), thrown by every measurement.
    public let networkProblem: SpectrumError?
    /// Whether J is formed by reverse mode (rows, m ≤ n) or forward mode (columns).
    package let usesReverseMode: Bool
    private let workspace: LayerStackWorkspace<Scalar>
    private let seeds: Tensor<Scalar>
    private var scratch: [Scalar]
    private var singular: [Scalar]

    /// `threads`: as ``threads``; must be at least 1 when given.
    public init(stack: LayerStack<Scalar>, threads: Int? = nil) {
        if let threads { require(threads >= 1, "LayerStackSpectrumAnalyzer: threads must be at least 1, got \(threads)") }
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
        usesReverseMode = outputCount <= inputCount
        let directions = min(inputCount, outputCount)
        workspace = stack.makeWorkspace(batchSize: 1, tangentCount: directions)
        seeds = Tensor<Scalar>.identity(directions)
            .reshaped([directions] + (usesReverseMode ? stack.outputShape : stack.inputShape))
        scratch = [Scalar](repeating: 0, count: inputCount * outputCount)
        singular = [Scalar](repeating: 0, count: directions)
    }

    public var route: String {
        usesReverseMode ? "layer stack: J by \(outputCount) reverse-mode products, gesdd on J"
            : "layer stack: J by \(inputCount) forward-mode products, gesdd on J"
    }

    /// The stack's input at `input`: its own shape, or any shape of as many scalars (a
    /// flattened image for a `[1, 28, 28]` stack); throws for another count or NaN and infinity.
    private func checkedInput(_ input: Tensor<Scalar>) throws(SpectrumError) -> Tensor<Scalar> {
        if let networkProblem { throw networkProblem }
        guard input.count == inputCount else { throw .inputShape(shape: input.shape, networkInputWidth: inputCount) }
        let nonFinite = input.withUnsafeBufferPointer { e in e.reduce(0) { $0 + ($1.isFinite ? 0 : 1) } }
        if nonFinite > 0 { throw .nonFiniteInput(count: nonFinite) }
        return input.reshaped([1] + stack.inputShape)
    }

    /// Runs the forward pass and leaves J (m ≤ n: J row-major, m × n) or Jᵀ (n × m) in
    /// `scratch`; returns its rows and columns. Throws when a layer's output or J overflows.
    private func formJacobian(_ input: Tensor<Scalar>) throws(SpectrumError) -> (rows: Int, columns: Int) {
        let x = try checkedInput(input)
        stack.forward(x, in: workspace)
        // A layer's output holding NaN or infinity: the weights overflow at this input.
        for l in 0 ..< stack.layerCount {
            let count = workspace.activations[l + 1].withUnsafeBufferPointer { $0.reduce(0) { $1.isFinite ? $0 : $0 + 1 } }
            if count > 0 { throw .nonFinitePreActivation(layer: l, count: count) }
        }
        let result: Tensor<Scalar>
        if usesReverseMode {
            stack.vjp(seeds, in: workspace)
            result = workspace.inputGradient   // row i = Jᵀ·e_i = row i of J
        } else {
            stack.jvp(seeds, in: workspace)
            result = workspace.tangentOutput   // row j = J·e_j = column j of J
        }
        let overflowing = result.withUnsafeBufferPointer { e in
            scratch.withUnsafeMutableBufferPointer { s in
                var count = 0
                for i in 0 ..< e.count {
                    s[i] = e[i]
                    if !e[i].isFinite { count += 1 }
                }
                return count
            }
        }
        if overflowing > 0 { throw .jacobianOverflows(layers: stack.layerCount, count: overflowing) }
        return usesReverseMode ? (outputCount, inputCount) : (inputCount, outputCount)
    }

    /// The eigenvalues of J Jᵀ at `input`, descending, one per output.
    ///
    /// Throws `SpectrumError` for an input of another size or holding NaN or infinity, a stack
    /// with NaN or infinite parameters, a layer output or J that overflows, and a failed SVD.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func eigenvalues(at input: Tensor<Scalar>) throws(SpectrumError) -> [Double] {
        try withThreads { () throws(SpectrumError) -> [Double] in
            let (rows, columns) = try formJacobian(input)
            // scratch is ours, so gesdd may overwrite it in place.
            let info = scratch.withUnsafeMutableBufferPointer { a in
                singular.withUnsafeMutableBufferPointer { s in
                    Scalar.gesdd(jobz: UInt8(ascii: "N"), m: rows, n: columns, a: a.baseAddress!, lda: columns,
                                 s: s.baseAddress!, u: nil, ldu: rows, vt: nil, ldvt: columns)
                }
            }
            if info != 0 { throw .singularValueDecomposition(routine: Scalar.blasPrefix + "gesdd", info: info) }
            var values = [Double](repeating: 0, count: outputCount)
            for i in singular.indices { values[i] = Double(singular[i]) * Double(singular[i]) }
            return values   // gesdd returns descending values; the m − n zeros (m > n) follow
        }
    }

    /// J at `input`, `[outputCount, inputCount]` over the flattened shapes. Throws as
    /// ``eigenvalues(at:)`` does (but for the SVD).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func jacobian(at input: Tensor<Scalar>) throws(SpectrumError) -> Tensor<Scalar> {
        try withThreads { () throws(SpectrumError) -> Tensor<Scalar> in
            let (rows, columns) = try formJacobian(input)
            let formed = Tensor<Scalar>(shape: [rows, columns], scalars: Array(scratch[0 ..< rows * columns]))
            return usesReverseMode ? formed : formed.transposed()
        }
    }

    /// `body` on ``threads`` OpenBLAS threads when set (restoring the process-wide setting
    /// after), on the process's setting otherwise.
    private func withThreads<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        guard let threads else { return try body() }
        return try OpenBLAS.withThreads(threads, body)
    }
}
