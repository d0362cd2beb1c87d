// Matrix products through BLAS. Transposes are GEMM flags, never copies.

// The products below are @inlinable so callers specialise them, but inlinable code may not
// name SPI (the raw BLAS requirements): these two non-inlinable shims stand in between.
@usableFromInline
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func blasGEMM<Scalar: BLASScalar>(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    alpha: Scalar, a: UnsafePointer<Scalar>, lda: Int, b: UnsafePointer<Scalar>, ldb: Int,
    beta: Scalar, c: UnsafeMutablePointer<Scalar>, ldc: Int
) {
    Scalar.gemm(
        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
        a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
}

@usableFromInline
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func blasGEMV<Scalar: BLASScalar>(
    transposeA: Bool, m: Int, n: Int, alpha: Scalar, a: UnsafePointer<Scalar>, lda: Int,
    x: UnsafePointer<Scalar>, beta: Scalar, y: UnsafeMutablePointer<Scalar>
) {
    Scalar.gemv(transposeA: transposeA, m: m, n: n, alpha: alpha, a: a, lda: lda, x: x, beta: beta, y: y)
}

@inlinable
func productShape<Scalar>(
    _ operation: StaticString, _ a: Tensor<Scalar>, _ b: Tensor<Scalar>,
    transposeA: Bool, transposeB: Bool
) -> (m: Int, n: Int, k: Int) {
    if a.shape.count != 2 || b.shape.count != 2 {
        fatalError("\(operation): needs matrices, got shapes \(a.shape) and \(b.shape)")
    }
    let (m, k) = transposeA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
    let (kB, n) = transposeB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
    if k != kB {
        fatalError(
            "\(operation): inner dimensions differ: \(a.shape)\(transposeA ? "ᵀ" : "") × "
                + "\(b.shape)\(transposeB ? "ᵀ" : "")")
    }
    return (m, n, k)
}

/// α·op(a)·op(b) as a new matrix, where op is the transpose when its flag is set.
@inlinable
public func matmul<Scalar>(
    _ a: Tensor<Scalar>, _ b: Tensor<Scalar>,
    transposeA: Bool = false, transposeB: Bool = false, alpha: Scalar = 1
) -> Tensor<Scalar> {
    let (m, n, k) = productShape("matmul", a, b, transposeA: transposeA, transposeB: transposeB)
    // GEMM with β = 0 never reads C, so the output is left uninitialised.
    let c = Tensor<Scalar>(uninitializedShape: [m, n])
    if k == 0 {
        c.storage.base.initialize(repeating: 0, count: m * n)
        return c
    }
    if m == 0 || n == 0 { return c }
    blasGEMM(
        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
        alpha: alpha, a: a.storage.base + a.offset, lda: a.shape[1],
        b: b.storage.base + b.offset, ldb: b.shape[1],
        beta: 0, c: c.storage.base, ldc: n)
    return c
}

/// c ← α·op(a)·op(b) + β·c in place: the form for hot loops, with `c` preallocated.
///
/// With β = 0 the old contents of `c` are ignored; with β = 1 the product accumulates,
/// which is how gradients of several terms are summed without temporaries.
@inlinable
public func matmul<Scalar>(
    _ a: Tensor<Scalar>, _ b: Tensor<Scalar>,
    transposeA: Bool = false, transposeB: Bool = false,
    alpha: Scalar = 1, beta: Scalar = 0, into c: inout Tensor<Scalar>
) {
    let (m, n, k) = productShape("matmul", a, b, transposeA: transposeA, transposeB: transposeB)
    if c.shape.count != 2 || c.shape[0] != m || c.shape[1] != n {
        fatalError(
            "matmul(into:): output has shape \(c.shape) but \(a.shape)\(transposeA ? "ᵀ" : "") × "
                + "\(b.shape)\(transposeB ? "ᵀ" : "") is [\(m), \(n)]")
    }
    if m == 0 || n == 0 { return }
    c.makeUnique()
    if k == 0 {
        // An empty sum: BLAS may skip the β scaling, so do it here.
        let out = c.storage.base + c.offset
        for i in 0 ..< m * n { out[i] = beta == 0 ? 0 : beta * out[i] }
        return
    }
    blasGEMM(
        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
        alpha: alpha, a: a.storage.base + a.offset, lda: a.shape[1],
        b: b.storage.base + b.offset, ldb: b.shape[1],
        beta: beta, c: c.storage.base + c.offset, ldc: n)
}

/// α·op(a)·x for a matrix `a` and a vector `x`, through GEMV.
@inlinable
public func matvec<Scalar>(
    _ a: Tensor<Scalar>, _ x: Tensor<Scalar>, transposeA: Bool = false, alpha: Scalar = 1
) -> Tensor<Scalar> {
    let m = transposeA ? a.shape.last ?? 0 : a.shape.first ?? 0
    var y = Tensor<Scalar>.zeros([m])
    matvec(a, x, transposeA: transposeA, alpha: alpha, beta: 0, into: &y)
    return y
}

/// y ← α·op(a)·x + β·y in place, through GEMV.
@inlinable
public func matvec<Scalar>(
    _ a: Tensor<Scalar>, _ x: Tensor<Scalar>, transposeA: Bool = false,
    alpha: Scalar = 1, beta: Scalar = 0, into y: inout Tensor<Scalar>
) {
    if a.shape.count != 2 || x.shape.count != 1 || y.shape.count != 1 {
        fatalError("matvec: needs a matrix and two vectors, got \(a.shape), \(x.shape) and \(y.shape)")
    }
    let (m, n) = (a.shape[0], a.shape[1])
    let (inputLength, outputLength) = transposeA ? (m, n) : (n, m)
    if x.shape[0] != inputLength || y.shape[0] != outputLength {
        fatalError(
            "matvec: \(a.shape)\(transposeA ? "ᵀ" : "") × \(x.shape) does not fit output \(y.shape)")
    }
    y.makeUnique()
    if m == 0 || n == 0 {
        let out = y.storage.base + y.offset
        for i in 0 ..< outputLength { out[i] = beta == 0 ? 0 : beta * out[i] }
        return
    }
    blasGEMV(
        transposeA: transposeA, m: m, n: n, alpha: alpha, a: a.storage.base + a.offset, lda: n,
        x: x.storage.base + x.offset, beta: beta, y: y.storage.base + y.offset)
}
