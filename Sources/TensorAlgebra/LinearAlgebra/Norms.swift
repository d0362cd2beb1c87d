// Norms, named as in numpy.linalg.norm and mlx: the Frobenius (flattened 2-) norm by default,
// the spectral and nuclear norms of a matrix through its singular values, and the 2-norm
// along one axis.
//
// Two-norms are computed as s·√Σ(x/s)² with s = max |x|, as LAPACK's `?nrm2` does, so that
// squaring neither overflows for large entries nor underflows to zero for tiny ones.

/// Which norm of a matrix ``norm(_:_:)`` computes.
public enum MatrixNorm: Sendable, Hashable {
    /// √Σ aᵢⱼ², the 2-norm of the elements (numpy's `ord=None` / `'fro'`).
    case frobenius
    /// The largest singular value, the operator 2-norm (numpy's `ord=2`).
    case spectral
    /// The sum of the singular values (numpy's `ord='nuc'`).
    case nuclear
}

/// √Σ x² over `count` elements `stride` apart, scaled against overflow; NaN if any is NaN.
@usableFromInline
func scaledTwoNorm<Scalar: BLASScalar>(_ x: UnsafePointer<Scalar>, count: Int, stride: Int) -> Scalar {
    var largest: Scalar = 0
    for k in 0 ..< count {
        let value = x[k * stride].magnitude
        if value.isNaN { return .nan }
        if value > largest { largest = value }
    }
    if largest == 0 || largest.isInfinite { return largest }
    var sum: Scalar = 0
    for k in 0 ..< count {
        let scaled = x[k * stride] / largest
        sum += scaled * scaled
    }
    return largest * sum.squareRoot()
}

/// The Frobenius norm √Σ x² of a tensor of any rank: the 2-norm of all its elements, as
/// numpy.linalg.norm without `ord` or `axis`.
public func norm<Scalar>(_ x: Tensor<Scalar>) -> Scalar {
    x.withUnsafeBufferPointer { scaledTwoNorm($0.baseAddress!, count: $0.count, stride: 1) }
}

/// The Frobenius, spectral or nuclear norm of a matrix; the last two take its singular
/// values (LAPACK `?gesdd`), whose failure to converge is thrown.
public func norm<Scalar>(_ a: Tensor<Scalar>, _ kind: MatrixNorm) throws(LAPACKError) -> Scalar {
    requireMatrix(a, "norm")
    switch kind {
    case .frobenius:
        return norm(a)
    case .spectral:
        let values = try singularValues(a)
        return values.count == 0 ? 0 : values[0]
    case .nuclear:
        return try singularValues(a).sum()
    }
}

/// The 2-norm √Σ x² of each lane along `axis` (negative counts from the end), which is removed
/// from the shape, as numpy.linalg.norm(x, axis: axis).
public func norm<Scalar>(_ x: Tensor<Scalar>, alongAxis axis: Int) -> Tensor<Scalar> {
    x.reduceLanes(axis, "norm") { lane, stride, extent in
        scaledTwoNorm(lane, count: extent, stride: stride)
    }
}
