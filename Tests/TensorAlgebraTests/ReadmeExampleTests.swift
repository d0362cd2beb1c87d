import Foundation
import Testing
import TensorAlgebra
import FileFormats

/// The README's API tour, verbatim, so the documented snippet keeps compiling and running.
@Suite struct ReadmeExampleTests {
    @Test func apiTourRuns() throws {
        // --- README snippet begins ---
        var rng = SeededGenerator(seed: 42)
        let x = Tensor<Float>.randomNormal([128, 794], using: &rng)       // a mini-batch
        let w = Tensor<Float>.identity(794, scale: 1.0)                   // a layer, σI
        var h = Tensor<Float>.zeros([128, 794])                           // preallocated
        matmul(x, w, transposeB: true, into: &h)                          // h = x·Wᵀ, no copy of Wᵀ
        h.mapInPlace { min(max($0, -1), 1) }                              // hard-tanh
        let probabilities = h.softmax()                                   // along the last axis
        let predictions = h.argmax(alongAxis: 1)

        let q = Tensor<Double>.randomOrthogonal(64, using: &rng)          // Haar orthogonal
        let s = try singularValues(q)                                     // all 1 for orthogonal q
        let (values, vectors) = try eigh(matmul(q, q, transposeB: true))  // symmetric eigen

        let url = FileManager.default.temporaryDirectory.appendingPathComponent("h.npy")
        try h.writeNumpyFile(to: url)                                     // np.load("h.npy")
        let back = try Tensor<Float>(contentsOfNumpyFile: url)
        // --- README snippet ends ---
        #expect(probabilities.shape == [128, 794] && predictions.count == 128)
        #expect(s.scalars.allSatisfy { abs($0 - 1) < 1e-12 })
        #expect(values.scalars.allSatisfy { abs($0 - 1) < 1e-12 } && vectors.shape == [64, 64])
        #expect(back == h)
        try? FileManager.default.removeItem(at: url)
    }
}
