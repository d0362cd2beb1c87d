import FileFormats
import Foundation
import Testing
import TensorAlgebra
import Training

/// Trustworthiness and k-NN accuracy against scikit-learn on a fixture (Benchmarks/Peers/
/// tsne_fixtures.py: 200 points of 10 values in 4 clusters, a noisy 2-D projection). Both are
/// counts over neighbour lists of continuous random points (no ties), so they agree exactly up
/// to the last rounding of the final ratio (1e-12).
@Suite struct EmbeddingQualityTests {
    func fixture(_ name: String) throws -> NumpyArray {
        try NumpyArray(contentsOf: Bundle.module.url(forResource: name, withExtension: "npy", subdirectory: "Fixtures/tsne")!)
    }

    func tensor(_ name: String) throws -> Tensor<Double> {
        let a = try fixture(name)
        return Tensor(shape: a.shape, scalars: a.scalars(as: Double.self))
    }

    @Test func trustworthinessIsScikitLearns() throws {
        let points = try tensor("quality_points"), embedding = try tensor("quality_embedding")
        let expected = try fixture("quality_sklearn").scalars(as: Double.self)
        let t12 = EmbeddingQuality.trustworthiness(inputs: points, embedding: embedding, neighbours: 12)
        let t5 = EmbeddingQuality.trustworthiness(inputs: points, embedding: embedding, neighbours: 5)
        #expect(abs(t12 - expected[0]) <= 1e-12, "k = 12: \(t12) vs scikit-learn \(expected[0])")
        #expect(abs(t5 - expected[1]) <= 1e-12, "k = 5: \(t5) vs scikit-learn \(expected[1])")
        // The points themselves are perfectly trustworthy.
        #expect(abs(EmbeddingQuality.trustworthiness(inputs: points, embedding: points, neighbours: 12) - 1) <= 1e-15)
    }

    @Test func neighbourAccuracyIsScikitLearns() throws {
        let embedding = try tensor("quality_embedding"), references = try tensor("quality_references")
        let labels = try fixture("quality_labels").integers(), referenceLabels = try fixture("quality_reference_labels").integers()
        let expected = try fixture("quality_sklearn").scalars(as: Double.self)
        for (k, value) in [(1, expected[2]), (10, expected[3])] {
            let accuracy = EmbeddingQuality.neighbourAccuracy(embedding, labels: labels, k: k)
            #expect(abs(accuracy - value) <= 1e-12, "leave-one-out \(k)-NN: \(accuracy) vs scikit-learn \(value)")
        }
        for (k, value) in [(1, expected[4]), (10, expected[5])] {
            let accuracy = EmbeddingQuality.neighbourAccuracy(embedding, labels: labels, references: references, referenceLabels: referenceLabels, k: k)
            #expect(abs(accuracy - value) <= 1e-12, "reference \(k)-NN: \(accuracy) vs scikit-learn \(value)")
        }
    }
}
