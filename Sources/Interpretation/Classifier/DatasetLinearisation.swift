import Datasets
import Networks
import TensorAlgebra
import IsometrySupport

/// One image's exact linearisation F(x) = W(x)·x + b(x) (docs/theory.md §4), as plain numbers.
public struct SampleLinearisation: Sendable, Codable, Equatable {
    /// The image's index in the dataset.
    public var index: Int
    /// attributions[c][j] = W(x)[c, j]·x[j] over the D features: each pixel's exact share of logit c.
    public var attributions: [[Double]]
    /// b(x)_c: the share of each logit that no pixel owns.
    public var biasShares: [Double]
    /// F(x)_c: the logits of the forward pass; Σ_j attributions[c][j] + biasShares[c] = logits[c].
    public var logits: [Double]

    public init(index: Int, attributions: [[Double]], biasShares: [Double], logits: [Double]) {
        self.index = index
        self.attributions = attributions
        self.biasShares = biasShares
        self.logits = logits
    }
}

/// The instance-wise linearisation of the first `count` images of a dataset, in batches of
/// ``InstanceLinearisation`` (one GEMM of [B·C, N]·[N, N] per layer and batch): the worst
/// completeness error over all of them, and the full maps of a few chosen images.
///
/// ```swift
/// let linear = try DatasetLinearisation(classifier, data: test, count: 1000, samples: [0, 1, 2])
/// print(linear.completenessError, linear.samples[0].attributions[linear.samples[0].prediction])
/// ```
public struct DatasetLinearisation: Sendable, Codable, Equatable {
    /// How many images were linearised (the first `count` of the dataset).
    public var count: Int
    /// Images per batch.
    public var batchSize: Int
    /// max |W(x)x + b(x) − F(x)| / max(1, |F(x)|) over the linearised images and the samples.
    public var completenessError: Double
    /// The chosen images' maps, bias shares and logits, in the order asked.
    public var samples: [SampleLinearisation]

    /// Linearises the first `count` images of `data` (all when nil) in batches of `batchSize`,
    /// then the images at `samples` (one more pass, their maps kept). `progress(done, total)`
    /// is called after every batch, with total = count + samples.count images.
    ///
    /// Throws before any work when the classifier cannot be linearised exactly
    /// (`checkInterpretable()`) or the data does not fit it (another
    /// feature count, no images, a sample index out of range). A batch size or count below 1 is
    /// a programming error.
    public init<Scalar: BLASScalar>(
        _ classifier: IdentityClassifier<Scalar>, data: LabeledImages, count: Int? = nil, samples: [Int] = [],
        batchSize: Int = 1000, progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }
    ) throws(InterpretationError) {
        require(batchSize >= 1, "DatasetLinearisation: batch size must be at least 1, got \(batchSize)")
        require(count.map { $0 >= 1 } ?? true, "DatasetLinearisation: count must be at least 1, got \(count ?? 0)")
        try classifier.checkInterpretable()
        guard data.count > 0 else { throw .emptyData }
        guard data.features == classifier.inputFeatures else {
            throw .inputWidthMismatch(found: data.features, expected: classifier.inputFeatures)
        }
        if let bad = samples.first(where: { $0 < 0 || $0 >= data.count }) {
            throw .sampleOutOfRange(index: bad, count: data.count)
        }
        let total = min(count ?? data.count, data.count)
        let (n, d, c) = (classifier.width, classifier.inputFeatures, classifier.classes)
        let work = total + samples.count
        var worst = 0.0
        var start = 0
        while start < total {
            let size = min(batchSize, total - start)
            var inputs = Tensor<Scalar>.zeros([size, n])
            data.gather(Array(start ..< start + size)[...], into: &inputs)
            worst = max(worst, InstanceLinearisation(checked: classifier, inputs: inputs).completenessError)
            start += size
            progress(start, work)
        }
        var detail: [SampleLinearisation] = []
        var first = 0
        while first < samples.count {
            let chosen = samples[first ..< min(first + batchSize, samples.count)]
            var inputs = Tensor<Scalar>.zeros([chosen.count, n])
            data.gather(chosen, into: &inputs)
            let linear = InstanceLinearisation(checked: classifier, inputs: inputs)
            worst = max(worst, linear.completenessError)
            for (row, index) in chosen.enumerated() {
                let x = Array(inputs.row(row).scalars[0 ..< d])
                detail.append(SampleLinearisation(
                    index: index, attributions: (0 ..< c).map { linear.attribution(instance: row, class: $0, input: x) },
                    biasShares: (0 ..< c).map { Double(linear.biases[row, $0]) },
                    logits: (0 ..< c).map { Double(linear.logits[row, $0]) }))
            }
            first += chosen.count
            progress(total + first, work)
        }
        self.count = total
        self.batchSize = batchSize
        completenessError = worst
        self.samples = detail
    }
}

extension SampleLinearisation {
    /// The class with the largest logit.
    public var prediction: Int { logits.indices.max { logits[$0] < logits[$1] } ?? 0 }
}

/// The class templates W^l[D+c, 0..<D] of every layer l and class c (docs/theory.md §1): the
/// weights with which layer l writes the features into class c's score.
public struct ClassTemplates: Sendable, Codable, Equatable {
    /// values[l][c][j] = W^{l+1}[D+c, j]: layer index l counts from 0 (the first layer).
    public var values: [[[Double]]]

    public var layers: Int { values.count }
    public var classes: Int { values.first?.count ?? 0 }

    /// Reads the templates off the classifier's weights.
    public init<Scalar: BLASScalar>(_ classifier: IdentityClassifier<Scalar>) {
        let (d, n, c) = (classifier.inputFeatures, classifier.width, classifier.classes)
        values = classifier.network.weights.map { w in
            w.withUnsafeBufferPointer { e in
                (0 ..< c).map { k in (0 ..< d).map { Double(e[(d + k) * n + $0]) } }
            }
        }
    }

    /// The template of class `c` in layer `layer` (from 0); out-of-range indices stop with a message.
    public subscript(layer layer: Int, class c: Int) -> [Double] {
        require(layer >= 0 && layer < layers, "ClassTemplates: layer \(layer) is out of range for \(layers) layers (they count from 0)")
        require(c >= 0 && c < classes, "ClassTemplates: class \(c) is out of range for \(classes) classes")
        return values[layer][c]
    }
}
