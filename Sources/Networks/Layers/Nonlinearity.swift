import RealModule
import TensorAlgebra

/// A pointwise nonlinearity of an ``ActivationLayer``: the cases of ``Activation`` plus leaky
/// ReLU, whose slope makes it a value with a parameter (so a new type rather than a new case
/// of the raw-valued `Activation` the checkpoints of the identity classifier name).
public enum Nonlinearity: Hashable, Sendable, CustomStringConvertible {
    /// clip(h, −1, 1).
    case hardTanh
    /// max(h, 0).
    case relu
    /// h for h > 0, slope·h otherwise (PyTorch's `LeakyReLU`, default slope 0.01).
    case leakyReLU(slope: Double)
    case tanh
    case erf
    /// h.
    case identity

    /// The same function as an ``Activation`` (`.linear` becomes `.identity`).
    @inlinable
    public init(_ activation: Activation) {
        switch activation {
        case .hardTanh: self = .hardTanh
        case .relu: self = .relu
        case .tanh: self = .tanh
        case .erf: self = .erf
        case .linear: self = .identity
        }
    }

    /// Parses "relu", "hard-tanh", "tanh", "erf", "identity" (or "linear"), "leaky-relu"
    /// (slope 0.01) or "leaky-relu:0.2".
    public init?(name: String) {
        switch name {
        case "relu": self = .relu
        case "hard-tanh", "hardtanh": self = .hardTanh
        case "tanh": self = .tanh
        case "erf": self = .erf
        case "identity", "linear": self = .identity
        case "leaky-relu": self = .leakyReLU(slope: 0.01)
        default:
            guard name.hasPrefix("leaky-relu:"), let slope = Double(name.dropFirst("leaky-relu:".count)), slope.isFinite
            else { return nil }
            self = .leakyReLU(slope: slope)
        }
    }

    /// The name ``init(name:)`` reads back.
    public var description: String {
        switch self {
        case .hardTanh: "hard-tanh"
        case .relu: "relu"
        case .leakyReLU(let slope): "leaky-relu:\(slope)"
        case .tanh: "tanh"
        case .erf: "erf"
        case .identity: "identity"
        }
    }

    /// The kind of its layer description ("leaky-relu" keeps its slope as an attribute).
    public var kind: String {
        if case .leakyReLU = self { return "leaky-relu" }
        return description
    }

    /// Whether the function is affine on each of finitely many pieces, so a stack of such
    /// layers and affine layers is exactly W(x)·x + b(x) with W, b constant on each region.
    public var isPiecewiseLinear: Bool {
        switch self {
        case .hardTanh, .relu, .leakyReLU, .identity: true
        case .tanh, .erf: false
        }
    }

    @inlinable
    public func callAsFunction<Scalar: BLASScalar>(_ h: Scalar) -> Scalar {
        switch self {
        case .hardTanh: Swift.min(Swift.max(h, -1), 1)
        case .relu: Swift.max(h, 0)
        case .leakyReLU(let slope): h > 0 ? h : Scalar(slope) * h
        case .tanh: Scalar.tanh(h)
        case .erf: Scalar.erf(h)
        case .identity: h
        }
    }

    /// φ′(h), with the conventions of PyTorch's autograd at the kinks (0 at h = 0 for ReLU,
    /// 0 at |h| = 1 for hard-tanh, the slope at h = 0 for leaky ReLU).
    @inlinable
    public func derivative<Scalar: BLASScalar>(_ h: Scalar) -> Scalar {
        switch self {
        case .hardTanh: return Swift.abs(h) < 1 ? 1 : 0
        case .relu: return h > 0 ? 1 : 0
        case .leakyReLU(let slope): return h > 0 ? 1 : Scalar(slope)
        case .tanh:
            let t = Scalar.tanh(h)
            return 1 - t * t
        case .erf: return 2 / Scalar.sqrt(Scalar.pi) * Scalar.exp(-h * h)
        case .identity: return 1
        }
    }
}
