import Foundation
import Testing
@testable import TensorAlgebra

@Suite struct NormTests {
    @Test func matrixNormsMatchNumpy() throws {
        func check<S: TestPrecision>(_: S.Type) throws {
            let m: Tensor<S> = try fixture("norm_matrix")
            let frobenius = try fixture("norm_frobenius", as: S.self).scalar
            expectClose(norm(m), frobenius, tolerance: S.tolerance)
            expectClose(try norm(m, .frobenius), frobenius, tolerance: S.tolerance)
            expectClose(try norm(m, .spectral), try fixture("norm_spectral", as: S.self).scalar, tolerance: S.tolerance)
            expectClose(try norm(m, .nuclear), try fixture("norm_nuclear", as: S.self).scalar, tolerance: S.tolerance)
            expectClose(norm(m, alongAxis: 0), try fixture("norm_matrix_axis0"), tolerance: S.tolerance)
            expectClose(norm(m, alongAxis: 1), try fixture("norm_matrix_axis1"), tolerance: S.tolerance)
            expectClose(norm(m, alongAxis: -1), try fixture("norm_matrix_axis1"), tolerance: S.tolerance)
        }
        try check(Float.self)
        try check(Double.self)
    }

    @Test func normsAlongEachAxisOfARank3TensorMatchNumpy() throws {
        func check<S: TestPrecision>(_: S.Type) throws {
            let t: Tensor<S> = try fixture("reduce_input")
            expectClose(norm(t), try fixture("norm_reduce_all", as: S.self).scalar, tolerance: S.tolerance)
            for axis in 0 ..< 3 {
                expectClose(norm(t, alongAxis: axis), try fixture("norm_reduce_axis\(axis)"), tolerance: S.tolerance)
            }
        }
        try check(Float.self)
        try check(Double.self)
    }

    @Test func normsByHandAndAtTheEdgesOfTheRange() throws {
        #expect(norm(Tensor<Double>([3, 4])) == 5)
        #expect(norm(Tensor<Double>([[3, 0], [0, 4]]), alongAxis: 1) == Tensor([3, 4]))
        #expect(try norm(Tensor<Double>([[3, 0], [0, -4]]), .spectral) == 4)
        #expect(try norm(Tensor<Double>([[3, 0], [0, -4]]), .nuclear) == 7)
        // Scaling keeps the squares from overflowing or underflowing: √2·1e300, √2·1e-300.
        expectClose(norm(Tensor<Double>([1e300, 1e300])), 2.0.squareRoot() * 1e300, tolerance: 1e-15)
        expectClose(norm(Tensor<Double>([1e-300, 1e-300])) / 1e-300, 2.0.squareRoot(), tolerance: 1e-15)
        expectClose(norm(Tensor<Float>([1e30, 1e30])) / 1e30, Float(2).squareRoot(), tolerance: 1e-6)
        #expect(norm(Tensor<Double>([.nan, 1])).isNaN)
        #expect(norm(Tensor<Double>([.infinity, 1])) == .infinity)
        #expect(norm(Tensor<Double>.zeros([0])) == 0)
        #expect(try norm(Tensor<Double>.zeros([0, 3]), .spectral) == 0)
    }
}

@Suite struct WholeTensorReductionTests {
    @Test func minMaxSumMeanOverAllElements() throws {
        func check<S: TestPrecision>(_: S.Type) throws {
            let t: Tensor<S> = try fixture("reduce_input")
            let values = t.scalars
            // Exact: min and max pick an element; the max over one axis of numpy's max is it.
            #expect(t.max() == values.max())
            #expect(t.min() == values.min())
            #expect(t.max() == (try fixture("reduce_max_axis0", as: S.self)).max())
            expectClose(t.sum(), (try fixture("reduce_sum_axis0", as: S.self)).sum(), tolerance: S.tolerance)
            expectClose(t.mean(), t.sum() / 60, tolerance: S.tolerance)
            // min along an axis is −max of −t, exactly.
            for axis in 0 ..< 3 { #expect(t.min(alongAxis: axis) == -(-t).max(alongAxis: axis)) }
        }
        try check(Float.self)
        try check(Double.self)
        let a = Tensor<Double>([[1, -7, 3], [4, 0, -2]])
        #expect(a.max() == 4 && a.min() == -7 && a.sum() == -1)
        #expect(a.min(alongAxis: 0) == Tensor([1, -7, -2]))
        #expect(a.min(alongAxis: 1) == Tensor([-7, -2]))
        #expect(Tensor<Double>([1, .nan, 3]).max().isNaN)
        #expect(Tensor<Double>([.nan, 1, 3]).min().isNaN)
        #expect(Tensor<Double>([[1, .nan], [0, 2]]).min(alongAxis: 1).scalars[0].isNaN)
    }

    @Test func absOfEveryElement() {
        func check<S: TestPrecision>(_: S.Type) {
            let a = Tensor<S>([[-1.5, 0], [2, -0.25]])
            #expect(abs(a) == Tensor([[1.5, 0], [2, 0.25]]))
            #expect(abs(a).shape == a.shape)
            #expect(abs(S(-2)) == 2)  // the scalar abs still resolves beside the tensor one
        }
        check(Float.self)
        check(Double.self)
    }
}

@Suite struct SlicingTests {
    @Test func blockByRangesMatchesNumpy() throws {
        func check<S: TestPrecision>(_: S.Type) throws {
            let a: Tensor<S> = try fixture("gemm_a")  // 5×7
            let expected: Tensor<S> = try fixture("slice_gemm_a_rows1to4_columns2to6")
            #expect(a[1 ..< 4, 2 ..< 6] == expected)
            #expect(a[1 ... 3, 2 ... 5] == expected)
            #expect(a[1 ..< 4, ...].columns(2 ..< 6) == expected)
            #expect(a[..., 2 ..< 6].rows(1 ..< 4) == expected)
            #expect(a[..., 0 ..< 7] == a && a[0 ..< 5, ...] == a)
            #expect(a[2..., ..<3] == a.rows(2 ..< 5).columns(0 ..< 3))
            #expect(a[0 ..< 0, 1 ..< 3].shape == [0, 2])
            #expect(a.transposed() == (try fixture("gemm_a_transposed")))
            #expect(a.transposed().transposed() == a)
        }
        try check(Float.self)
        try check(Double.self)
    }

    @Test func slicingThenReassemblingGivesTheOriginal() throws {
        func check<S: TestPrecision>(_: S.Type) throws {
            let a: Tensor<S> = try fixture("gemm_a")  // 5×7, cut into four uneven blocks
            var assembled = Tensor<S>.zeros([5, 7])
            for rows in [0 ..< 2, 2 ..< 5] {
                for columns in [0 ..< 3, 3 ..< 7] { assembled[rows, columns] = a[rows, columns] }
            }
            #expect(assembled == a)
            var copy = a
            copy[..., 0 ..< 1] = Tensor.zeros([5, 1])
            #expect(a == (try fixture("gemm_a")))  // copy-on-write: the original is untouched
            #expect(copy.columns(0 ..< 1) == Tensor.zeros([5, 1]))
            #expect(copy.columns(1 ..< 7) == a.columns(1 ..< 7))
            // A block assigned from an overlapping block of the same tensor.
            var shifted = a
            shifted[0 ..< 4, ...] = shifted[1 ..< 5, ...]
            #expect(shifted.rows(0 ..< 4) == a.rows(1 ..< 5) && shifted.row(4) == a.row(4))
        }
        try check(Float.self)
        try check(Double.self)
    }

    @Test func outOfBoundsRangeStopsNamingShapeAndRange() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor<Double>.zeros([3, 4])[0 ..< 2, 1 ..< 6]
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("[0..<2, 1..<6] is out of bounds for shape [3, 4]"))
    }
}
