import Testing
import TensorAlgebra

/// NaN and ±infinity are refused before LAPACK sees them, by every decomposition and solver,
/// with the routine and the count: with +inf in a 3×3 matrix, gesdd (svd, pinv, lstsq) never
/// returned, and singularValues, norms, eigh and cholesky returned NaN or infinity as results.
@Suite struct NonFiniteInputTests {
    /// Symmetric positive definite once `bad` is replaced by 3, so that every routine would
    /// succeed on it: only the non-finite value can be the reason for a refusal.
    func matrix<S: BLASScalar>(_ bad: S) -> Tensor<S> {
        Tensor<S>([[4, 1, 0], [1, bad, 1], [0, 1, 2]])
    }

    func checkEveryRoutine<S: BLASScalar>(_: S.Type) {
        let p = S.blasPrefix
        for bad in [S.infinity, -S.infinity, S.nan] {
            let a = matrix(bad)
            func refused(_ routine: String, _ operand: String = "matrix") -> LAPACKError {
                .nonFiniteInput(routine: p + routine, operand: operand, count: 1)
            }
            #expect(throws: refused("gesdd"), "\(bad)") { try singularValues(a) }
            #expect(throws: refused("gesdd"), "\(bad)") { try svd(a) }
            #expect(throws: refused("gesdd"), "\(bad)") { try pinv(a) }
            #expect(throws: refused("gesdd"), "\(bad)") { try norm(a, .spectral) }
            #expect(throws: refused("gesdd"), "\(bad)") { try norm(a, .nuclear) }
            #expect(throws: refused("gelsd"), "\(bad)") { try lstsq(a, Tensor<S>([1, 2, 3])) }
            #expect(throws: refused("gelsd", "right-hand side"), "\(bad)") { try lstsq(matrix(3), Tensor<S>([1, bad, 3])) }
            #expect(throws: refused("gesv"), "\(bad)") { try solve(a, Tensor<S>([1, 2, 3])) }
            #expect(throws: refused("gesv", "right-hand side"), "\(bad)") { try solve(matrix(3), Tensor<S>([[1], [bad], [3]])) }
            #expect(throws: refused("getrf"), "\(bad)") { try inv(a) }
            #expect(throws: refused("getrf"), "\(bad)") { try det(a) }
            #expect(throws: refused("getrf"), "\(bad)") { try slogdet(a) }
            #expect(throws: refused("syevd"), "\(bad)") { try eigh(a) }
            #expect(throws: refused("syevd"), "\(bad)") { try eigvalsh(a) }
            #expect(throws: refused("geqrf"), "\(bad)") { try qr(a) }
            #expect(throws: refused("potrf"), "\(bad)") { try cholesky(a) }
            #expect(throws: refused("potrf"), "\(bad)") { try cholesky(a, upper: true) }
        }
        // The same matrix with a finite value goes through (the refusal is about the value).
        #expect(throws: Never.self) { try svd(matrix(3)) }
        #expect(throws: Never.self) { try cholesky(matrix(3)) }
    }

    @Test func everyDecompositionAndSolverRefusesNonFiniteInputInFloat() {
        checkEveryRoutine(Float.self)
    }

    @Test func everyDecompositionAndSolverRefusesNonFiniteInputInDouble() {
        checkEveryRoutine(Double.self)
    }

    @Test func theTriangleLAPACKDoesNotReadIsCheckedToo() {
        // syevd and potrf read one triangle; an infinity in the other is still not a symmetric matrix.
        var a = matrix(Double(3))
        a[2, 0] = .infinity
        #expect(throws: LAPACKError.nonFiniteInput(routine: "dsyevd", operand: "matrix", count: 1)) { try eigvalsh(a) }
        #expect(throws: LAPACKError.nonFiniteInput(routine: "dpotrf", operand: "matrix", count: 1)) { try cholesky(a, upper: true) }
    }

    @Test func theErrorCountsAndNamesTheValues() {
        let a = Tensor<Double>([[.nan, 1, .infinity], [1, 1, 1], [-.infinity, 1, 1]])
        #expect(throws: LAPACKError.nonFiniteInput(routine: "dgesdd", operand: "matrix", count: 3)) { try svd(a) }
        let one = LAPACKError.nonFiniteInput(routine: "dgesdd", operand: "matrix", count: 1)
        #expect(one.description == "dgesdd: the matrix holds 1 NaN or infinite value")
        #expect(one.routine == "dgesdd" && one.info == 0)
        let two = LAPACKError.nonFiniteInput(routine: "sgesv", operand: "right-hand side", count: 2)
        #expect(two.description == "sgesv: the right-hand side holds 2 NaN or infinite values")
    }

    @Test func nonFiniteCountCountsNaNAndBothInfinities() {
        let values = Tensor<Double>([1, .infinity, -.infinity, .nan, 0, .greatestFiniteMagnitude, -0.0, .leastNonzeroMagnitude])
        #expect(values.nonFiniteCount == 3)
        #expect(Tensor<Float>([[.nan, .signalingNaN], [2, 3]]).nonFiniteCount == 2)
        #expect(Tensor<Float>.zeros([0, 4]).nonFiniteCount == 0)
    }
}
