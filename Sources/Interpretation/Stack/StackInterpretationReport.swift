import Datasets
import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// The interpreter's report on any piecewise-linear layer stack (a PyTorch `nn.Sequential` of
/// `Linear`, `Conv1d/2d`, pooling, `Flatten` and ReLU-like modules, a self-describing stack
/// file): what applies to every such network — predictions and accuracy, the exact
/// linearisation of the score units (maps, bias shares, completeness), the active units per
/// layer, switched projections and Insens — and, when the stack has class dimensions,
/// the per-layer readout, contribution maps and class templates. What does not apply is listed
/// in ``notShown`` with the reason, and the page says so.
///
/// The identity classifier's report stays ``InterpretationReport`` (its numbers unchanged).
public struct StackInterpretationReport: Sendable, Encodable {
    /// Where the stack came from (a file path), as shown in the report.
    public var source: String
    /// One line per layer, e.g. "0: dense 784 → 1000".
    public var architecture: [String]
    public var inputShape: [Int]
    public var classDimensions: ClassDimensions?
    /// The shape of one image, e.g. [28, 28].
    public var imageShape: [Int]
    public var classNames: [String]
    public var evaluation: StackEvaluation
    /// Per-layer readout, with class dimensions only.
    public var readout: LayerReadout?
    /// Class templates, with class dimensions only.
    public var templates: ClassTemplates?
    public var analyses: [StackSampleAnalysis]
    public var linearisation: DatasetLinearisation
    public var linearisationSeconds: Double
    /// The active units of every unit layer over the linearised images (``UnitActivity``).
    public var activity: UnitActivity
    /// W(x)_c averaged over the linearised images of class c.
    public var classMeans: ClassMeanWeights
    /// channelMaps[s][k]: the analysed image s's ``ChannelMaps`` of channel layer k
    /// (``LayerStack/channelLayers``) for its predicted class; empty rows for a stack without.
    public var channelMaps: [[ChannelMaps]]
    /// What the report leaves out, by name ("readout", "contribution maps", "class templates"),
    /// and why: the one-line ``InterpretationError`` description.
    public var notShown: [String: String]

    /// The stages of the report's `init`, in order.
    public enum Stage: String, Sendable, CaseIterable {
        case evaluation
        case readout = "layer readout"
        case samples
        case linearisation
    }

    /// Reads `stack` on `data`: predictions over all images, the readout when the stack has
    /// class dimensions, the analyses of the images at `samples`, the linearisation of the
    /// first `linearise` images (all when nil). Throws before any work when the stack cannot
    /// be read exactly or the data does not fit it (``LayerStack/check(data:samples:)``).
    public init<Scalar: BLASScalar>(
        _ stack: LayerStack<Scalar>, data: LabeledImages, samples: [Int], linearise: Int? = nil, batchSize: Int = 1000,
        source: String = "network", progress: (_ stage: Stage, _ done: Int, _ total: Int) -> Void = { _, _, _ in }
    ) throws(InterpretationError) {
        try Self.check(stack, data: data, samples: samples)
        self.source = source
        architecture = stack.layers.enumerated().map { "\($0): \($1.layerDescription)" }
        inputShape = stack.inputShape
        classDimensions = stack.classDimensions
        imageShape = data.imageShape
        let classes = stack.scoreUnits.count
        classNames = classes == 10 && data.imageShape == [28, 28]
            ? ImageDataset.fashionMNISTClassNames : (0 ..< classes).map { "class \($0)" }
        progress(.evaluation, 0, 1)
        evaluation = try StackEvaluation(stack, data: data)
        var notShown: [String: String] = [:]
        progress(.readout, 0, 1)
        do {
            readout = try LayerReadout(stack, data: data)
            templates = try ClassTemplates(stack)
        } catch .needsClassDimensions {
            readout = nil
            templates = nil
            for (name, what) in [("readout", "per-layer readout"), ("contribution maps", "contribution maps"), ("class templates", "class templates")] {
                notShown[name] = InterpretationError.needsClassDimensions(analysis: what).description
            }
        }
        self.notShown = notShown
        analyses = []
        for (done, i) in samples.enumerated() {
            progress(.samples, done, samples.count)
            analyses.append(try stack.analyse(data, index: i))
        }
        channelMaps = []
        for i in samples { channelMaps.append(try stack.channelMaps(data, index: i)) }
        progress(.samples, samples.count, samples.count)
        let start = Date()
        var activity = UnitActivity(stack)
        var classMeans = ClassMeanWeights(classes: classes, features: data.features)
        linearisation = try DatasetLinearisation(stack, data: data, count: linearise, samples: samples, batchSize: batchSize,
                                                 activity: &activity, classMeans: &classMeans) { progress(.linearisation, $0, $1) }
        linearisationSeconds = Date().timeIntervalSince(start)
        self.activity = activity
        self.classMeans = classMeans
    }

    /// What `init` checks before any work: the stack, the data and the samples fit, and the
    /// chosen images' maps fit in memory.
    public static func check<Scalar: BLASScalar>(_ stack: LayerStack<Scalar>, data: LabeledImages, samples: [Int]) throws(InterpretationError) {
        try stack.check(data: data, samples: samples)
        let readout = (try? stack.readoutLayers())?.count ?? 0
        let bytes = InterpretationReport.estimatedBytes(samples: samples.count, layers: readout, classes: stack.scoreUnits.count,
                                                        features: data.features)
        if !MemoryBudget.allows(bytes) {
            throw .tooManySamples(samples: samples.count, estimatedBytes: bytes, limitBytes: Double(MemoryBudget.defaultLimit))
        }
    }

    public var classes: Int { classNames.count }
    public var inputFeatures: Int { imageShape.reduce(1, *) }
    /// The readout layers' count (0 without class dimensions).
    public var readoutLayers: Int { readout?.accuracies.count ?? 0 }
    /// The largest switched-projection reproduction error over the analysed images.
    public var projectionError: Double { analyses.map(\.projectionError).max() ?? 0 }

    /// The lines the command prints.
    public var summary: String {
        var lines = [String(format: "test accuracy %.2f %% (%d of %d images)", evaluation.accuracy * 100, evaluation.correct,
                            evaluation.predictions.count)]
        if let readout {
            lines.append("layer  accuracy   true-class likelihood")
            for l in readout.accuracies.indices {
                lines.append(String(format: "%5d  %6.2f %%  %22.4f", l + 1, readout.accuracies[l] * 100, readout.trueClassLikelihoods[l]))
            }
        }
        lines.append(String(format: "linearised the scores of %d test images in %.2f s; completeness error %.2e (relative)",
                            linearisation.count, linearisationSeconds, linearisation.completenessError))
        lines.append(String(format: "switched-projection reproduction error %.2e", projectionError))
        if !activity.layers.isEmpty {
            let layers = zip(activity.layers, activity.meanFractions).map { String(format: "layer %d %.1f %%", $0, $1 * 100) }
            lines.append(String(format: "active units %.1f %% (%@)", activity.overallFraction * 100, layers.joined(separator: ", ")))
        }
        for reason in notShown.values.sorted() { lines.append("not shown: \(reason)") }
        return lines.joined(separator: "\n")
    }

    /// Width and height of one map.
    public var mapSize: (width: Int, height: Int) { imageShape.count == 2 ? (imageShape[1], imageShape[0]) : (inputFeatures, 1) }

    /// The maps for `.npy`: linearisation [s, C, h, w] (W(x)_c ⊙ x), insens [s, h, w]; with class
    /// dimensions also layer_changes and cumulative_changes [s, L, h, w] and templates [L, C, h, w].
    public var maps: [InterpretationReport.Map] {
        let image = [mapSize.height, mapSize.width]
        let s = analyses.count
        var maps = [
            InterpretationReport.Map(name: "linearisation.npy", shape: [s, classes] + image,
                                     values: linearisation.samples.flatMap { $0.attributions.flatMap { $0 } }),
            InterpretationReport.Map(name: "insens.npy", shape: [s] + image, values: analyses.flatMap(\.insens)),
        ]
        if readout != nil {
            let l = readoutLayers
            maps.append(.init(name: "layer_changes.npy", shape: [s, l] + image, values: analyses.flatMap { ($0.layerChanges ?? []).flatMap { $0 } }))
            maps.append(.init(name: "cumulative_changes.npy", shape: [s, l] + image, values: analyses.flatMap { ($0.cumulativeChanges ?? []).flatMap { $0 } }))
        }
        for (k, layer) in (channelMaps.first ?? []).enumerated() {
            let perSample = channelMaps.map { $0[k] }
            maps.append(.init(name: "channel_contributions_layer\(layer.layer).npy", shape: [s] + layer.shape,
                              values: perSample.flatMap { $0.contributions.flatMap { $0 } }))
            maps.append(.init(name: "channel_insens_layer\(layer.layer).npy", shape: [s, layer.channels] + image,
                              values: perSample.flatMap { $0.insens.flatMap { $0 } }))
        }
        maps.append(.init(name: "class_mean_weights.npy", shape: [classes] + image, values: classMeans.means.flatMap { $0 }))
        if let templates {
            maps.append(.init(name: "templates.npy", shape: [templates.layers, classes] + image, values: templates.values.flatMap { $0.flatMap { $0 } }))
        }
        return maps
    }

    // MARK: report.json

    private enum CodingKeys: String, CodingKey {
        case checkpoint, architecture, inputShape, classDimensions, accuracy, correct, testImages, confusion, readout,
             linearisedImages, completenessError, linearisationSeconds, projectionError, samples, notShown, activeUnits,
             channelMaps, classMeanWeights
    }

    /// One channel layer's numbers at one image (its maps are in maps/).
    private struct ChannelNumbers: Encodable {
        let layer: Int, kind: String, shape: [Int], unit: Int
        let score: Double, downstreamBias: Double, completenessError: Double
        let channelTotals: [Double], insensUnits: [Int]
    }

    private struct ClassMeanNumbers: Encodable {
        let counts: [Int]
    }

    /// One unit layer's active units over the linearised images.
    private struct LayerActivity: Encodable {
        let layer: Int, kind: String, units: Int, meanActiveFraction: Double
    }

    private struct ActivityNumbers: Encodable {
        let layers: [LayerActivity]
        let overallActiveFraction: Double
        let images: Int
    }

    private struct SampleNumbers: Encodable {
        let index: Int, label: Int, prediction: Int
        let logits: [Double], biasShares: [Double]
        let projectionError: Double, insensUnits: Int
        let activeFractions: [Double]
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(source, forKey: .checkpoint)
        try c.encode(architecture, forKey: .architecture)
        try c.encode(inputShape, forKey: .inputShape)
        try c.encodeIfPresent(classDimensions, forKey: .classDimensions)
        try c.encode(evaluation.accuracy, forKey: .accuracy)
        try c.encode(evaluation.correct, forKey: .correct)
        try c.encode(evaluation.predictions.count, forKey: .testImages)
        try c.encode(evaluation.confusion, forKey: .confusion)
        try c.encodeIfPresent(readout, forKey: .readout)
        try c.encode(linearisation.count, forKey: .linearisedImages)
        try c.encode(linearisation.completenessError, forKey: .completenessError)
        try c.encode(linearisationSeconds, forKey: .linearisationSeconds)
        try c.encode(projectionError, forKey: .projectionError)
        try c.encode(zip(analyses, linearisation.samples).map { a, l in
            SampleNumbers(index: a.index, label: a.label, prediction: a.prediction, logits: l.logits, biasShares: l.biasShares,
                          projectionError: a.projectionError, insensUnits: a.insensUnits, activeFractions: a.activeFractions)
        }, forKey: .samples)
        try c.encode(notShown, forKey: .notShown)
        let means = activity.meanFractions
        try c.encode(ActivityNumbers(
            layers: activity.layers.indices.map { LayerActivity(layer: activity.layers[$0], kind: activity.kinds[$0], units: activity.units[$0],
                                                                meanActiveFraction: means[$0]) },
            overallActiveFraction: activity.overallFraction, images: activity.instances), forKey: .activeUnits)
        try c.encode(channelMaps.map { $0.map {
            ChannelNumbers(layer: $0.layer, kind: $0.kind, shape: $0.shape, unit: $0.unit, score: $0.score, downstreamBias: $0.downstreamBias,
                           completenessError: $0.completenessError, channelTotals: $0.channelTotals, insensUnits: $0.insensUnits)
        } }, forKey: .channelMaps)
        try c.encode(ClassMeanNumbers(counts: classMeans.counts), forKey: .classMeanWeights)
    }

    /// `report.json`'s text (sorted keys, pretty-printed); a NaN or infinite number is refused,
    /// naming its place.
    public func json() throws(InterpretationError) -> String {
        try reportJSON(self)
    }
}
