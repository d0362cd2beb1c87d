// Decompositions through LAPACK, named as in mlx and numpy.linalg: svd, eigh, qr.
// Inputs are copied first, since LAPACK overwrites its arguments and tensors are values.

/// LAPACK reported `info ≠ 0`.
public struct LAPACKError: Error, Equatable, CustomStringConvertible {
    /// The routine, with its precision prefix, e.g. "dgesdd".
    public let routine: String
    /// LAPACK's `info`: negative when argument −info was illegal, positive when the
    /// algorithm did not converge (the meaning depends on the routine).
    public let info: Int

    public init(routine: String, info: Int) {
        self.routine = routine
        self.info = info
    }

    public var description: String {
        info < 0
            ? "\(routine) failed: argument \(-info) had an illegal value (info = \(info))"
            : "\(routine) failed to converge (info = \(info))"
    }
}

@usableFromInline
func checkLAPACK<Scalar: BLASScalar>(_ info: Int, _ name: String, _: Scalar.Type) throws {
    if info != 0 { throw LAPACKError(routine: Scalar.blasPrefix + name, info: info) }
}

private func requireMatrix<Scalar>(_ a: Tensor<Scalar>, _ operation: String) {
    if a.rank != 2 { fatalError("\(operation): needs a matrix, got shape \(a.shape)") }
}

/// The singular values of a matrix, largest first (LAPACK `?gesdd`, no vectors).
public func singularValues<Scalar>(_ a: Tensor<Scalar>) throws -> Tensor<Scalar> {
    requireMatrix(a, "singularValues")
    let (m, n) = (a.shape[0], a.shape[1])
    var work = a
    let values = Tensor<Scalar>(uninitializedShape: [min(m, n)])
    if m == 0 || n == 0 { return values }
    try work.withUnsafeMutableBufferPointer { elements in
        try checkLAPACK(
            Scalar.gesdd(
                jobz: UInt8(ascii: "N"), m: m, n: n, a: elements.baseAddress!, lda: n,
                s: values.storage.base, u: nil, ldu: m, vt: nil, ldvt: n),
            "gesdd", Scalar.self)
    }
    return values
}

/// The thin singular value decomposition a = u·diag(s)·vᵀ (LAPACK `?gesdd`): for an m×n
/// matrix with k = min(m, n), u is m×k, s has k values (largest first) and vt is k×n.
public func svd<Scalar>(_ a: Tensor<Scalar>) throws -> (u: Tensor<Scalar>, s: Tensor<Scalar>, vt: Tensor<Scalar>) {
    requireMatrix(a, "svd")
    let (m, n) = (a.shape[0], a.shape[1])
    let k = min(m, n)
    var work = a
    let u = Tensor<Scalar>.zeros([m, k])
    let s = Tensor<Scalar>.zeros([k])
    let vt = Tensor<Scalar>.zeros([k, n])
    if k == 0 { return (u, s, vt) }
    try work.withUnsafeMutableBufferPointer { elements in
        try checkLAPACK(
            Scalar.gesdd(
                jobz: UInt8(ascii: "S"), m: m, n: n, a: elements.baseAddress!, lda: n,
                s: s.storage.base, u: u.storage.base, ldu: k, vt: vt.storage.base, ldvt: n),
            "gesdd", Scalar.self)
    }
    return (u, s, vt)
}

/// Eigenvalues of a symmetric matrix, ascending (LAPACK `?syevd`). Only the upper triangle
/// is read.
public func eigvalsh<Scalar>(_ a: Tensor<Scalar>) throws -> Tensor<Scalar> {
    try symmetricEigen(a, computeVectors: false, "eigvalsh").values
}

/// Eigenvalues (ascending) and orthonormal eigenvectors (columns) of a symmetric matrix
/// (LAPACK `?syevd`): a·vectors[:, j] = values[j]·vectors[:, j]. Only the upper triangle is read.
public func eigh<Scalar>(_ a: Tensor<Scalar>) throws -> (values: Tensor<Scalar>, vectors: Tensor<Scalar>) {
    try symmetricEigen(a, computeVectors: true, "eigh")
}

private func symmetricEigen<Scalar>(
    _ a: Tensor<Scalar>, computeVectors: Bool, _ operation: String
) throws -> (values: Tensor<Scalar>, vectors: Tensor<Scalar>) {
    requireMatrix(a, operation)
    let n = a.shape[0]
    if a.shape[1] != n { fatalError("\(operation): needs a square matrix, got shape \(a.shape)") }
    var vectors = a
    let values = Tensor<Scalar>.zeros([n])
    if n == 0 { return (values, vectors) }
    try vectors.withUnsafeMutableBufferPointer { elements in
        try checkLAPACK(
            Scalar.syevd(
                computeVectors: computeVectors, n: n, a: elements.baseAddress!, lda: n,
                w: values.storage.base),
            "syevd", Scalar.self)
    }
    return (values, vectors)
}

/// The thin QR decomposition a = q·r of an m×n matrix (LAPACK `?geqrf` and `?orgqr`):
/// with k = min(m, n), q is m×k with orthonormal columns and r is k×n upper triangular.
public func qr<Scalar>(_ a: Tensor<Scalar>) throws -> (q: Tensor<Scalar>, r: Tensor<Scalar>) {
    requireMatrix(a, "qr")
    let (m, n) = (a.shape[0], a.shape[1])
    let k = min(m, n)
    var factored = a
    var tau = [Scalar](repeating: 0, count: max(k, 1))
    if k == 0 { return (Tensor.zeros([m, 0]), Tensor.zeros([0, n])) }
    try factored.withUnsafeMutableBufferPointer { elements in
        try checkLAPACK(
            Scalar.geqrf(m: m, n: n, a: elements.baseAddress!, lda: n, tau: &tau), "geqrf",
            Scalar.self)
    }
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
    try q.withUnsafeMutableBufferPointer { elements in
        try checkLAPACK(
            Scalar.orgqr(m: m, n: k, k: k, a: elements.baseAddress!, lda: k, tau: tau), "orgqr",
            Scalar.self)
    }
    return (q, r)
}
