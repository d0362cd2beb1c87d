import Datasets
import Foundation
import TensorAlgebra
import IsometrySupport

/// Accuracy and loss over a dataset, and what every layer's class dimensions know.
public struct Evaluation: Sendable, Codable {
    public var loss: Double
    public var accuracy: Double
    /// Layer l's recognition accuracy: argmax of h^l[D..<D+C] against the label, no probe
    /// (docs/theory.md §1).
    public var layerAccuracies: [Double]
    /// Per layer, confusion[true][predicted] counts.
    public var layerConfusion: [[[Int]]]
    /// Per layer, the mean softmax probability of the true class over its class dimensions.
    public var layerTrueClassLikelihoods: [Double]
    /// The network's predicted class per sample.
    public var predictions: [Int]
    /// The network's logits per sample, `[count][C]` (not encoded: they can be large).
    public var logits: [[Double]]

    enum CodingKeys: String, CodingKey {
        case loss, accuracy, layerAccuracies, layerConfusion, layerTrueClassLikelihoods, predictions
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        loss = try c.decode(Double.self, forKey: .loss)
        accuracy = try c.decode(Double.self, forKey: .accuracy)
        layerAccuracies = try c.decode([Double].self, forKey: .layerAccuracies)
        layerConfusion = try c.decode([[[Int]]].self, forKey: .layerConfusion)
        layerTrueClassLikelihoods = try c.decode([Double].self, forKey: .layerTrueClassLikelihoods)
        predictions = try c.decode([Int].self, forKey: .predictions)
        logits = []
    }

    init(loss: Double, accuracy: Double, layerAccuracies: [Double], layerConfusion: [[[Int]]],
         layerTrueClassLikelihoods: [Double], predictions: [Int], logits: [[Double]]) {
        self.loss = loss
        self.accuracy = accuracy
        self.layerAccuracies = layerAccuracies
        self.layerConfusion = layerConfusion
        self.layerTrueClassLikelihoods = layerTrueClassLikelihoods
        self.predictions = predictions
        self.logits = logits
    }
}

/// Data that a classifier cannot evaluate.
public enum EvaluationError: Error, Equatable, CustomStringConvertible {
    case empty
    case featureMismatch(dataFeatures: Int, networkFeatures: Int)
    case labelOutOfRange(label: Int, classes: Int)

    public var description: String {
        switch self {
        case .empty: "the dataset holds no images: there is nothing to evaluate"
        case .featureMismatch(let data, let network):
            "the images have \(data) features but the classifier takes \(network)"
        case .labelOutOfRange(let label, let classes): "label \(label) does not fit the classifier's \(classes) classes"
        }
    }
}

extension IdentityClassifier {
    /// Loss, accuracy, per-sample logits and every layer's readout accuracy, true-class
    /// likelihood and confusion matrix over `data`, in batches of `batchSize` rows.
    ///
    /// Each layer is one GEMM x·Wᵀ into a buffer allocated once per batch size; the last
    /// layer computes only its C class columns, as the trainer does, so the two agree to
    /// the last bit.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func evaluate(_ data: LabeledImages, batchSize: Int = 500) throws(EvaluationError) -> Evaluation {
        guard data.count > 0 else { throw .empty }
        guard data.features == inputFeatures else { throw .featureMismatch(dataFeatures: data.features, networkFeatures: inputFeatures) }
        if let label = data.labels.max(), label >= classes { throw .labelOutOfRange(label: label, classes: classes) }
        require(batchSize >= 1, "evaluate: batch size must be at least 1, got \(batchSize)")
        let (c, d, n) = (classes, inputFeatures, width)
        var confusion = [[[Int]]](repeating: [[Int]](repeating: [Int](repeating: 0, count: c), count: c), count: layers)
        var likelihood = [Double](repeating: 0, count: layers)
        var predictions = [Int](repeating: 0, count: data.count)
        var logits = [[Double]](repeating: [], count: data.count)
        var totalLoss = 0.0
        var correct = 0
        let classRows = network.weights.last!.rows(d ..< n)
        let lastBias: Tensor<Scalar>? = network.biases.last!.map { Tensor($0.scalars[d ..< n].map { $0 }) }
        var start = 0
        var x = Tensor<Scalar>.zeros([0, n]), h = x, scores = Tensor<Scalar>.zeros([0, c])
        while start < data.count {
            let size = min(batchSize, data.count - start)
            if x.shape[0] != size {
                x = .zeros([size, n])
                h = .zeros([size, n])
                scores = .zeros([size, c])
            }
            data.gather(Array(start ..< start + size)[...], into: &x)
            for l in 0 ..< layers {
                let last = l == layers - 1
                if last {
                    matmul(x, classRows, transposeB: true, into: &scores)
                    if let lastBias { scores += lastBias }
                } else {
                    matmul(x, network.weights[l], transposeB: true, into: &h)
                    if let b = network.biases[l] { h += b }
                }
                // Layer l's class scores: the class columns of h^l.
                let (source, stride, offset) = last ? (scores, c, 0) : (h, n, d)
                source.withUnsafeBufferPointer { e in
                    for row in 0 ..< size {
                        let s = e.baseAddress! + row * stride + offset
                        let label = data.labels[start + row]
                        var best = 0
                        for k in 1 ..< c where s[k] > s[best] { best = k }
                        confusion[l][label][best] += 1
                        var total = 0.0
                        for k in 0 ..< c { total += Foundation.exp(Double(s[k] - s[best])) }
                        likelihood[l] += Foundation.exp(Double(s[label] - s[best])) / total
                        if last {
                            predictions[start + row] = best
                            logits[start + row] = (0 ..< c).map { Double(s[$0]) }
                            // −log softmax[label] in the network's precision, stably from
                            // the largest logit, exactly as the trainer's loss.
                            var sum: Scalar = 0
                            for k in 0 ..< c { sum += Scalar.exp(s[k] - s[best]) }
                            totalLoss -= Double(s[label] - s[best] - Scalar.log(sum))
                            if best == label { correct += 1 }
                        }
                    }
                }
                if !last {
                    let activation = activation
                    x.withUnsafeMutableBufferPointer { xe in
                        h.withUnsafeBufferPointer { he in
                            for i in 0 ..< size * n { xe[i] = activation(he[i]) }
                        }
                    }
                }
            }
            start += size
        }
        let count = Double(data.count)
        let accuracies = confusion.map { matrix in Double((0 ..< c).reduce(0) { $0 + matrix[$1][$1] }) / count }
        return Evaluation(loss: totalLoss / count, accuracy: Double(correct) / count, layerAccuracies: accuracies,
                          layerConfusion: confusion, layerTrueClassLikelihoods: likelihood.map { $0 / count },
                          predictions: predictions, logits: logits)
    }
}
