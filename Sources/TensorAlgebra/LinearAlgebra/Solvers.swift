// Linear systems, least squares, inverses and determinants through LAPACK, named as in
// numpy.linalg and mlx: solve, lstsq, inv, cholesky, det, slogdet, pinv.
//
// Every input is copied before LAPACK sees it, since LAPACK overwrites its arguments and
// tensors are values. Shape misuse is a bug in the caller and stops with both shapes in the
// message (fatalError, which keeps its message in release builds, unlike precondition); what
// comes from the data (a singular or indefinite matrix, NaN or infinite input) throws a
// `LAPACKError` that says which.

@usableFromInline
func requireSquare<Scalar>(_ a: Tensor<Scalar>, _ operation: StaticString) {
    if a.rank != 2 || a.shape[0] != a.shape[1] {
        fatalError("\(operation): needs a square matrix, got shape \(a.shape)")
    }
}

/// The solution x of a·x = b for a square `a` (LAPACK `?gesv`, LU with partial pivoting);
/// `b` is a vector [n] or a matrix [n, k] of k right-hand sides, and x has b's shape.
public func solve<Scalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>) throws(LAPACKError) -> Tensor<Scalar> {
    requireSquare(a, "solve")
    let n = a.shape[0]
    if !(b.rank == 1 || b.rank == 2) || b.shape[0] != n {
        fatalError("solve: a has shape \(a.shape) but b has shape \(b.shape); b needs \(n) rows")
    }
    let rightHandSides = b.rank == 1 ? 1 : b.shape[1]
    try checkFinite(a, "gesv")
    try checkFinite(b, "gesv", "right-hand side")
    var x = b
    if n == 0 || rightHandSides == 0 { return x }
    var factors = a
    var pivots = [Int32](repeating: 0, count: n)
    let info = factors.withUnsafeMutableBufferPointer { lu in
        x.withUnsafeMutableBufferPointer { solution in
            Scalar.gesv(
                n: n, nrhs: rightHandSides, a: lu.baseAddress!, lda: n, ipiv: &pivots,
                b: solution.baseAddress!, ldb: rightHandSides)
        }
    }
    try checkLAPACK(info, "gesv", Scalar.self)
    return x
}

/// The least-squares solution of a·x ≈ b by SVD (LAPACK `?gelsd`), as numpy.linalg.lstsq.
///
/// For an m×n `a` and `b` of shape [m] or [m, k]: `solution` (shape [n] or [n, k]) minimises
/// ‖b − a·x‖₂ and, among minimisers, ‖x‖₂. `residuals` holds ‖b − a·x‖₂² per column (shape [1]
/// for a vector `b`, [k] otherwise) when `a` has full column rank and m > n, and is empty
/// otherwise. Singular values ≤ `rcond`·s₀ count as zero when finding `rank`; the default
/// max(m, n)·ε is numpy's. `singularValues` are those of `a`, largest first.
public func lstsq<Scalar>(
    _ a: Tensor<Scalar>, _ b: Tensor<Scalar>, rcond: Scalar? = nil
) throws(LAPACKError) -> (
    solution: Tensor<Scalar>, residuals: Tensor<Scalar>, rank: Int, singularValues: Tensor<Scalar>
) {
    requireMatrix(a, "lstsq")
    let (m, n) = (a.shape[0], a.shape[1])
    if !(b.rank == 1 || b.rank == 2) || b.shape[0] != m {
        fatalError("lstsq: a has shape \(a.shape) but b has shape \(b.shape); b needs \(m) rows")
    }
    try checkFinite(a, "gelsd")
    try checkFinite(b, "gelsd", "right-hand side")
    let isVector = b.rank == 1
    let k = isVector ? 1 : b.shape[1]
    let solutionShape = isVector ? [n] : [n, k]
    let cutoff = rcond ?? Scalar.ulpOfOne * Scalar(Swift.max(m, n))
    // gelsd writes x over b, which must have room for max(m, n) rows.
    let height = Swift.max(m, n)
    var work = Tensor<Scalar>.zeros([height, k])
    var values = Tensor<Scalar>.zeros([Swift.min(m, n)])
    var rank = 0
    if m > 0 && n > 0 && k > 0 {
        work.withUnsafeMutableBufferPointer { target in
            b.withUnsafeBufferPointer { source in
                target.baseAddress!.update(from: source.baseAddress!, count: m * k)
            }
        }
        var matrix = a
        let info = matrix.withUnsafeMutableBufferPointer { elements in
            work.withUnsafeMutableBufferPointer { rightHandSides in
                values.withUnsafeMutableBufferPointer { singular in
                    Scalar.gelsd(
                        m: m, n: n, nrhs: k, a: elements.baseAddress!, lda: n,
                        b: rightHandSides.baseAddress!, ldb: k, s: singular.baseAddress!,
                        rcond: cutoff, rank: &rank)
                }
            }
        }
        try checkLAPACK(info, "gelsd", Scalar.self)
    } else if m > 0 && n > 0 {
        // No right-hand sides: the singular values and rank still mean something.
        values = try singularValues(a)
        let largest = values.count > 0 ? values[0] : 0
        rank = values.scalars.filter { $0 > cutoff * largest }.count
    }
    let solution = Tensor(shape: solutionShape, scalars: Array(work.scalars.prefix(n * k)))
    // Rows n..<m of gelsd's output are Uᵀb beyond the range of a: their squares are the
    // residual, as numpy reports it, and only meaningful at full column rank.
    var residuals = Tensor<Scalar>.zeros([0])
    if rank == n && m > n {
        residuals = Tensor.zeros([k])
        work.withUnsafeBufferPointer { rows in
            residuals.withUnsafeMutableBufferPointer { sums in
                for i in n ..< m {
                    for j in 0 ..< k { sums[j] += rows[i * k + j] * rows[i * k + j] }
                }
            }
        }
    }
    return (solution, residuals, rank, values)
}

/// The inverse of a square matrix (LAPACK `?getrf` then `?getri`). Prefer ``solve(_:_:)``
/// to multiplying by an inverse: it is cheaper and more accurate.
public func inv<Scalar>(_ a: Tensor<Scalar>) throws(LAPACKError) -> Tensor<Scalar> {
    requireSquare(a, "inv")
    try checkFinite(a, "getrf")
    let n = a.shape[0]
    var result = a
    if n == 0 { return result }
    var pivots = [Int32](repeating: 0, count: n)
    let factorInfo = result.withUnsafeMutableBufferPointer { elements in
        Scalar.getrf(m: n, n: n, a: elements.baseAddress!, lda: n, ipiv: &pivots)
    }
    try checkLAPACK(factorInfo, "getrf", Scalar.self)
    let inverseInfo = result.withUnsafeMutableBufferPointer { elements in
        Scalar.getri(n: n, a: elements.baseAddress!, lda: n, ipiv: pivots)
    }
    try checkLAPACK(inverseInfo, "getri", Scalar.self)
    return result
}

/// The Cholesky factor of a symmetric positive definite matrix (LAPACK `?potrf`): lower
/// triangular L with a = L·Lᵀ, or with `upper` the upper triangular U = Lᵀ with a = Uᵀ·U.
/// Only that triangle of `a` is read; the other triangle of the result is zero.
public func cholesky<Scalar>(_ a: Tensor<Scalar>, upper: Bool = false) throws(LAPACKError) -> Tensor<Scalar> {
    requireSquare(a, "cholesky")
    // The whole matrix, though potrf reads one triangle (see symmetricEigen).
    try checkFinite(a, "potrf")
    let n = a.shape[0]
    var factor = a
    if n == 0 { return factor }
    let info = factor.withUnsafeMutableBufferPointer { elements in
        Scalar.potrf(lower: !upper, n: n, a: elements.baseAddress!, lda: n)
    }
    try checkLAPACK(info, "potrf", Scalar.self)
    // potrf leaves the other triangle as it found it: clear it so the result is the factor.
    factor.withUnsafeMutableBufferPointer { elements in
        for i in 0 ..< n {
            for j in (upper ? 0 ..< i : i + 1 ..< n) { elements[i * n + j] = 0 }
        }
    }
    return factor
}

/// The determinant of a square matrix, from its LU factorisation (LAPACK `?getrf`): the
/// product of U's diagonal times the sign of the row permutation. Zero for a singular matrix,
/// as in numpy; it may overflow where ``slogdet(_:)`` does not. NaN or infinite input throws.
public func det<Scalar>(_ a: Tensor<Scalar>) throws(LAPACKError) -> Scalar {
    requireSquare(a, "det")
    let (diagonal, permutationSign) = try luDiagonal(a, "det")
    return diagonal.reduce(permutationSign, *)
}

/// The sign (−1, 0 or +1) and natural logarithm of the absolute value of the determinant
/// of a square matrix, from its LU factorisation (LAPACK `?getrf`), as numpy.linalg.slogdet:
/// det = sign·exp(logAbsDet) without overflow. A singular matrix gives (0, −∞); NaN or
/// infinite input throws.
public func slogdet<Scalar>(_ a: Tensor<Scalar>) throws(LAPACKError) -> (sign: Scalar, logAbsDet: Scalar) {
    requireSquare(a, "slogdet")
    let (diagonal, permutationSign) = try luDiagonal(a, "slogdet")
    var sign = permutationSign
    var logAbsDet: Scalar = 0
    for u in diagonal {
        if u == 0 { return (0, -.infinity) }
        if u < 0 { sign = -sign }
        logAbsDet += Scalar.log(u.magnitude)
    }
    return (sign, logAbsDet)
}

/// U's diagonal and the sign of the permutation of a·P = L·U.
private func luDiagonal<Scalar>(_ a: Tensor<Scalar>, _ operation: StaticString) throws(LAPACKError) -> ([Scalar], Scalar) {
    try checkFinite(a, "getrf")
    let n = a.shape[0]
    if n == 0 { return ([], 1) }
    var factors = a
    var pivots = [Int32](repeating: 0, count: n)
    let info = factors.withUnsafeMutableBufferPointer { elements in
        Scalar.getrf(m: n, n: n, a: elements.baseAddress!, lda: n, ipiv: &pivots)
    }
    // info > 0 is an exact zero on U's diagonal: the factorisation is complete and the
    // determinant is zero, which is an answer, not an error. info < 0 would be a bug here.
    if info < 0 { fatalError("\(operation): \(LAPACKError(routine: Scalar.blasPrefix + "getrf", info: info))") }
    var sign: Scalar = 1
    for (i, pivot) in pivots.enumerated() where Int(pivot) != i + 1 { sign = -sign }
    let diagonal = factors.withUnsafeBufferPointer { elements in (0 ..< n).map { elements[$0 * n + $0] } }
    return (diagonal, sign)
}

/// The Moore–Penrose pseudo-inverse of an m×n matrix (n×m), from its SVD (LAPACK `?gesdd`):
/// V·diag(1/s)·Uᵀ over the singular values s > `rcond`·s₀. The default max(m, n)·ε is the
/// one numpy uses for `rtol` (numpy's own `rcond` default, 1e-15, is below Float's ε).
public func pinv<Scalar>(_ a: Tensor<Scalar>, rcond: Scalar? = nil) throws(LAPACKError) -> Tensor<Scalar> {
    requireMatrix(a, "pinv")
    let (m, n) = (a.shape[0], a.shape[1])
    if m == 0 || n == 0 { return Tensor.zeros([n, m]) }
    let (u, s, vt) = try svd(a)
    let cutoff = (rcond ?? Scalar.ulpOfOne * Scalar(Swift.max(m, n))) * s[0]
    let inverted = s.map { $0 > cutoff ? 1 / $0 : 0 }
    // (U·diag(1/s))·Vᵀ transposed = V·diag(1/s)·Uᵀ: one GEMM with both transpose flags.
    return matmul(vt, u * inverted, transposeA: true, transposeB: true)
}
