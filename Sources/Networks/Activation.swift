import RealModule
import TensorAlgebra

/// The pointwise nonlinearity φ of every layer, with its derivative φ'.
public enum Activation: String, CaseIterable, Sendable, Codable {
    /// φ(h) = clip(h, −1, 1); φ' = 1 on |h| < 1, else 0.
    case hardTanh = "hard-tanh"
    /// φ(h) = max(h, 0); φ' = 1 on h > 0, else 0.
    case relu
    case tanh
    /// φ(h) = erf(h), whose mean-field integrals have closed forms.
    case erf
    case linear

    /// Whether φ' only takes the values 0 and 1, so units are either passing or switched off
    /// and the Jacobian keeps only the active subnetwork.
    public var isPiecewiseLinear: Bool {
        switch self {
        case .hardTanh, .relu, .linear: true
        case .tanh, .erf: false
        }
    }

    /// φ(h): the same function as ``Nonlinearity`` (one definition of each activation).
    @inlinable
    public func callAsFunction<Scalar: BLASScalar>(_ h: Scalar) -> Scalar { Nonlinearity(self)(h) }

    /// φ′(h), as ``Nonlinearity/derivative(_:)`` defines it.
    @inlinable
    public func derivative<Scalar: BLASScalar>(_ h: Scalar) -> Scalar { Nonlinearity(self).derivative(h) }
}
