import Testing
@testable import TensorAlgebra

@Suite struct LinearAlgebraTests {
    @Test func singularValuesMatchNumpy() throws {
        func check<S: TestPrecision>(_: S.Type) throws {
            for name in ["svd", "svd_wide"] {
                let a: Tensor<S> = try fixture(name + "_matrix")
                expectClose(try singularValues(a), try fixture(name + "_values"), tolerance: S.tolerance)
                expectClose(try svd(a).s, try fixture(name + "_values"), tolerance: S.tolerance)
            }
        }
        try check(Float.self)
        try check(Double.self)
    }

    @Test func svdReconstructsWithOrthonormalFactors() throws {
        func check<S: TestPrecision>(_: S.Type) throws {
            for name in ["svd_matrix", "svd_wide_matrix"] {
                let a: Tensor<S> = try fixture(name)
                let (u, s, vt) = try svd(a)
                let k = s.count
                // U·diag(s)·Vᵀ = A: scale U's columns by s (row broadcast), then one GEMM.
                expectClose(matmul(u * s, vt), a, tolerance: S.tolerance)
                expectClose(matmul(u, u, transposeA: true), Tensor.identity(k), tolerance: S.tolerance)
                expectClose(matmul(vt, vt, transposeB: true), Tensor.identity(k), tolerance: S.tolerance)
            }
        }
        try check(Float.self)
        try check(Double.self)
    }

    @Test func symmetricEigenMatchesNumpyAndSatisfiesAvEqualsLambdaV() throws {
        func check<S: TestPrecision>(_: S.Type) throws {
            let a: Tensor<S> = try fixture("eigh_matrix")
            expectClose(try eigvalsh(a), try fixture("eigh_values"), tolerance: S.tolerance)
            let (values, vectors) = try eigh(a)
            expectClose(values, try fixture("eigh_values"), tolerance: S.tolerance)
            // A·V = V·diag(λ), column by column, and VᵀV = I.
            expectClose(matmul(a, vectors), vectors * values, tolerance: S.tolerance * 10)
            expectClose(matmul(vectors, vectors, transposeA: true), Tensor.identity(5), tolerance: S.tolerance)
        }
        try check(Float.self)
        try check(Double.self)
    }

    @Test func handWorkedDecompositions() throws {
        // diag(3, -2) has singular values 3, 2 and eigenvalues -2, 3.
        let d = Tensor<Double>([[3, 0], [0, -2]])
        expectClose(try singularValues(d), Tensor([3, 2]), tolerance: 1e-15)
        #expect(try eigvalsh(d) == Tensor([-2, 3]))
        // [[1, 1], [1, 1]] has eigenvalues 0 and 2.
        expectClose(try eigvalsh(Tensor<Double>([[1, 1], [1, 1]])), Tensor([0, 2]), tolerance: 1e-15)
    }

    @Test func qrReconstructsWithOrthonormalQAndTriangularR() throws {
        func check<S: TestPrecision>(_: S.Type) throws {
            for name in ["svd_matrix", "svd_wide_matrix"] {
                let a: Tensor<S> = try fixture(name)
                let (q, r) = try qr(a)
                let k = min(a.shape[0], a.shape[1])
                #expect(q.shape == [a.shape[0], k] && r.shape == [k, a.shape[1]])
                expectClose(matmul(q, r), a, tolerance: S.tolerance)
                expectClose(matmul(q, q, transposeA: true), Tensor.identity(k), tolerance: S.tolerance)
                for i in 0 ..< k { for j in 0 ..< i { #expect(r[i, j] == 0) } }
            }
        }
        try check(Float.self)
        try check(Double.self)
    }

    @Test func haarOrthogonalIsOrthogonalAndSignFixed() {
        func check<S: TestPrecision>(_: S.Type) {
            var generator = SeededGenerator(seed: 3)
            let q = Tensor<S>.randomOrthogonal(40, scale: 2, using: &generator)
            expectClose(matmul(q, q, transposeA: true), Tensor.identity(40, scale: 4), tolerance: S.tolerance * 10)
        }
        check(Float.self)
        check(Double.self)
        // With the sign fix the diagonal of a Haar matrix has mean 0 rather than being biased
        // positive by LAPACK's convention: over 200 draws of 8×8 (1600 entries, each with
        // standard deviation 1/√8), the mean diagonal entry is within 4 standard errors of 0.
        var generator = SeededGenerator(seed: 11)
        var total = 0.0
        for _ in 0 ..< 200 {
            let q = Tensor<Double>.randomOrthogonal(8, using: &generator)
            for i in 0 ..< 8 { total += q[i, i] }
        }
        let standardError = (1.0 / 8).squareRoot() / 1600.0.squareRoot()
        #expect(abs(total / 1600) < 4 * standardError)
    }

    @Test func lapackFailureBecomesANamedError() {
        let message = LAPACKError(routine: "ssyevd", info: -4).description
        #expect(message == "ssyevd failed: argument 4 had an illegal value (info = -4)")
    }
}
