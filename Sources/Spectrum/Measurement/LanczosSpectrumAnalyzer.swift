import Networks
import TensorAlgebra
import IsometrySupport

/// The spectrum measurement by stochastic Lanczos quadrature behind the analyzers' protocol,
/// so that the experiment, its report, table and figure take it as they take a dense one.
///
/// ``eigenvalues(at:)`` returns the estimate's quantile eigenvalues
/// (``LanczosSpectrum/quantileEigenvalues``): the exact zeros, then the non-zero part's
/// quantiles, `outputCount` values distributed as the estimate. They are not the individual
/// eigenvalues (SLQ does not resolve them); statistics of the distribution (means, fractions,
/// quantiles, the histogram) carry the quadrature and probe error stated in docs/theory.md §7.
/// ``lastSpectrum`` keeps the estimate itself (nodes, weights, λ_max, moments).
public final class LanczosSpectrumAnalyzer<Scalar: BLASScalar>: JacobianSpectrumMeasuring {
    public let quadrature: StochasticLanczosQuadrature<Scalar>
    public var inputCount: Int { quadrature.inputCount }
    public var outputCount: Int { quadrature.outputCount }
    public var threads: Int? {
        get { quadrature.threads }
        set { quadrature.threads = newValue }
    }
    /// The estimate at the last input measured.
    public private(set) var lastSpectrum: LanczosSpectrum?

    public init(quadrature: StochasticLanczosQuadrature<Scalar>) {
        self.quadrature = quadrature
    }

    public var route: String {
        "stochastic Lanczos quadrature, matrix-free (\(quadrature.steps) steps × \(quadrature.probes) probes, full reorthogonalisation; eigenvalues are the estimate's quantiles)"
    }

    public func eigenvalues(at input: Tensor<Scalar>) throws(SpectrumError) -> [Double] {
        let spectrum = try quadrature.spectrum(at: input)
        lastSpectrum = spectrum
        return spectrum.quantileEigenvalues
    }

    /// J formed column by column through the operator (n forward products in blocks of
    /// `probes`): for checks on small networks; the point of this analyzer is not to form it.
    public func jacobian(at input: Tensor<Scalar>) throws(SpectrumError) -> Tensor<Scalar> {
        let k = quadrature.probes
        let op = try JacobianOperator(stack: quadrature.stack, at: input, blockSize: k)
        let (n, m) = (op.inputCount, op.outputCount)
        var result = Tensor<Scalar>.zeros([m, n])
        var block = Tensor<Scalar>.zeros([k, n]), image = Tensor<Scalar>.zeros([k, m])
        for first in stride(from: 0, to: n, by: k) {
            block.withUnsafeMutableBufferPointer { b in
                b.update(repeating: 0)
                for r in 0 ..< min(k, n - first) { b[r * n + first + r] = 1 }
            }
            op.apply(block, into: &image)
            image.withUnsafeBufferPointer { y in
                result.withUnsafeMutableBufferPointer { j in
                    for r in 0 ..< min(k, n - first) {
                        for i in 0 ..< m { j[i * n + first + r] = y[r * m + i] }
                    }
                }
            }
        }
        return result
    }
}
