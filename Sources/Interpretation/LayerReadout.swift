import Datasets
import Foundation
import Networks
import TensorAlgebra
import Training

/// What every layer's class dimensions know, over a dataset split (science.md §1): no probe
/// is trained; layer l predicts argmax h^l[D..<D+C], and its class likelihood is the softmax
/// of those scores.
public struct LayerReadout: Sendable, Codable {
    /// Recognition accuracy per layer.
    public var accuracies: [Double]
    /// Mean softmax probability of the true class per layer.
    public var trueClassLikelihoods: [Double]
    /// confusion[l][true][predicted].
    public var confusion: [[[Int]]]
    /// ‖W^l − σI‖_F / ‖σI‖_F per layer.
    public var distanceFromIdentity: [Double]
    public var samples: Int

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public init<Scalar: BLASScalar>(_ classifier: IdentityClassifier<Scalar>, data: LabeledImages, batchSize: Int = 500) {
        let (d, c, n, layers) = (classifier.inputFeatures, classifier.classes, classifier.width, classifier.layers)
        var confusion = [[[Int]]](repeating: [[Int]](repeating: [Int](repeating: 0, count: c), count: c), count: layers)
        var likelihood = [Double](repeating: 0, count: layers)
        var input = Tensor<Scalar>.zeros([1, n])
        var start = 0
        while start < data.count {
            let size = min(batchSize, data.count - start)
            if input.shape[0] != size { input = Tensor.zeros([size, n]) }
            data.gather((start ..< start + size).map { $0 }[...], into: &input)
            var x = input
            for l in 0 ..< layers {
                var h = matmul(x, classifier.network.weights[l], transposeB: true)
                if let b = classifier.network.biases[l] { h += b }
                h.withUnsafeBufferPointer { e in
                    for row in 0 ..< size {
                        let scores = e.baseAddress! + row * n + d
                        var best = 0
                        var largest = scores[0]
                        for k in 1 ..< c where scores[k] > largest { (best, largest) = (k, scores[k]) }
                        var total = 0.0
                        for k in 0 ..< c { total += Foundation.exp(Double(scores[k] - largest)) }
                        let label = data.labels[start + row]
                        likelihood[l] += Foundation.exp(Double(scores[label] - largest)) / total
                        confusion[l][label][best] += 1
                    }
                }
                let activation = classifier.activation
                x = h.map { activation($0) }
            }
            start += size
        }
        self.confusion = confusion
        accuracies = confusion.map { m in Double((0 ..< c).reduce(0) { $0 + m[$1][$1] }) / Double(max(data.count, 1)) }
        trueClassLikelihoods = likelihood.map { $0 / Double(max(data.count, 1)) }
        distanceFromIdentity = classifier.distanceFromIdentity()
        samples = data.count
    }
}
