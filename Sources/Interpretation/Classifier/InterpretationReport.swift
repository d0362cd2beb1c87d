import Datasets
import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// Everything the interpreter reports about a classifier on a dataset: the layer readout, the
/// analyses of chosen images, the dataset linearisation and the class templates.
///
/// It encodes as `report.json` (the architecture, readout, linearisation summary and per-sample
/// numbers; the maps are left to ``maps``; the page is drawn by the Reports module). `interpret` is this type
/// plus flags and file writing.
public struct InterpretationReport: Sendable, Encodable {
    /// Where the classifier came from (a checkpoint path), as shown in the report.
    public var source: String
    public var layers: Int
    public var width: Int
    public var inputFeatures: Int
    public var classes: Int
    public var activation: Activation
    public var sigma: Double
    /// The shape of one image, e.g. [28, 28] ([D] for flat data).
    public var imageShape: [Int]
    /// One name per class (Fashion-MNIST's names for 10 classes of 28×28 images).
    public var classNames: [String]
    public var readout: LayerReadout
    /// The chosen images, in the order asked.
    public var analyses: [SampleAnalysis]
    public var linearisation: DatasetLinearisation
    /// Wall-clock time of the dataset linearisation.
    public var linearisationSeconds: Double
    public var templates: ClassTemplates

    /// The stages of ``init(_:data:samples:linearise:batchSize:source:progress:)``, in order.
    public enum Stage: String, Sendable, CaseIterable {
        case readout = "layer readout"
        case samples
        case linearisation
    }

    /// Assembles a report from parts computed separately.
    public init<Scalar: BLASScalar>(
        source: String, classifier: IdentityClassifier<Scalar>, imageShape: [Int], readout: LayerReadout,
        analyses: [SampleAnalysis], linearisation: DatasetLinearisation, linearisationSeconds: Double
    ) {
        self.source = source
        layers = classifier.layers
        width = classifier.width
        inputFeatures = classifier.inputFeatures
        classes = classifier.classes
        activation = classifier.activation
        sigma = classifier.sigma
        self.imageShape = imageShape
        classNames = classifier.classes == 10 && imageShape == [28, 28]
            ? ImageDataset.fashionMNISTClassNames : (0 ..< classifier.classes).map { "class \($0)" }
        self.readout = readout
        self.analyses = analyses
        self.linearisation = linearisation
        self.linearisationSeconds = linearisationSeconds
        templates = ClassTemplates(classifier)
    }

    /// What `init` checks before any work, for callers that want the answer before they
    /// prepare anything else (a command, before its output folder): the classifier can be read
    /// exactly, and `data` and `samples` fit it.
    public static func check<Scalar: BLASScalar>(
        _ classifier: IdentityClassifier<Scalar>, data: LabeledImages, samples: [Int]
    ) throws(InterpretationError) {
        try classifier.checkInterpretable()
        guard data.count > 0 else { throw .emptyData }
        guard data.features == classifier.inputFeatures else {
            throw .inputWidthMismatch(found: data.features, expected: classifier.inputFeatures)
        }
        if let label = data.labels.max(), label >= classifier.classes {
            throw .labelOutOfRange(label: label, classes: classifier.classes)
        }
        if let bad = samples.first(where: { $0 < 0 || $0 >= data.count }) {
            throw .sampleOutOfRange(index: bad, count: data.count)
        }
        let bytes = Self.estimatedBytes(samples: samples.count, layers: classifier.layers, classes: classifier.classes,
                                        features: classifier.inputFeatures)
        if !MemoryBudget.allows(bytes) {
            throw .tooManySamples(samples: samples.count, estimatedBytes: bytes, limitBytes: Double(MemoryBudget.defaultLimit))
        }
    }

    /// Reads `classifier` on `data`: the layer readout over all images, the analyses of the
    /// images at `samples`, the linearisation of the first `linearise` images (all when nil)
    /// in batches of `batchSize`, and the templates. `progress(stage, done, total)` reports
    /// each stage as it goes (the linearisation image by batch).
    ///
    /// Throws before any work when the classifier cannot be read exactly or the data does not
    /// fit it (``InterpretationError``).
    public init<Scalar: BLASScalar>(
        _ classifier: IdentityClassifier<Scalar>, data: LabeledImages, samples: [Int], linearise: Int? = nil,
        batchSize: Int = 1000, source: String = "classifier",
        progress: (_ stage: Stage, _ done: Int, _ total: Int) -> Void = { _, _, _ in }
    ) throws(InterpretationError) {
        try Self.check(classifier, data: data, samples: samples)
        progress(.readout, 0, 1)
        let readout: LayerReadout
        do { readout = try LayerReadout(classifier, data: data) } catch { throw .readout(error) }
        progress(.readout, 1, 1)
        var analyses: [SampleAnalysis] = []
        for (done, i) in samples.enumerated() {
            progress(.samples, done, samples.count)
            let features = data.pixels[(i * data.features) ..< ((i + 1) * data.features)].map { Scalar($0) / 255 }
            analyses.append(try classifier.analyse(features, index: i, label: data.labels[i]))
        }
        progress(.samples, samples.count, samples.count)
        let start = Date()
        let linearisation = try DatasetLinearisation(classifier, data: data, count: linearise, samples: samples,
                                                     batchSize: batchSize) { progress(.linearisation, $0, $1) }
        self.init(source: source, classifier: classifier, imageShape: data.imageShape, readout: readout,
                  analyses: analyses, linearisation: linearisation, linearisationSeconds: Date().timeIntervalSince(start))
    }

    /// Bytes the analyses of `samples` images hold, in doubles of the input's size D: per image
    /// L layer changes, L cumulative changes, L × C class increments, C linearisation maps and a
    /// few more (input, Insens), counted three times — the analyses, the report's ``maps`` and
    /// their float32 copy for `.npy` (about 1 MB an image for 10 layers, 10 classes, 28 × 28).
    public static func estimatedBytes(samples: Int, layers: Int, classes: Int, features: Int) -> Double {
        let perImage = Double(features) * Double(2 * layers + layers * classes + classes + 4) * 8
        return 3 * Double(samples) * perImage
    }

    // MARK: Numbers

    /// The largest exact-increment error over the analysed images (docs/theory.md §1).
    public var incrementError: Double { analyses.map(\.incrementError).max() ?? 0 }
    /// The largest switched-projection reproduction error over the analysed images (§3).
    public var projectionError: Double { analyses.map(\.projectionError).max() ?? 0 }

    /// The per-layer table and the error lines the command prints.
    public var summary: String {
        var lines = ["layer  accuracy   true-class likelihood   ‖W−σI‖/‖σI‖"]
        for l in 0 ..< layers {
            lines.append(String(format: "%5d  %6.2f %%  %22.4f  %12.4f", l + 1, readout.accuracies[l] * 100,
                                readout.trueClassLikelihoods[l], readout.distanceFromIdentity[l]))
        }
        lines.append(String(format: "linearised the logits of %d test images in %.2f s; completeness error %.2e (relative, float32)",
                            linearisation.count, linearisationSeconds, linearisation.completenessError))
        lines.append(String(format: "exact-increment error %.2e, switched-projection reproduction error %.2e",
                            incrementError, projectionError))
        return lines.joined(separator: "\n")
    }

    // MARK: Maps

    /// Width and height of one map: images of [h, w] as they are, flat data as one row.
    public var mapSize: (width: Int, height: Int) { imageShape.count == 2 ? (imageShape[1], imageShape[0]) : (inputFeatures, 1) }

    /// One array of maps for `.npy`: `values` in row-major order of `shape`.
    public struct Map: Sendable, Equatable {
        /// The file name, e.g. "insens.npy".
        public var name: String
        public var shape: [Int]
        public var values: [Double]

        public init(name: String, shape: [Int], values: [Double]) {
            self.name = name
            self.shape = shape
            self.values = values
        }

        /// The map as float32, the precision its `.npy` file holds.
        public var tensor: Tensor<Float> { Tensor(shape: shape, scalars: values.map(Float.init)) }
    }

    /// The maps as arrays (s samples, L layers, C classes, an image of h × w; flat data as 1 × D):
    /// layer_changes and cumulative_changes [s, L, h, w], class_increments [s, L, C, h, w],
    /// insens [s, h, w], linearisation [s, C, h, w] (W(x)_c ⊙ x), templates [L, C, h, w].
    public var maps: [Map] {
        let image = [mapSize.height, mapSize.width]
        let s = analyses.count
        return [
            Map(name: "layer_changes.npy", shape: [s, layers] + image, values: analyses.flatMap { $0.layerChanges.flatMap { $0 } }),
            Map(name: "cumulative_changes.npy", shape: [s, layers] + image, values: analyses.flatMap { $0.cumulativeChanges.flatMap { $0 } }),
            Map(name: "class_increments.npy", shape: [s, layers, classes] + image,
                values: analyses.flatMap { $0.increments.flatMap { $0.flatMap { $0 } } }),
            Map(name: "insens.npy", shape: [s] + image, values: analyses.flatMap(\.insens)),
            Map(name: "linearisation.npy", shape: [s, classes] + image,
                values: linearisation.samples.flatMap { $0.attributions.flatMap { $0 } }),
            Map(name: "templates.npy", shape: [layers, classes] + image, values: templates.values.flatMap { $0.flatMap { $0 } }),
        ]
    }

    // MARK: report.json

    private enum CodingKeys: String, CodingKey {
        case checkpoint, layers, width, activation, readout, linearisedImages, completenessError, linearisationSeconds, samples
    }

    private struct SampleNumbers: Encodable {
        let index: Int, label: Int, prediction: Int
        let logits: [Double], biasShares: [Double]
        let incrementError: Double, projectionError: Double, insensUnits: Int
    }

    /// The numbers of `report.json`: the source (as `checkpoint`), the architecture, the readout,
    /// the linearisation summary and, per sample, its logits, bias shares and error checks.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(source, forKey: .checkpoint)
        try c.encode(layers, forKey: .layers)
        try c.encode(width, forKey: .width)
        try c.encode(activation, forKey: .activation)
        try c.encode(readout, forKey: .readout)
        try c.encode(linearisation.count, forKey: .linearisedImages)
        try c.encode(linearisation.completenessError, forKey: .completenessError)
        try c.encode(linearisationSeconds, forKey: .linearisationSeconds)
        try c.encode(zip(analyses, linearisation.samples).map { a, l in
            SampleNumbers(index: a.index, label: a.label, prediction: a.prediction, logits: l.logits, biasShares: l.biasShares,
                          incrementError: a.incrementError, projectionError: a.projectionError, insensUnits: a.insensUnits)
        }, forKey: .samples)
    }

    /// `report.json`'s text: sorted keys, pretty-printed. A NaN or infinite number (JSON has
    /// none) is refused, naming its place in the report.
    public func json() throws(InterpretationError) -> String {
        try reportJSON(self)
    }
}
