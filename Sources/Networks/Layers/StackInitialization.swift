import IsometrySupport
import TensorAlgebra

/// How the weights of a layer stack's dense and convolution layers start (``LayerStack/initialize(_:sigma:sigmaB:only:using:)``,
/// ``LayerStack/init(architecture:inputShape:initialization:sigma:sigmaB:using:)``).
///
/// A weight is `[out, in]` (``Dense``) or `[out, in] + kernel` (``Conv1d``, ``Conv2d``); its
/// fan-in is `in · taps` and its fan-out `out · taps`, taps the product of the kernel's extents
/// (1 for a dense layer), as PyTorch counts them. Activations, pools and flatten have no weights
/// and are left alone.
///
/// | case | weight | σ | bias |
/// | --- | --- | --- | --- |
/// | ``pytorch`` | U(±1/√fan_in) | not used | U(±1/√fan_in) |
/// | ``he`` | N(0, 2/fan_in) | not used | 0, or N(0, σ_b²) |
/// | ``glorot`` | U(±√(6/(fan_in + fan_out))) | not used | 0, or N(0, σ_b²) |
/// | ``dirac`` | σ·δ: centre tap σ·I | the scale | 0, or N(0, σ_b²) |
/// | ``deltaOrthogonal`` | centre tap σ·H, H Haar (semi-)orthogonal | the scale | 0, or N(0, σ_b²) |
///
/// The two isometric cases need a centre tap, so every kernel extent must be odd: an even
/// kernel is refused (``StackInitializationError/evenKernel(layer:kind:kernel:initialization:)``)
/// before any weight is drawn.
public enum StackInitialization: String, Sendable, Codable, CaseIterable {
    /// PyTorch's default for `nn.Linear` and `nn.Conv1d/2d` (kaiming_uniform with a = √5):
    /// weight and bias uniform in ±1/√fan_in, the same draws as the layers' own initialisers.
    case pytorch
    /// He et al. (2015), PyTorch's `kaiming_normal_` (fan-in mode, ReLU gain): W ~ N(0, 2/fan_in).
    case he
    /// Glorot and Bengio (2010), PyTorch's `xavier_uniform_`: W ~ U(±√(6/(fan_in + fan_out))).
    case glorot
    /// σ·δ, the identity of a convolution (ISONet, Qi et al. 2020): the centre tap is σ·I and
    /// every other tap 0; a dense layer is σ·I. With in ≠ out channels it is the partial identity
    /// that PyTorch's `dirac_` (convolutions) and `eye_` (dense) write: w[i, i, centre] = σ for
    /// i < min(out, in), so extra output channels start at 0 and extra input channels are not read.
    case dirac
    /// Delta-orthogonal (Xiao et al. 2018): the centre tap is σ·H with H an out×in matrix drawn
    /// from the Haar measure, orthonormal columns when out ≥ in (HᵀH = I) and orthonormal rows
    /// when out < in (HHᵀ = I), every other tap 0; a dense layer is σ·H. At initialisation such
    /// a convolution acts on every position separately, as a dense orthogonal layer of width
    /// `out` would, so the network's mean field is the dense orthogonal network's
    /// (docs/theory.md §5).
    case deltaOrthogonal = "delta-orthogonal"

    /// Whether σ scales the weights (dirac, delta-orthogonal); the others ignore it.
    public var usesSigma: Bool { self == .dirac || self == .deltaOrthogonal }

    /// Whether the weights are drawn at random (so a seed matters).
    public var isRandom: Bool { self != .dirac }

    /// Whether a kernel needs a centre tap (odd extents).
    public var needsCentreTap: Bool { usesSigma }
}

/// Why a stack cannot be initialised as asked: one line naming the layer, its kernel or the
/// scale at fault.
public enum StackInitializationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The architecture string does not describe a stack for its input.
    case architecture(ArchitectureStringError)
    /// A Dirac or delta-orthogonal initialisation of a convolution whose kernel has an even
    /// extent, which has no centre tap.
    case evenKernel(layer: Int, kind: String, kernel: [Int], initialization: StackInitialization)
    /// σ (`sigma`, finite and > 0) or σ_b (`sigmaB`, finite and ≥ 0) out of range.
    case invalidScale(name: String, value: Double)
    /// A layer with parameters that is neither dense nor a convolution: its fan-in is unknown.
    case unsupportedLayer(layer: Int, kind: String)

    public var description: String {
        switch self {
        case .architecture(let error): error.description
        case .evenKernel(let layer, let kind, let kernel, let initialization):
            "layer \(layer) (\(kind)) has kernel \(kernel.map(String.init).joined(separator: "×")): \(initialization.rawValue) initialisation "
                + "puts the weight on the centre tap, and an even kernel has none; use odd kernels (k3, k5, …)"
        case .invalidScale(let name, let value):
            "\(name) is \(value), expected a finite number \(name == "sigmaB" ? "≥ 0" : "> 0")"
        case .unsupportedLayer(let layer, let kind):
            "layer \(layer) ('\(quotedValue(kind))') has parameters but is neither dense nor a convolution, so it has no fan-in to initialise by"
        }
    }
}

extension LayerStack {
    /// The stack an architecture string describes on `inputShape` (``ArchitectureString``),
    /// its dense and convolution layers initialised by `initialization` layer by layer in
    /// order, weight then bias, from `generator`. ``StackInitialization/pytorch`` gives exactly
    /// ``init(architecture:inputShape:using:)``'s stack.
    ///
    /// `sigma` is σ of ``StackInitialization/dirac`` and ``StackInitialization/deltaOrthogonal``
    /// (finite, > 0; the other initialisations ignore it), `sigmaB` σ_b of N(0, σ_b²) biases
    /// (finite, ≥ 0; 0: biases start at 0; PyTorch's default draws its own). Throws the
    /// string's ``ArchitectureStringError`` (wrapped), an even kernel for a centre-tap
    /// initialisation, or a scale out of range, before any weight is drawn.
    public init(
        architecture text: String, inputShape: [Int], initialization: StackInitialization, sigma: Double = 1, sigmaB: Double = 0,
        using generator: inout SeededGenerator
    ) throws(StackInitializationError) {
        try Self.checkScales(sigma: sigma, sigmaB: sigmaB)
        if initialization == .pytorch {
            do { try self.init(architecture: text, inputShape: inputShape, using: &generator) } catch { throw .architecture(error) }
            return
        }
        let architecture: LayerStackArchitecture
        do { architecture = try ArchitectureString.parse(text, inputShape: inputShape) } catch { throw .architecture(error) }
        // Kernels are checked on the descriptions, before the zero weights below are allocated.
        for (k, description) in architecture.layers.enumerated() where description.kind.hasPrefix("conv") {
            try Self.checkKernel(description.integers("kernel") ?? [], layer: k, kind: description.description, initialization: initialization)
        }
        var layers: [any Layer<Scalar>] = []
        for (k, description) in architecture.layers.enumerated() {
            // The parser built every token once already, so this cannot fail.
            guard let layer = try? Self.builtInLayer(description, index: k, path: "") else { fatalError("unbuildable \(description)") }
            layers.append(layer)
        }
        self.init(inputShape: inputShape, layers: layers)
        try initialize(initialization, sigma: sigma, sigmaB: sigmaB, using: &generator)
    }

    /// Draws every dense and convolution layer's weight and bias again by `initialization`,
    /// layer by layer in order, weight then bias, from `generator` (a bias is drawn only when
    /// σ_b > 0 or for PyTorch's default; otherwise it is set to 0). Other layers are left alone,
    /// and so are those not in `only` when it is given (layer indices, as in ``layers``): a
    /// stack can take one initialisation for some layers and another for the rest.
    ///
    /// Everything is checked before anything is drawn: the scales, an even kernel for
    /// ``StackInitialization/dirac`` or ``StackInitialization/deltaOrthogonal``, and layers
    /// with parameters that are neither dense nor convolutions (the stack is then unchanged).
    public mutating func initialize(
        _ initialization: StackInitialization, sigma: Double = 1, sigmaB: Double = 0, only: Set<Int>? = nil,
        using generator: inout SeededGenerator
    ) throws(StackInitializationError) {
        try Self.checkScales(sigma: sigma, sigmaB: sigmaB)
        for (l, layer) in layers.enumerated() where !layer.parameters.isEmpty && only?.contains(l) != false {
            let kind = layer.layerDescription.description
            guard layer is Dense<Scalar> || layer is Conv1d<Scalar> || layer is Conv2d<Scalar> else {
                throw .unsupportedLayer(layer: l, kind: layer.layerDescription.kind)
            }
            try Self.checkKernel(Array(layer.parameters[0].shape.dropFirst(2)), layer: l, kind: kind, initialization: initialization)
        }
        var fanIn = 0
        updateParameters { l, index, parameter in
            if only?.contains(l) == false { return }
            if index == 0 {
                fanIn = parameter.count / parameter.shape[0]
                parameter = Self.weight(parameter.shape, initialization, sigma: sigma, using: &generator)
            } else if initialization == .pytorch {
                let bound = 1 / Scalar(fanIn).squareRoot()
                parameter = Tensor.randomUniform(parameter.shape, in: -bound ..< bound, using: &generator)
            } else if sigmaB > 0 {
                parameter = Tensor.randomNormal(parameter.shape, standardDeviation: Scalar(sigmaB), using: &generator)
            } else {
                parameter.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            }
        }
    }

    static func checkScales(sigma: Double, sigmaB: Double) throws(StackInitializationError) {
        guard sigma.isFinite && sigma > 0 else { throw .invalidScale(name: "sigma", value: sigma) }
        guard sigmaB.isFinite && sigmaB >= 0 else { throw .invalidScale(name: "sigmaB", value: sigmaB) }
    }

    static func checkKernel(_ kernel: [Int], layer: Int, kind: String, initialization: StackInitialization) throws(StackInitializationError) {
        if initialization.needsCentreTap && kernel.contains(where: { $0 % 2 == 0 }) {
            throw .evenKernel(layer: layer, kind: kind, kernel: kernel, initialization: initialization)
        }
    }

    /// A weight of `shape` (`[out, in]` or `[out, in] + kernel`) drawn by `initialization`.
    static func weight(
        _ shape: [Int], _ initialization: StackInitialization, sigma: Double, using generator: inout SeededGenerator
    ) -> Tensor<Scalar> {
        let (out, inputs) = (shape[0], shape[1])
        let taps = shape.dropFirst(2).reduce(1, *)
        let (fanIn, fanOut) = (inputs * taps, out * taps)
        switch initialization {
        case .pytorch:
            let bound = 1 / Scalar(fanIn).squareRoot()
            return Tensor.randomUniform(shape, in: -bound ..< bound, using: &generator)
        case .he:
            // Standard normals scaled in Scalar, as `train --init he` has always drawn them.
            let scale = Scalar((2 / Double(fanIn)).squareRoot())
            var weight = Tensor<Scalar>.randomNormal(shape, using: &generator)
            weight.withUnsafeMutableBufferPointer { w in for i in w.indices { w[i] *= scale } }
            return weight
        case .glorot:
            let bound = Scalar((6 / Double(fanIn + fanOut)).squareRoot())
            return Tensor.randomUniform(shape, in: -bound ..< bound, using: &generator)
        case .dirac, .deltaOrthogonal:
            let centre = centreTap(Array(shape.dropFirst(2)))
            var weight = Tensor<Scalar>.zeros(shape)
            if initialization == .dirac {
                weight.withUnsafeMutableBufferPointer { w in
                    for i in 0 ..< min(out, inputs) { w[(i * inputs + i) * taps + centre] = Scalar(sigma) }
                }
            } else {
                let h = haarSemiOrthogonal(rows: out, columns: inputs, using: &generator)
                weight.withUnsafeMutableBufferPointer { w in
                    for o in 0 ..< out {
                        for i in 0 ..< inputs { w[(o * inputs + i) * taps + centre] = Scalar(sigma * h[o * inputs + i]) }
                    }
                }
            }
            return weight
        }
    }

    /// The flat index of the centre of an odd kernel (row-major over its extents); 0 for a
    /// dense layer's empty kernel.
    static func centreTap(_ kernel: [Int]) -> Int {
        kernel.reduce(0) { index, extent in index * extent + extent / 2 }
    }

    /// A rows×columns matrix from the Haar measure on matrices with orthonormal columns
    /// (rows ≥ columns) or rows (rows < columns), row-major, in Double: thin QR of a Gaussian
    /// matrix with each column of Q multiplied by the sign of R's diagonal (Mezzadri 2007), as
    /// PyTorch's `orthogonal_`. Drawn in Double and rounded once to the scalar type, so that a
    /// Float H is orthogonal to Float's rounding, not to the accumulated rounding of a Float QR.
    static func haarSemiOrthogonal(rows: Int, columns: Int, using generator: inout SeededGenerator) -> [Double] {
        let (m, n) = (max(rows, columns), min(rows, columns))
        let gaussian = Tensor<Double>.randomNormal([m, n], using: &generator)
        // A tall Gaussian matrix has full column rank with probability one; LAPACK cannot fail on it.
        guard let (q, r) = try? qr(gaussian) else { fatalError("haarSemiOrthogonal: QR of a \(m)×\(n) Gaussian matrix failed") }
        let (qs, rs) = (q.scalars, r.scalars)
        var h = [Double](repeating: 0, count: rows * columns)
        for i in 0 ..< m {
            for j in 0 ..< n {
                let value = rs[j * n + j] < 0 ? -qs[i * n + j] : qs[i * n + j]
                // Tall: H = Q; wide: H = Qᵀ.
                if rows >= columns { h[i * columns + j] = value } else { h[j * columns + i] = value }
            }
        }
        return h
    }
}
