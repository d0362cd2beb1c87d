import Foundation
import Networks
import TensorAlgebra
import IsometrySupport

/// Mean-field theory of signal propagation for W_ij ~ N(0, σ_w²/N), b_i ~ N(0, σ_b²)
/// (Poole et al. 2016, Schoenholz et al. 2017; docs/theory.md §2).
///
/// The pre-activation variance follows q^l = σ_w² E[φ(√q^{l−1} z)²] + σ_b², z ~ N(0, 1),
/// to a fixed point q*; χ = σ_w² E[φ'(√q* z)²] says whether gradients explode (χ > 1) or
/// vanish (χ < 1).
public struct MeanField: Sendable {
    public var activation: Activation
    public var sigmaW: Double
    public var sigmaB: Double

    public init(activation: Activation, sigmaW: Double, sigmaB: Double) {
        self.activation = activation
        self.sigmaW = sigmaW
        self.sigmaB = sigmaB
    }

    /// E[φ(√q z)²], in closed form where one exists.
    public static func secondMoment(_ activation: Activation, q: Double) -> Double {
        switch activation {
        case .hardTanh:
            let e = erf(1 / (2 * q).squareRoot())
            return q * e - (2 * q / Double.pi).squareRoot() * exp(-1 / (2 * q)) + 1 - e
        case .relu: return q / 2
        case .linear: return q
        case .erf: return 2 / Double.pi * asin(2 * q / (1 + 2 * q))
        case .tanh: return gaussianExpectation { z in pow(Foundation.tanh(q.squareRoot() * z), 2) }
        }
    }

    /// E[φ'(√q z)²].
    public static func derivativeSecondMoment(_ activation: Activation, q: Double) -> Double {
        switch activation {
        case .hardTanh: return activeFraction(activation, q: q)
        case .relu: return 0.5
        case .linear: return 1
        case .erf: return 4 / Double.pi / (1 + 4 * q).squareRoot()
        case .tanh: return gaussianExpectation { z in pow(1 - pow(Foundation.tanh(q.squareRoot() * z), 2), 2) }
        }
    }

    /// p = P(φ'(h) ≠ 0) for h ~ N(0, q): erf(1/√(2q)) for hard-tanh, ½ for ReLU, 1 otherwise.
    public static func activeFraction(_ activation: Activation, q: Double) -> Double {
        switch activation {
        case .hardTanh: erf(1 / (2 * q).squareRoot())
        case .relu: 0.5
        case .linear, .tanh, .erf: 1
        }
    }

    /// One step of the variance map.
    public func variance(after q: Double) -> Double {
        sigmaW * sigmaW * MeanField.secondMoment(activation, q: q) + sigmaB * sigmaB
    }

    /// The fixed point q* reached from `start` (for ReLU at σ_w² = 2, σ_b = 0 every q is
    /// fixed, so the start is returned). Infinity when q grows without bound.
    public func fixedPoint(from start: Double = 1) -> Double {
        var q = start
        for _ in 0 ..< 100_000 {
            let next = variance(after: q)
            if !next.isFinite || next > 1e12 { return .infinity }
            if abs(next - q) <= 1e-15 * max(1, q) { return next }
            q = next
        }
        return q
    }

    /// χ = σ_w² E[φ'(√q z)²] at q (by default at the fixed point).
    public func chi(at q: Double? = nil) -> Double {
        sigmaW * sigmaW * MeanField.derivativeSecondMoment(activation, q: q ?? fixedPoint())
    }

    /// The point of the χ = 1 line whose fixed point is q:
    /// σ_w² = 1/E[φ'(√q z)²], σ_b² = q − σ_w² E[φ(√q z)²].
    public static func criticalPoint(_ activation: Activation, fixedPoint q: Double) -> (sigmaW2: Double, sigmaB2: Double) {
        let sigmaW2 = 1 / derivativeSecondMoment(activation, q: q)
        return (sigmaW2, q - sigmaW2 * secondMoment(activation, q: q))
    }
}

// MARK: Inputs at the fixed point

extension MeanField {
    /// `count` inputs of `width` coordinates x_i = φ(h_i), h_i ~ N(0, q) i.i.d.: what a layer
    /// whose pre-activations have variance q outputs. Drawn coordinate by coordinate, input by
    /// input, from `generator`.
    public static func inputs<Scalar: BLASScalar>(
        activation: Activation, variance q: Double, width: Int, count: Int,
        as _: Scalar.Type = Scalar.self, using generator: inout SeededGenerator
    ) -> [Tensor<Scalar>] {
        require(width >= 1 && count >= 0, "MeanField.inputs: width must be at least 1 and count non-negative, got \(width) and \(count)")
        require(q.isFinite && q >= 0, "MeanField.inputs: the variance must be finite and non-negative, got \(q)")
        return (0 ..< count).map { _ in
            Tensor<Scalar>.randomNormal([width], standardDeviation: Scalar(q.squareRoot()), using: &generator)
                .map { activation($0) }
        }
    }

    /// `count` inputs at the mean-field fixed point: x_i = φ(h_i), h_i ~ N(0, q*), as if each
    /// were the output of a layer already at the fixed point. Fed to a network with these σ_w,
    /// σ_b, every pre-activation then has variance q* (as free probability assumes), since
    /// σ_w² E[x_i²] + σ_b² = σ_w² E[φ(√q* z)²] + σ_b² = q*.
    ///
    /// `start` is where the search for q* begins (it matters only where every q is fixed, as
    /// for ReLU at σ_w² = 2, σ_b = 0: then q* = start). Throws `SpectrumError.noFixedPoint`
    /// when the variance map grows without bound.
    public func fixedPointInputs<Scalar: BLASScalar>(
        width: Int, count: Int, start: Double = 1, as _: Scalar.Type = Scalar.self,
        using generator: inout SeededGenerator
    ) throws(SpectrumError) -> [Tensor<Scalar>] {
        let q = fixedPoint(from: start)
        guard q.isFinite else { throw .noFixedPoint(activation: activation, sigmaW: sigmaW, sigmaB: sigmaB) }
        return MeanField.inputs(activation: activation, variance: q, width: width, count: count, using: &generator)
    }

    /// `MeanField(activation:sigmaW:sigmaB:).fixedPointInputs(width:count:start:using:)`.
    public static func fixedPointInputs<Scalar: BLASScalar>(
        activation: Activation, sigmaW: Double, sigmaB: Double = 0, width: Int, count: Int, start: Double = 1,
        as _: Scalar.Type = Scalar.self, using generator: inout SeededGenerator
    ) throws(SpectrumError) -> [Tensor<Scalar>] {
        try MeanField(activation: activation, sigmaW: sigmaW, sigmaB: sigmaB)
            .fixedPointInputs(width: width, count: count, start: start, using: &generator)
    }
}
