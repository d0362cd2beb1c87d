import Testing
@testable import TensorAlgebra

@Suite struct MatrixProductTests {
    @Test func handWorkedProduct() {
        func check<S: TestPrecision>(_: S.Type) {
            let a = Tensor<S>([[1, 2, 3], [4, 5, 6]])
            let b = Tensor<S>([[7, 8], [9, 10], [11, 12]])
            // 1·7 + 2·9 + 3·11 = 58, 1·8 + 2·10 + 3·12 = 64, 4·7 + 5·9 + 6·11 = 139, 154.
            #expect(matmul(a, b) == Tensor<S>([[58, 64], [139, 154]]))
            #expect(matmul(a, a, transposeB: true) == Tensor<S>([[14, 32], [32, 77]]))
            #expect(matmul(a, a, transposeA: true).shape == [3, 3])
            #expect(matvec(a, Tensor<S>([1, 0, -1])) == Tensor<S>([-2, -2]))
            #expect(matvec(a, Tensor<S>([1, 1]), transposeA: true) == Tensor<S>([5, 7, 9]))
        }
        check(Float.self)
        check(Double.self)
    }

    @Test func everyTransposeCombinationMatchesNumpy() throws {
        func check<S: TestPrecision>(_: S.Type) throws {
            let a: Tensor<S> = try fixture("gemm_a")
            let at: Tensor<S> = try fixture("gemm_a_transposed")
            let b: Tensor<S> = try fixture("gemm_b")
            let bt: Tensor<S> = try fixture("gemm_b_transposed")
            let expected: Tensor<S> = try fixture("gemm_ab")
            expectClose(matmul(a, b), expected, tolerance: S.tolerance)
            expectClose(matmul(at, b, transposeA: true), expected, tolerance: S.tolerance)
            expectClose(matmul(a, bt, transposeB: true), expected, tolerance: S.tolerance)
            expectClose(matmul(at, bt, transposeA: true, transposeB: true), expected, tolerance: S.tolerance)
        }
        try check(Float.self)
        try check(Double.self)
    }

    @Test func inPlaceProductWithAlphaAndBeta() throws {
        func check<S: TestPrecision>(_: S.Type) throws {
            let a: Tensor<S> = try fixture("gemm_a")
            let bt: Tensor<S> = try fixture("gemm_b_transposed")
            var c: Tensor<S> = try fixture("gemm_c")
            let shared = c  // the write must not leak into this copy
            matmul(a, bt, transposeB: true, alpha: 0.5, beta: -2, into: &c)
            expectClose(c, try fixture("gemm_alpha_beta"), tolerance: S.tolerance)
            #expect(shared == (try fixture("gemm_c") as Tensor<S>))

            // Writing into rows of a larger preallocated buffer touches only those rows.
            var buffer = Tensor<S>.zeros([7, 4])
            var window = buffer.rows(1 ..< 6)
            buffer = Tensor.zeros([0])  // window is now the storage's only owner
            matmul(a, bt, transposeB: true, into: &window)
            expectClose(window, try fixture("gemm_ab"), tolerance: S.tolerance)
        }
        try check(Float.self)
        try check(Double.self)
    }

    @Test func matrixVectorMatchesNumpy() throws {
        func check<S: TestPrecision>(_: S.Type) throws {
            let a: Tensor<S> = try fixture("gemm_a")
            let x: Tensor<S> = try fixture("gemv_x")
            expectClose(matvec(a, x), try fixture("gemv_ax"), tolerance: S.tolerance)
            var y = Tensor<S>.ones([5])
            matvec(a, x, alpha: 2, beta: 1, into: &y)
            expectClose(y, 2 * (try fixture("gemv_ax") as Tensor<S>) + 1, tolerance: S.tolerance)
        }
        try check(Float.self)
        try check(Double.self)
    }

    @Test func emptyInnerDimensionGivesZerosOrScaledOutput() {
        let a = Tensor<Double>.zeros([3, 0])
        let b = Tensor<Double>.zeros([0, 2])
        #expect(matmul(a, b) == Tensor<Double>.zeros([3, 2]))
        var c = Tensor<Double>.ones([3, 2])
        matmul(a, b, beta: 3, into: &c)
        #expect(c == Tensor<Double>(repeating: 3, shape: [3, 2]))
    }
}
