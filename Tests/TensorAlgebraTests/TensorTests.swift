import Testing
@testable import TensorAlgebra
import FileFormats

@Suite struct TensorTests {
    @Test func constructionAndShape() {
        let m = Tensor<Float>([[1, 2, 3], [4, 5, 6]])
        #expect(m.shape == [2, 3] && m.rows == 2 && m.columns == 3 && m.count == 6)
        #expect(m[1, 2] == 6)
        let cube = Tensor<Double>([[[1, 2], [3, 4]], [[5, 6], [7, 8]]])
        #expect(cube.shape == [2, 2, 2] && cube[1, 0, 1] == 6)
        #expect(Tensor<Double>.identity(3, scale: 2) == Tensor([[2, 0, 0], [0, 2, 0], [0, 0, 2]]))
        #expect(Tensor<Double>.diagonal(Tensor([1, 2])) == Tensor([[1, 0], [0, 2]]))
        #expect(Tensor<Float>.ones([2, 2]).sum() == 4)
        #expect(Tensor<Float>.zeros([0, 3]).count == 0)
        #expect(m.description == "[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]")
    }

    @Test func copyOnWriteKeepsValueSemantics() {
        let a = Tensor<Double>([1, 2, 3])
        var b = a
        #expect(a.storage === b.storage)  // shared until written
        b[0] = 10
        #expect(a == Tensor([1, 2, 3]) && b == Tensor([10, 2, 3]))
        #expect(a.storage !== b.storage)
        var unique = Tensor<Double>([1, 2])
        // A copy would allocate the new storage while the old one is still alive, so an
        // unchanged identity proves the write happened in place.
        let before = ObjectIdentifier(unique.storage)
        unique[1] = 5
        #expect(ObjectIdentifier(unique.storage) == before)
    }

    @Test func rowSlicesShareStorageUntilWritten() {
        let m = Tensor<Double>([[1, 2], [3, 4], [5, 6]])
        var batch = m.rows(1 ..< 3)
        #expect(batch == Tensor([[3, 4], [5, 6]]))
        #expect(batch.storage === m.storage)
        #expect(m.row(2) == Tensor([5, 6]))
        batch[0, 0] = 0
        #expect(m[1, 0] == 3 && batch[0, 0] == 0)
    }

    @Test func reshapeAndTranspose() {
        let v = Tensor<Float>(shape: [6], scalars: [1, 2, 3, 4, 5, 6])
        let m = v.reshaped(2, -1)
        #expect(m.shape == [2, 3] && m.storage === v.storage)
        #expect(m.transposed() == Tensor([[1, 4], [2, 5], [3, 6]]))
        // A transpose large enough to cross the cache blocks.
        var generator = SeededGenerator(seed: 1)
        let big = Tensor<Double>.randomNormal([70, 45], using: &generator)
        let t = big.transposed()
        #expect(t.shape == [45, 70] && t[44, 69] == big[69, 44] && t[3, 40] == big[40, 3])
        #expect(t.transposed() == big)
        #expect(big.converted(to: Float.self).converted(to: Double.self).shape == [70, 45])
    }

    @Test func seededGeneratorMatchesIndependentImplementation() throws {
        // Scripts/make_fixtures.py reimplements SplitMix64 + xoshiro256** and the polar method.
        var generator = SeededGenerator(seed: 42)
        let expected = try NumpyArray(contentsOf: fixtureURL("rng_seed42_uint64_as_int64")).integers()
        #expect((0 ..< 8).map { _ in Int(bitPattern: UInt(generator.next())) } == expected)

        var normals = SeededGenerator(seed: 7)
        let reference: Tensor<Double> = try fixture("rng_seed7_normals")
        let drawn = Tensor<Double>.randomNormal([10], using: &normals)
        // portableLog versus libm's log: within a few ulps of each other.
        expectClose(drawn, reference, tolerance: 1e-14)
        // Float tensors round the same Double deviates.
        var again = SeededGenerator(seed: 7)
        #expect(Tensor<Float>.randomNormal([10], using: &again) == drawn.converted(to: Float.self))
    }

    @Test func portableLogAgreesWithLibm() {
        for x in [1e-300, 1e-10, 0.1, 0.5, 0.7071, 1, 1.5, 2, 10, 1e300] {
            expectClose(portableLog(x), Double.log(x), tolerance: 4e-16)
        }
    }

    @Test func randomMomentsAreRight() {
        // 100,000 draws: the sample mean has standard error 1/√1e5 ≈ 0.0032 for N(0, 1),
        // the sample variance ≈ √(2/1e5) ≈ 0.0045. Bounds are five standard errors.
        var generator = SeededGenerator(seed: 5)
        let normal = Tensor<Double>.randomNormal([100_000], mean: 1, standardDeviation: 2, using: &generator)
        let mean = normal.mean()
        let variance = (normal - mean).map { $0 * $0 }.mean()
        #expect(abs(mean - 1) < 5 * 2 * 0.0032)
        #expect(abs(variance / 4 - 1) < 5 * 0.0045)
        let uniform = Tensor<Float>.randomUniform([100_000], in: -1 ..< 1, using: &generator)
        #expect(uniform.scalars.allSatisfy { $0 >= -1 && $0 < 1 })
        // Uniform on [-1, 1): mean 0, standard deviation 1/√3; standard error 0.0018.
        #expect(abs(uniform.mean()) < 5 * 0.0018)
    }
}
