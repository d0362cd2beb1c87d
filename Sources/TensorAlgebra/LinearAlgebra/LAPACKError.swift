/// LAPACK reported `info ≠ 0`: which routine, and what went wrong in the data.
///
/// Positive `info` means something different for each routine family, so it is decoded here
/// once: a zero pivot in an LU factorisation is a singular matrix, a non-positive leading minor
/// in a Cholesky factorisation is a matrix that is not positive definite, anything else from
/// an iterative routine (SVD, eigen, least squares) did not converge. Negative `info` is an
/// argument LAPACK rejected. NaN or infinite input never reaches LAPACK: it is refused first
/// (``nonFiniteInput(routine:operand:count:)``), since with it `?gesdd` can iterate forever
/// and the other routines return NaN or infinity as if they were answers.
public enum LAPACKError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Argument `index` (1-based, in LAPACK's argument order) had an illegal value.
    case illegalArgument(routine: String, index: Int)
    /// U(pivot, pivot) of the LU factorisation is exactly zero (1-based, as LAPACK counts):
    /// the matrix is singular, so there is no solution or inverse.
    case singularMatrix(routine: String, pivot: Int)
    /// The leading minor of this order (1-based) is not positive: the matrix is not positive
    /// definite, so it has no Cholesky factor.
    case notPositiveDefinite(routine: String, order: Int)
    /// An iterative algorithm did not converge; `info` is LAPACK's count of what was left over.
    case didNotConverge(routine: String, info: Int)
    /// The `operand` ("matrix" or "right-hand side") holds `count` NaN or infinite values;
    /// LAPACK was not called (``info`` is 0).
    case nonFiniteInput(routine: String, operand: String, count: Int)

    /// Decodes LAPACK's `info` (non-zero) for `routine` (with its precision prefix, e.g.
    /// "dgetrf"): getrf, getri, gesv → singular; potrf → not positive definite; others → did not converge.
    public init(routine: String, info: Int) {
        if info < 0 {
            self = .illegalArgument(routine: routine, index: -info)
            return
        }
        switch routine.dropFirst() {
        case "getrf", "getri", "gesv": self = .singularMatrix(routine: routine, pivot: info)
        case "potrf": self = .notPositiveDefinite(routine: routine, order: info)
        default: self = .didNotConverge(routine: routine, info: info)
        }
    }

    /// The routine, with its precision prefix, e.g. "dgesdd".
    public var routine: String {
        switch self {
        case .illegalArgument(let routine, _), .singularMatrix(let routine, _),
             .notPositiveDefinite(let routine, _), .didNotConverge(let routine, _),
             .nonFiniteInput(let routine, _, _):
            return routine
        }
    }

    /// LAPACK's `info` as the routine returned it.
    public var info: Int {
        switch self {
        case .illegalArgument(_, let index): return -index
        case .singularMatrix(_, let pivot): return pivot
        case .notPositiveDefinite(_, let order): return order
        case .didNotConverge(_, let info): return info
        case .nonFiniteInput: return 0
        }
    }

    public var description: String {
        switch self {
        case .illegalArgument(let routine, let index):
            return "\(routine) failed: argument \(index) had an illegal value (info = \(-index))"
        case .singularMatrix(let routine, let pivot):
            return "\(routine) failed: the matrix is singular, U(\(pivot),\(pivot)) is exactly zero (info = \(pivot))"
        case .notPositiveDefinite(let routine, let order):
            return "\(routine) failed: the matrix is not positive definite, its leading minor of order \(order) is not positive (info = \(order))"
        case .didNotConverge(let routine, let info):
            return "\(routine) failed to converge (info = \(info))"
        case .nonFiniteInput(let routine, let operand, let count):
            return "\(routine): the \(operand) holds \(count) NaN or infinite value\(count == 1 ? "" : "s")"
        }
    }
}

@usableFromInline
func checkLAPACK<Scalar: BLASScalar>(_ info: Int, _ name: String, _: Scalar.Type) throws(LAPACKError) {
    if info != 0 { throw LAPACKError(routine: Scalar.blasPrefix + name, info: info) }
}

/// Refuses NaN and ±infinity before LAPACK sees them: one pass over the input, cheap next to
/// any decomposition, where `?gesdd` would otherwise spin forever on an infinity and the others
/// would hand back NaN as a result.
@usableFromInline
func checkFinite<Scalar: BLASScalar>(
    _ input: Tensor<Scalar>, _ name: String, _ operand: String = "matrix"
) throws(LAPACKError) {
    let count = input.nonFiniteCount
    if count > 0 { throw .nonFiniteInput(routine: Scalar.blasPrefix + name, operand: operand, count: count) }
}
