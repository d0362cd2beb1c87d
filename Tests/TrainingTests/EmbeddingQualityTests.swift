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
        let t12 = try EmbeddingQuality.trustworthiness(inputs: points, embedding: embedding, neighbours: 12)
        let t5 = try EmbeddingQuality.trustworthiness(inputs: points, embedding: embedding, neighbours: 5)
        #expect(abs(t12 - expected[0]) <= 1e-12, "k = 12: \(t12) vs scikit-learn \(expected[0])")
        #expect(abs(t5 - expected[1]) <= 1e-12, "k = 5: \(t5) vs scikit-learn \(expected[1])")
        // The points themselves are perfectly trustworthy.
        let itself = try EmbeddingQuality.trustworthiness(inputs: points, embedding: points, neighbours: 12)
        #expect(abs(itself - 1) <= 1e-15)
    }

    @Test func neighbourAccuracyIsScikitLearns() throws {
        let embedding = try tensor("quality_embedding"), references = try tensor("quality_references")
        let labels = try fixture("quality_labels").integers(), referenceLabels = try fixture("quality_reference_labels").integers()
        let expected = try fixture("quality_sklearn").scalars(as: Double.self)
        for (k, value) in [(1, expected[2]), (10, expected[3])] {
            let accuracy = try EmbeddingQuality.neighbourAccuracy(embedding, labels: labels, k: k)
            #expect(abs(accuracy - value) <= 1e-12, "leave-one-out \(k)-NN: \(accuracy) vs scikit-learn \(value)")
        }
        for (k, value) in [(1, expected[4]), (10, expected[5])] {
            let accuracy = try EmbeddingQuality.neighbourAccuracy(embedding, labels: labels, references: references, referenceLabels: referenceLabels, k: k)
            #expect(abs(accuracy - value) <= 1e-12, "reference \(k)-NN: \(accuracy) vs scikit-learn \(value)")
        }
    }

    /// scikit-learn's bound is k < n/2 in real numbers: 12 neighbours of 25 points are measured
    /// (0.7610256410256411 = sklearn 1.9.1's `trustworthiness(points[:25], embedding[:25],
    /// n_neighbors=12)` on this fixture, same 1e-12 as above), of 24 points refused with a typed
    /// error, not a trap (integer n/2 refused 25 too).
    @Test func tooFewPointsThrowAtScikitLearnsBound() throws {
        let points = try tensor("quality_points"), embedding = try tensor("quality_embedding")
        func first(_ n: Int, of t: Tensor<Double>) -> Tensor<Double> {
            Tensor(shape: [n, t.shape[1]], scalars: Array(t.scalars[0 ..< (n * t.shape[1])]))
        }
        let t25 = try EmbeddingQuality.trustworthiness(inputs: first(25, of: points), embedding: first(25, of: embedding), neighbours: 12)
        #expect(abs(t25 - 0.7610256410256411) <= 1e-12, "\(t25)")
        #expect(throws: TrainingError.invalidSetting(name: "trustworthiness neighbours", value: "12",
                                                     expected: "at least 1 and below half the 24 points (scikit-learn's k < n/2)")) {
            try EmbeddingQuality.trustworthiness(inputs: first(24, of: points), embedding: first(24, of: embedding), neighbours: 12)
        }
        // 10-NN among 10 points: each has 9 others.
        #expect(throws: TrainingError.invalidSetting(name: "neighbours", value: "10", expected: "between 1 and the 9 points each point has as candidates (10 points)")) {
            try EmbeddingQuality.neighbourAccuracy(first(10, of: embedding), labels: Array(repeating: 0, count: 10), k: 10)
        }
    }

    /// An unlabelled split (labels `[]`) is a thrown data mismatch, for the k-NN accuracy and for
    /// the evaluation that calls it.
    @Test func missingLabelsThrow() throws {
        let embedding = try tensor("quality_embedding")
        #expect(throws: TrainingError.dataMismatch("k-NN accuracy: 0 labels for 200 points")) {
            try EmbeddingQuality.neighbourAccuracy(embedding, labels: [], k: 1)
        }
    }
}
