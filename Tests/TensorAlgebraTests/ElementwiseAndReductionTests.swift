import RealModule
import Testing
@testable import TensorAlgebra
import FileFormats

@Suite struct ElementwiseTests {
    @Test func scalarAndSameShapeArithmeticByHand() {
        func check<S: TestPrecision>(_: S.Type) {
            let a = Tensor<S>([[1, 2], [3, 4]])
            let b = Tensor<S>([[4, 3], [2, 1]])
            #expect(a + b == Tensor(repeating: 5, shape: [2, 2]))
            #expect(a - b == Tensor([[-3, -1], [1, 3]]))
            #expect(a * b == Tensor([[4, 6], [6, 4]]))
            #expect(a / b == Tensor([[0.25, S(2) / 3], [1.5, 4]]))
            #expect(a * 2 == Tensor([[2, 4], [6, 8]]))
            #expect(1 - a == Tensor([[0, -1], [-2, -3]]))
            #expect(12 / a == Tensor([[12, 6], [4, 3]]))
            #expect(-a == Tensor([[-1, -2], [-3, -4]]))
            #expect(a.map { $0 * $0 } == Tensor([[1, 4], [9, 16]]))
            var c = a
            c += b
            c *= 2
            c -= Tensor([1, 2])  // row broadcast in place
            c /= Tensor([[1], [2]])  // column broadcast in place
            #expect(c == Tensor([[9, 8], [4.5, 4]]))
            #expect(a == Tensor([[1, 2], [3, 4]]))  // copy-on-write left `a` alone
            c.mapInPlace { $0 - 1 }
            c.addScaled(a, by: 2)
            #expect(c == Tensor([[10, 11], [9.5, 11]]))
        }
        check(Float.self)
        check(Double.self)
    }

    @Test func broadcastingMatchesNumpy() throws {
        func check<S: TestPrecision>(_: S.Type) throws {
            let base: Tensor<S> = try fixture("broadcast_base")
            let row: Tensor<S> = try fixture("broadcast_row")
            let column: Tensor<S> = try fixture("broadcast_column")
            expectClose(base - row, try fixture("broadcast_base_minus_row"), tolerance: S.tolerance)
            expectClose(base * column, try fixture("broadcast_base_times_column"), tolerance: S.tolerance)
            expectClose(column - row, try fixture("broadcast_column_minus_row"), tolerance: S.tolerance)
        }
        try check(Float.self)
        try check(Double.self)
    }

    @Test func broadcastShapeRules() {
        #expect(broadcastShape([4, 3], [3]) == [4, 3])
        #expect(broadcastShape([4, 1], [3]) == [4, 3])
        #expect(broadcastShape([2, 1, 5], [3, 1]) == [2, 3, 5])
        #expect(broadcastShape([4, 3], [4]) == nil)
        #expect(broadcastShape([], [2, 2]) == [2, 2])
    }
}

@Suite struct ReductionTests {
    @Test func reductionsAlongEveryAxisMatchNumpy() throws {
        func check<S: TestPrecision>(_: S.Type) throws {
            let t: Tensor<S> = try fixture("reduce_input")
            for axis in 0 ..< 3 {
                expectClose(t.sum(alongAxis: axis), try fixture("reduce_sum_axis\(axis)"), tolerance: S.tolerance)
                expectClose(t.mean(alongAxis: axis), try fixture("reduce_mean_axis\(axis)"), tolerance: S.tolerance)
                expectClose(t.max(alongAxis: axis), try fixture("reduce_max_axis\(axis)"), tolerance: S.tolerance)
                let expectedIndices = try NumpyArray(contentsOf: fixtureURL("reduce_argmax_axis\(axis)")).integers()
                #expect(t.argmax(alongAxis: axis) == expectedIndices)
            }
            // Negative axes count from the end.
            #expect(t.sum(alongAxis: -1) == t.sum(alongAxis: 2))
        }
        try check(Float.self)
        try check(Double.self)
    }

    @Test func reductionsByHand() {
        let m = Tensor<Double>([[1, 5, 2], [7, 0, 7]])
        #expect(m.sum(alongAxis: 0) == Tensor([8, 5, 9]))
        #expect(m.sum(alongAxis: 1) == Tensor([8, 14]))
        #expect(m.max(alongAxis: 1) == Tensor([5, 7]))
        #expect(m.argmax(alongAxis: 1) == [1, 0])  // first of the tied sevens
        #expect(m.mean(alongAxis: 0) == Tensor([4, 2.5, 4.5]))
        #expect(m.sum() == 22)
        #expect(Tensor<Double>([1, .nan, 3]).max(alongAxis: 0).scalar.isNaN)
    }

    @Test func softmaxIsStableAndMatchesScipy() throws {
        func check<S: TestPrecision>(_: S.Type) throws {
            let logits: Tensor<S> = try fixture("softmax_input")
            let probabilities = logits.softmax()
            expectClose(probabilities, try fixture("softmax_output"), tolerance: S.tolerance)
            expectClose(logits.logSoftmax(), try fixture("log_softmax_output"), tolerance: S.tolerance)
            // Each row sums to one.
            expectClose(probabilities.sum(alongAxis: 1), Tensor.ones([3]), tolerance: S.tolerance)
            #expect(!probabilities.scalars.contains { !$0.isFinite })
        }
        try check(Float.self)
        try check(Double.self)
        // Along the first axis, by hand: columns [0, log 3] give probabilities 1/4 and 3/4.
        let column = Tensor<Double>([[0, 0], [Double.log(3), 0]]).softmax(alongAxis: 0)
        expectClose(column, Tensor([[0.25, 0.5], [0.75, 0.5]]), tolerance: 1e-15)
    }
}
