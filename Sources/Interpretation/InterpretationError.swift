import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// Why a classifier or its inputs cannot be interpreted. Every case comes from data or user
/// input (a checkpoint's metadata or weights, a dataset, chosen sample indices) and carries the
/// offending value, so `description` is one line a user can act on. Misuse by the programmer
/// (a class index out of range, a batch size of 0) is not an error: it stops with Networks'
/// `require` message.
public enum InterpretationError: Error, Equatable, CustomStringConvertible {
    /// The activation has no switched linear form φ(h) = D h + s: only hard-tanh, ReLU and
    /// linear networks can be linearised exactly (docs/theory.md §3, §4).
    case unsupportedActivation(Activation)
    /// Inputs with `found` features (columns) for a classifier that takes `expected` (D), or
    /// D + C with zero class columns.
    case inputWidthMismatch(found: Int, expected: Int)
    /// Images with as many values as the stack takes but in a shape its first layer does not
    /// read (a `[1, 784]` Conv1d given 28 × 28 images): the stack's own refusal, which names
    /// both shapes and the layer.
    case sampleShape(LayerStackInputError)
    /// Inputs that are not a matrix [count, features].
    case inputNotAMatrix(shape: [Int])
    /// Input row `sample` holds NaN or infinity.
    case nonFiniteInput(sample: Int)
    /// Layer `layer` (1-based) has `count` NaN or infinite values in its `tensor` ("weight" or "bias").
    case nonFiniteWeights(layer: Int, tensor: String, count: Int)
    /// A label that the classifier's C classes cannot hold.
    case labelOutOfRange(label: Int, classes: Int)
    /// A chosen sample index outside the dataset's `count` images.
    case sampleOutOfRange(index: Int, count: Int)
    /// The dataset holds no images.
    case emptyData
    /// The layer readout could not evaluate the data.
    case readout(EvaluationError)
    /// Layer `layer`'s distance from identity, ‖W − σI‖/‖σI‖, is not a finite number: the
    /// weights are too far from σI, or σ too small, for a double to hold it.
    case distanceNotFinite(layer: Int, sigma: Double)
    /// A number of `report.json` is NaN or infinite, which JSON cannot hold: `field` is its
    /// place in the report (e.g. `readout.trueClassLikelihoods[2]`), `value` its text.
    case notRepresentable(field: String, value: String)
    /// The analyses of `samples` chosen images would need `estimatedBytes`, more than the memory
    /// budget allows (each holds per-layer and per-class maps of the input's size).
    case tooManySamples(samples: Int, estimatedBytes: Double, limitBytes: Double)
    /// Layer `layer` (from 0, as in the stack's parameter names) of a layer stack is a smooth
    /// activation (tanh, erf): no switched linear form, so no exact linearisation.
    case smoothLayer(layer: Int, kind: String)
    /// Layer `layer` of a layer stack is of a kind the interpreter cannot linearise: it knows
    /// dense, convolution, max, average and global average pooling, flatten and the
    /// piecewise-linear activations.
    case unsupportedLayer(layer: Int, kind: String)
    /// A unit `unit` (its position in the layer's output: channel, then row and column, or
    /// one flat index) outside layer `layer`'s output of shape `shape`.
    case unitOutOfRange(layer: Int, unit: [Int], shape: [Int])
    /// A layer index outside the stack's `layers` layers.
    case layerOutOfRange(layer: Int, layers: Int)
    /// `what` would need `estimatedBytes`, more than the memory budget allows.
    case tooLargeForMemory(what: String, estimatedBytes: Double, limitBytes: Double)
    /// A stack's parameter (its state-dict name, e.g. "2.weight") holds `count` NaN or infinite values.
    case nonFiniteParameter(name: String, count: Int)
    /// Inputs of shape `found` for a stack that takes `[count] + expected` (or the flattened `[count, inputs]`).
    case inputShapeMismatch(found: [Int], expected: [Int])
    /// `analysis` reads the class units of every layer (docs/theory.md §1), which a network
    /// without class dimensions does not have.
    case needsClassDimensions(analysis: String)
    /// The network's `outputs` score units cannot score the data's `classes` classes (labels 0 ..< classes).
    case outputsDoNotFitClasses(outputs: Int, classes: Int)
    /// An attribution method's `setting` (a step count, a standard deviation, an occlusion
    /// window) holds `value`, which breaks `requirement` ("at least 1", "within the input's [1, 28, 28]").
    case invalidAttributionSetting(method: String, setting: String, value: String, requirement: String)
    /// An attribution method name that is not one of `known` (``AttributionMethodKind``).
    case unknownAttributionMethod(name: String, known: [String])
    /// An attribution metric's perturbation fraction (the share of features removed or
    /// inserted a step) outside (0, 1].
    case perturbationFractionOutOfRange(Double)
    /// An attribution metric's count of random draws (`setting`: "runs", "samples") below 1.
    case noDraws(setting: String, value: Int)
    /// An attribution metric's baseline of shape `found` for a network whose samples are `expected`.
    case baselineShapeMismatch(found: [Int], expected: [Int])
    /// Another setting of an attribution metric outside its range: `setting` (e.g. "subset size"),
    /// its `value` as text, and what it must be.
    case metricSettingOutOfRange(setting: String, value: String, expected: String)

    public var description: String {
        switch self {
        case .unsupportedActivation(let activation):
            "activation \(activation.rawValue) has no exact linearisation; the interpreter needs hard-tanh, ReLU or linear"
        case .inputWidthMismatch(let found, let expected):
            "the inputs have \(found) features but the classifier takes \(expected)"
        case .sampleShape(let error):
            error.description
        case .inputNotAMatrix(let shape):
            "the inputs have shape \(shape), expected a matrix [count, features]"
        case .nonFiniteInput(let sample):
            "input \(sample) holds NaN or infinite values"
        case .nonFiniteWeights(let layer, let tensor, let count):
            "layer \(layer) \(tensor) holds \(count) NaN or infinite values"
        case .labelOutOfRange(let label, let classes):
            "label \(label) does not fit the classifier's \(classes) classes"
        case .sampleOutOfRange(let index, let count):
            "sample index \(index) is out of range for the \(count) images"
        case .emptyData:
            "the dataset holds no images: there is nothing to interpret"
        case .readout(let error):
            error.description
        case .distanceNotFinite(let layer, let sigma):
            "layer \(layer)'s distance from identity ‖W−σI‖/‖σI‖ overflows a double (σ = \(sigma)): the weights are too large for σ"
        case .tooManySamples(let samples, let bytes, let limit):
            String(format: "%d chosen images need about %.1f GB for their maps (per layer and per class), more than the %.1f GB allowed (80 %% of physical memory); choose fewer",
                   samples, bytes / 1e9, limit / 1e9)
        case .smoothLayer(let layer, let kind):
            "layer \(layer) (\(kind)) is smooth and has no exact linearisation; the interpreter needs ReLU, leaky ReLU, hard-tanh or identity activations"
        case .unsupportedLayer(let layer, let kind):
            "layer \(layer) (\(kind)) cannot be linearised by the interpreter; it takes dense, convolution, max, average and global average pooling, flatten and ReLU, leaky ReLU, hard-tanh or identity activation layers"
        case .unitOutOfRange(let layer, let unit, let shape):
            "unit \(unit) is outside layer \(layer)'s output of shape \(shape)"
                + (unit.count == shape.count ? "" : " (give \(shape.count) indices, or 1 flat index below \(shape.reduce(1, *)))")
        case .layerOutOfRange(let layer, let layers):
            "layer \(layer) is out of range: the network has layers 0 ..< \(layers)"
        case .tooLargeForMemory(let what, let bytes, let limit):
            String(format: "%@ need about %.1f GB, more than the %.1f GB allowed (80 %% of physical memory); take fewer at a time",
                   what, bytes / 1e9, limit / 1e9)
        case .nonFiniteParameter(let name, let count):
            "'\(name)' holds \(count) NaN or infinite values"
        case .inputShapeMismatch(let found, let expected):
            "the inputs have shape \(found), but the network takes [count] + \(expected) or [count, \(expected.reduce(1, *))]"
        case .needsClassDimensions(let analysis):
            // "per-layer readout needs …", "class templates need …".
            "\(analysis) \(analysis.hasSuffix("s") ? "need" : "needs") class dimensions; this network has none"
        case .outputsDoNotFitClasses(let outputs, let classes):
            "the network has \(outputs) outputs but the data has \(classes) classes: its outputs cannot be their scores"
        case .invalidAttributionSetting(let method, let setting, let value, let requirement):
            "\(method): \(setting) \(value) is not allowed; it must be \(requirement)"
        case .unknownAttributionMethod(let name, let known):
            "unknown attribution method \(quotedValue(name)); the methods are \(known.joined(separator: ", "))"
        case .perturbationFractionOutOfRange(let fraction):
            "the perturbation fraction \(fraction) is outside (0, 1]: give the share of features perturbed a step"
        case .noDraws(let setting, let value):
            "\(setting) is \(value): the metric needs at least 1"
        case .baselineShapeMismatch(let found, let expected):
            "the baseline has shape \(found), but the network's samples are \(expected) (\(expected.reduce(1, *)) values)"
        case .metricSettingOutOfRange(let setting, let value, let expected):
            "the \(setting) \(value) is out of range: \(expected)"
        case .notRepresentable(let field, let value):
            "report.json cannot hold \(field) = \(value) (NaN or infinite; the weights are too large for \(Float.self) arithmetic?)"
        }
    }
}

extension IdentityClassifier {
    /// Checks, before any work, that the interpreter can read this classifier exactly: its
    /// activation is piecewise linear (hard-tanh, ReLU or linear) and every weight and bias is
    /// finite. A checkpoint with NaN weights fails here, in one line, rather than after a
    /// whole analysis of NaNs.
    public func checkInterpretable() throws(InterpretationError) {
        guard activation.isPiecewiseLinear else { throw .unsupportedActivation(activation) }
        for (l, w) in network.weights.enumerated() {
            let bad = w.nonFiniteCount
            if bad > 0 { throw .nonFiniteWeights(layer: l + 1, tensor: "weight", count: bad) }
            if let b = network.biases[l] {
                let bad = b.nonFiniteCount
                if bad > 0 { throw .nonFiniteWeights(layer: l + 1, tensor: "bias", count: bad) }
            }
        }
        // Non-finite weights first (the finer message). report.json and the page print the distance from identity: refuse, before any work,
        // a σ or weights for which it overflows (σ = 1e-320 makes it ∞ for any weights).
        for (l, distance) in distanceFromIdentity().enumerated() where !distance.isFinite {
            throw .distanceNotFinite(layer: l + 1, sigma: sigma)
        }
    }
}

/// A report's JSON text, sorted keys, pretty-printed: the one encoder of both reports
/// (``InterpretationReport`` and ``StackInterpretationReport``). A NaN or infinite number (JSON
/// has none) is refused, naming its place in the report.
func reportJSON(_ report: some Encodable) throws(InterpretationError) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    do { return String(decoding: try encoder.encode(report), as: UTF8.self) } catch {
        guard case EncodingError.invalidValue(let value, let context) = error else {
            throw .notRepresentable(field: "the report", value: "\(error)")
        }
        let field = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        // A NaN prints as "-nan" when its sign bit is set; the sign of a NaN means nothing.
        let number = (value as? Double) ?? (value as? Float).map(Double.init)
        let text = number.map { $0.isNaN ? "nan" : "\($0)" } ?? "\(value)"
        throw .notRepresentable(field: field.hasPrefix(".") ? String(field.dropFirst()) : field, value: text)
    }
}
