import Foundation
import Testing
@testable import TensorAlgebra

@Suite struct SolverTests {
    @Test func solveMatchesNumpyForVectorAndMatrixRightHandSides() throws {
        func check<S: TestPrecision>(_: S.Type) throws {
            let a: Tensor<S> = try fixture("solve_a")
            for name in ["vector", "matrix"] {
                let b: Tensor<S> = try fixture("solve_b_" + name)
                let x = try solve(a, b)
                expectClose(x, try fixture("solve_x_" + name), tolerance: S.tolerance)
                // The residual of the computed solution, independent of numpy.
                let product = b.rank == 1 ? matvec(a, x) : matmul(a, x)
                expectClose(product, b, tolerance: S.tolerance)
            }
            #expect(a == (try fixture("solve_a")))  // the input is a value: LAPACK worked on a copy
        }
        try check(Float.self)
        try check(Double.self)
    }

    @Test func invMatchesNumpyAndGivesTheIdentity() throws {
        func check<S: TestPrecision>(_: S.Type) throws {
            let a: Tensor<S> = try fixture("solve_a")
            let inverse = try inv(a)
            expectClose(inverse, try fixture("inv_result"), tolerance: S.tolerance)
            expectClose(matmul(a, inverse), Tensor.identity(5), tolerance: S.tolerance)
            expectClose(matmul(inverse, a), Tensor.identity(5), tolerance: S.tolerance)
        }
        try check(Float.self)
        try check(Double.self)
        #expect(try inv(Tensor<Double>([[2, 0], [0, 4]])) == Tensor([[0.5, 0], [0, 0.25]]))
    }

    @Test func choleskyMatchesNumpyAndReconstructs() throws {
        func check<S: TestPrecision>(_: S.Type) throws {
            let a: Tensor<S> = try fixture("cholesky_matrix")
            let l = try cholesky(a)
            expectClose(l, try fixture("cholesky_lower"), tolerance: S.tolerance)
            for i in 0 ..< 5 { for j in i + 1 ..< 5 { #expect(l[i, j] == 0) } }
            expectClose(matmul(l, l, transposeB: true), a, tolerance: S.tolerance)
            let u = try cholesky(a, upper: true)
            expectClose(u, l.transposed(), tolerance: S.tolerance)  // the same factor, other triangle
            expectClose(matmul(u, u, transposeA: true), a, tolerance: S.tolerance)
        }
        try check(Float.self)
        try check(Double.self)
        #expect(try cholesky(Tensor<Double>([[4, 2], [2, 5]])) == Tensor([[2, 0], [1, 2]]))
    }

    @Test func determinantsMatchNumpyWithBothSigns() throws {
        func check<S: TestPrecision>(_: S.Type) throws {
            let a: Tensor<S> = try fixture("solve_a")
            expectClose(try det(a), try fixture("det_value", as: S.self).scalar, tolerance: S.tolerance)
            let negative: Tensor<S> = try fixture("det_negative_matrix")
            let expected = try fixture("det_negative_value", as: S.self).scalar
            #expect(expected < 0)
            expectClose(try det(negative), expected, tolerance: S.tolerance)
            let (sign, logAbsDet) = try slogdet(negative)
            #expect(sign == (try fixture("slogdet_negative_sign", as: S.self).scalar))
            expectClose(logAbsDet, try fixture("slogdet_negative_logabsdet", as: S.self).scalar, tolerance: S.tolerance)
            expectClose(sign * S.exp(logAbsDet), expected, tolerance: S.tolerance)
        }
        try check(Float.self)
        try check(Double.self)
        // By hand: det diag(2, 3) = 6; a row swap flips the sign; empty is 1 as in numpy.
        #expect(try det(Tensor<Double>([[2, 0], [0, 3]])) == 6)
        #expect(try det(Tensor<Double>([[0, 3], [2, 0]])) == -6)
        #expect(try det(Tensor<Double>.zeros([0, 0])) == 1)
        // A singular matrix has determinant 0, an answer rather than an error.
        #expect(try det(Tensor<Double>([[1, 2], [2, 4]])) == 0)
        let (sign, logAbsDet) = try slogdet(Tensor<Double>([[1, 2], [2, 4]]))
        #expect(sign == 0 && logAbsDet == -.infinity)
        // slogdet does not overflow where det does: det(1e200·I₂) = 1e400.
        let huge = Tensor<Double>.identity(2, scale: 1e200)
        #expect(try det(huge) == .infinity)
        expectClose(try slogdet(huge).logAbsDet, 400 * Double.log(10), tolerance: 1e-15)
    }

    @Test func lstsqOverdeterminedMatchesNumpy() throws {
        func check<S: TestPrecision>(_: S.Type) throws {
            let a: Tensor<S> = try fixture("lstsq_over_a")
            let b: Tensor<S> = try fixture("lstsq_over_b")
            let result = try lstsq(a, b)
            expectClose(result.solution, try fixture("lstsq_over_x"), tolerance: S.tolerance)
            expectClose(result.residuals, try fixture("lstsq_over_residuals"), tolerance: S.tolerance)
            expectClose(result.singularValues, try fixture("lstsq_over_singular_values"), tolerance: S.tolerance)
            #expect(result.rank == 4)
            // The residuals are ‖b − a·x‖² per column, computed here independently.
            let r = b - matmul(a, result.solution)
            expectClose((r * r).sum(alongAxis: 0), result.residuals, tolerance: S.tolerance)
            // A vector b gives a vector x and one residual, as numpy does.
            let vector = try lstsq(a, b.columns(0 ..< 1).reshaped([8]))
            expectClose(vector.solution, try fixture("lstsq_over_x_vector"), tolerance: S.tolerance)
            expectClose(vector.residuals, try fixture("lstsq_over_residuals_vector"), tolerance: S.tolerance)
            #expect(vector.residuals.shape == [1])
        }
        try check(Float.self)
        try check(Double.self)
    }

    @Test func lstsqRankDeficientGivesTheMinimumNormSolution() throws {
        func check<S: TestPrecision>(_: S.Type) throws {
            // 6×4 of rank 2. Rounded to Float its zero singular values become ≈ ε·s₀, below the
            // default cut-off max(m, n)·ε·s₀, so the rank is still 2 in both precisions.
            let a: Tensor<S> = try fixture("lstsq_deficient_a")
            let b: Tensor<S> = try fixture("lstsq_deficient_b")
            let result = try lstsq(a, b)
            #expect(result.rank == 2)
            #expect(result.residuals.shape == [0])  // numpy reports none below full rank
            expectClose(result.solution, try fixture("lstsq_deficient_x"), tolerance: S.tolerance)
            expectClose(result.singularValues, try fixture("lstsq_deficient_singular_values"), tolerance: S.tolerance)
            // The minimum-norm solution is pinv(a)·b.
            expectClose(result.solution, matvec(try pinv(a), b), tolerance: S.tolerance)
        }
        try check(Float.self)
        try check(Double.self)
    }

    @Test func pinvMatchesNumpyAndSatisfiesMoorePenrose() throws {
        func check<S: TestPrecision>(_: S.Type, deficientCutoff: S?) throws {
            let cases: [(String, String, S?)] = [
                ("pinv_matrix", "pinv_result", nil),
                ("lstsq_deficient_a", "pinv_deficient_result", deficientCutoff),
            ]
            for (input, output, rcond) in cases {
                let a: Tensor<S> = try fixture(input)
                let p = try pinv(a, rcond: rcond)
                expectClose(p, try fixture(output), tolerance: S.tolerance)
                // The four Moore–Penrose conditions.
                let ap = matmul(a, p), pa = matmul(p, a)
                expectClose(matmul(ap, a), a, tolerance: S.tolerance)
                expectClose(matmul(pa, p), p, tolerance: S.tolerance)
                expectClose(ap.transposed(), ap, tolerance: S.tolerance)
                expectClose(pa.transposed(), pa, tolerance: S.tolerance)
            }
        }
        try check(Double.self, deficientCutoff: nil)
        // Same default as lstsq above, stated explicitly to document it holds in Float too.
        try check(Float.self, deficientCutoff: Float.ulpOfOne * 6)
        #expect(try pinv(Tensor<Double>.zeros([2, 3])).shape == [3, 2])
    }

    // MARK: Errors from the data

    @Test func singularMatrixIsAThrownErrorNamingRoutineAndPivot() {
        func check<S: TestPrecision>(_: S.Type) {
            let p = S.blasPrefix
            // Row 2 is twice row 1: after one elimination step U(2,2) is exactly zero.
            let singular = Tensor<S>([[1, 2], [2, 4]])
            #expect(throws: LAPACKError.singularMatrix(routine: p + "gesv", pivot: 2)) {
                try solve(singular, Tensor<S>([1, 1]))
            }
            #expect(throws: LAPACKError.singularMatrix(routine: p + "getrf", pivot: 2)) {
                try inv(singular)
            }
            // A zero first column fails at the first pivot.
            #expect(throws: LAPACKError.singularMatrix(routine: p + "getrf", pivot: 1)) {
                try inv(Tensor<S>([[0, 1], [0, 2]]))
            }
        }
        check(Float.self)
        check(Double.self)
        let message = LAPACKError.singularMatrix(routine: "dgesv", pivot: 2).description
        #expect(message == "dgesv failed: the matrix is singular, U(2,2) is exactly zero (info = 2)")
    }

    @Test func indefiniteMatrixIsAThrownErrorNamingTheOrder() {
        func check<S: TestPrecision>(_: S.Type) {
            let p = S.blasPrefix
            // Leading minors 1 and 1 − 4 = −3: fails at order 2.
            #expect(throws: LAPACKError.notPositiveDefinite(routine: p + "potrf", order: 2)) {
                try cholesky(Tensor<S>([[1, 2], [2, 1]]))
            }
            #expect(throws: LAPACKError.notPositiveDefinite(routine: p + "potrf", order: 1)) {
                try cholesky(Tensor<S>([[-1, 0], [0, 1]]))
            }
        }
        check(Float.self)
        check(Double.self)
        let message = LAPACKError.notPositiveDefinite(routine: "spotrf", order: 2).description
        #expect(message.hasPrefix("spotrf failed: the matrix is not positive definite"))
        #expect(message.contains("order 2"))
    }

    @Test func lapackInfoIsDecodedByRoutine() {
        #expect(LAPACKError(routine: "dgesv", info: 3) == .singularMatrix(routine: "dgesv", pivot: 3))
        #expect(LAPACKError(routine: "sgetri", info: 1) == .singularMatrix(routine: "sgetri", pivot: 1))
        #expect(LAPACKError(routine: "dpotrf", info: 2) == .notPositiveDefinite(routine: "dpotrf", order: 2))
        #expect(LAPACKError(routine: "dgelsd", info: 5) == .didNotConverge(routine: "dgelsd", info: 5))
        #expect(LAPACKError(routine: "dgesv", info: -4) == .illegalArgument(routine: "dgesv", index: 4))
        let error = LAPACKError.notPositiveDefinite(routine: "dpotrf", order: 2)
        #expect(error.routine == "dpotrf" && error.info == 2)
    }

    // MARK: Misuse stops with both shapes, also in release builds

    @Test func solveWithMismatchedRowsStopsNamingBothShapes() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = try? solve(Tensor<Double>.identity(3), Tensor<Double>.zeros([4]))
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("solve: a has shape [3, 3] but b has shape [4]"))
    }

    @Test func nonSquareInverseStopsNamingTheShape() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = try? inv(Tensor<Double>.zeros([2, 3]))
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("inv: needs a square matrix, got shape [2, 3]"))
    }
}
