// Decompositions through LAPACK, named as in mlx and numpy.linalg: svd, eigh, qr.
// Inputs are copied first, since LAPACK overwrites its arguments and tensors are values.
// LAPACK's `info ≠ 0` becomes a thrown `LAPACKError` (LAPACKError.swift), and so does NaN or
// infinite input, refused before LAPACK runs (`checkFinite`).

func requireMatrix<Scalar>(_ a: Tensor<Scalar>, _ operation: String) {
    if a.rank != 2 { fatalError("\(operation): needs a matrix, got shape \(a.shape)") }
}

/// The singular values of a matrix, largest first (LAPACK `?gesdd`, no vectors).
public func singularValues<Scalar>(_ a: Tensor<Scalar>) throws(LAPACKError) -> Tensor<Scalar> {
    requireMatrix(a, "singularValues")
    let (m, n) = (a.shape[0], a.shape[1])
    var work = a
    try checkFinite(a, "gesdd")
    let values = Tensor<Scalar>(uninitializedShape: [min(m, n)])
    if m == 0 || n == 0 { return values }
    let info = work.withUnsafeMutableBufferPointer { elements in
        Scalar.gesdd(
            jobz: UInt8(ascii: "N"), m: m, n: n, a: elements.baseAddress!, lda: n,
            s: values.storage.base, u: nil, ldu: m, vt: nil, ldvt: n)
    }
    try checkLAPACK(info, "gesdd", Scalar.self)
    return values
}

/// The thin singular value decomposition a = u·diag(s)·vᵀ (LAPACK `?gesdd`): for an m×n
/// matrix with k = min(m, n), u is m×k, s has k values (largest first) and vt is k×n.
public func svd<Scalar>(_ a: Tensor<Scalar>) throws(LAPACKError) -> (u: Tensor<Scalar>, s: Tensor<Scalar>, vt: Tensor<Scalar>) {
    requireMatrix(a, "svd")
    let (m, n) = (a.shape[0], a.shape[1])
    let k = Swift.min(m, n)
    try checkFinite(a, "gesdd")
    var work = a
    let u = Tensor<Scalar>.zeros([m, k])
    let s = Tensor<Scalar>.zeros([k])
    let vt = Tensor<Scalar>.zeros([k, n])
    if k == 0 { return (u, s, vt) }
    let info = work.withUnsafeMutableBufferPointer { elements in
        Scalar.gesdd(
            jobz: UInt8(ascii: "S"), m: m, n: n, a: elements.baseAddress!, lda: n,
            s: s.storage.base, u: u.storage.base, ldu: k, vt: vt.storage.base, ldvt: n)
    }
    try checkLAPACK(info, "gesdd", Scalar.self)
    return (u, s, vt)
}

/// Eigenvalues of a symmetric matrix, ascending (LAPACK `?syevd`). Only the upper triangle
/// is read.
public func eigvalsh<Scalar>(_ a: Tensor<Scalar>) throws(LAPACKError) -> Tensor<Scalar> {
    try symmetricEigen(a, computeVectors: false, "eigvalsh").values
}

/// Eigenvalues (ascending) and orthonormal eigenvectors (columns) of a symmetric matrix
/// (LAPACK `?syevd`): a·vectors[:, j] = values[j]·vectors[:, j]. Only the upper triangle is read.
public func eigh<Scalar>(_ a: Tensor<Scalar>) throws(LAPACKError) -> (values: Tensor<Scalar>, vectors: Tensor<Scalar>) {
    try symmetricEigen(a, computeVectors: true, "eigh")
}

private func symmetricEigen<Scalar>(
    _ a: Tensor<Scalar>, computeVectors: Bool, _ operation: String
) throws(LAPACKError) -> (values: Tensor<Scalar>, vectors: Tensor<Scalar>) {
    requireMatrix(a, operation)
    let n = a.shape[0]
    if a.shape[1] != n { fatalError("\(operation): needs a square matrix, got shape \(a.shape)") }
    // The whole matrix, though syevd reads one triangle: an infinity in the other one means the
    // matrix is not the symmetric one the caller meant.
    try checkFinite(a, "syevd")
    var vectors = a
    let values = Tensor<Scalar>.zeros([n])
    if n == 0 { return (values, vectors) }
    let info = vectors.withUnsafeMutableBufferPointer { elements in
        Scalar.syevd(
            computeVectors: computeVectors, n: n, a: elements.baseAddress!, lda: n,
            w: values.storage.base)
    }
    try checkLAPACK(info, "syevd", Scalar.self)
    return (values, vectors)
}

/// The thin QR decomposition a = q·r of an m×n matrix (LAPACK `?geqrf` and `?orgqr`):
/// with k = min(m, n), q is m×k with orthonormal columns and r is k×n upper triangular.
public func qr<Scalar>(_ a: Tensor<Scalar>) throws(LAPACKError) -> (q: Tensor<Scalar>, r: Tensor<Scalar>) {
    requireMatrix(a, "qr")
    let (m, n) = (a.shape[0], a.shape[1])
    let k = min(m, n)
    try checkFinite(a, "geqrf")
    var factored = a
    var tau = [Scalar](repeating: 0, count: max(k, 1))
    if k == 0 { return (Tensor.zeros([m, 0]), Tensor.zeros([0, n])) }
    let factorInfo = factored.withUnsafeMutableBufferPointer { elements in
        Scalar.geqrf(m: m, n: n, a: elements.baseAddress!, lda: n, tau: &tau)
    }
    try checkLAPACK(factorInfo, "geqrf", Scalar.self)
    // r is the upper triangle of the first k rows.
    var r = Tensor<Scalar>.zeros([k, n])
    factored.withUnsafeBufferPointer { source in
        r.withUnsafeMutableBufferPointer { target in
            for i in 0 ..< k {
                for j in i ..< n { target[i * n + j] = source[i * n + j] }
            }
        }
    }
    // q: the first k columns of the reflectors, expanded in place.
    var q = Tensor<Scalar>.zeros([m, k])
    factored.withUnsafeBufferPointer { source in
        q.withUnsafeMutableBufferPointer { target in
            for i in 0 ..< m {
                for j in 0 ..< k { target[i * k + j] = source[i * n + j] }
            }
        }
    }
    let expandInfo = q.withUnsafeMutableBufferPointer { elements in
        Scalar.orgqr(m: m, n: k, k: k, a: elements.baseAddress!, lda: k, tau: tau)
    }
    try checkLAPACK(expandInfo, "orgqr", Scalar.self)
    return (q, r)
}
