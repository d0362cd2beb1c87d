import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// Occlusion (Zeiler and Fergus 2014; Captum's `Occlusion`): a window slides over the input by
/// `strides`; at each place the covered features are set to the baseline and the drop of the
/// target, F_t(x) − F_t(x_occluded), is credited to every covered feature; each feature's
/// credits are averaged over the windows that covered it. Captum's `sliding_window_shapes`,
/// `strides` and `baselines`, with its placement: along an axis of extent n the window of
/// extent w takes ⌈(n − w)/s⌉ + 1 places, starting at 0, s, 2s, …, the last one cropped where
/// it passes the input's end (Captum pads the window's mask by a negative amount there).
///
/// Window and strides span every axis of the per-sample shape, channels included (`[1, 3, 3]`
/// for a 3 × 3 patch of a one-channel image). All occluded copies go through the stack as
/// batches of up to `batchRows` rows, the copies of several samples together.
///
/// The window slides over the stack's *features*, laid out as ``imageShape``: the whole input
/// of a stack without class dimensions, the first D of a stack with them (an identity
/// classifier's flat D + C input, whose C class columns are 0 by construction and are never
/// occluded, so their map stays 0). Laying the D features of the MLP out as `[1, 28, 28]` gives it
/// the same 2-D patches as the CNN rather than strips that wrap across image rows.
public struct Occlusion<Scalar: BLASScalar>: AttributionMethod {
    public var name: String { "occlusion" }
    public var summary: String {
        "\(name) (window \(window.map { "\($0)" } ?? "default"), strides \(strides.map { "\($0)" } ?? "1"), \(baselineSummary(baseline, value: baselineValue)))"
    }
    /// The window's extent along each axis of the per-sample shape; nil: the whole first axis
    /// (the channels) of a rank ≥ 2 input and 3 along the others (clipped to the input).
    public var window: [Int]?
    /// The step along each axis; nil: 1 (Captum's default).
    public var strides: [Int]?
    /// The value occluded features take: one of the per-sample shape (or flattened), a batch of
    /// the inputs' shape, or nil for ``baselineValue`` everywhere. It is also the
    /// ``AttributionMethod/baseline`` that ``CompletenessResidual`` reads; a ``baselineValue``
    /// other than 0 with no tensor is not reported there (the residual then measures from zero).
    public var baseline: Tensor<Scalar>?
    public var baselineValue: Double
    public var batchRows: Int
    /// The shape the window slides over, laid over the features (its product must be their
    /// count); nil: the stack's input shape without class dimensions, and with them `[1, s, s]`
    /// when D = s² (an image), `[D]` otherwise.
    public var imageShape: [Int]?

    public init(window: [Int]? = nil, strides: [Int]? = nil, baseline: Tensor<Scalar>? = nil, baselineValue: Double = 0, batchRows: Int = 512,
                imageShape: [Int]? = nil) {
        self.imageShape = imageShape
        self.window = window
        self.strides = strides
        self.baseline = baseline
        self.baselineValue = baselineValue
        self.batchRows = batchRows
    }

    /// The window and strides for a per-sample `shape`, checked as Captum checks them: a window
    /// within the input, strides ≥ 1 and no longer than the window where it does not cover the axis.
    public func placement(for shape: [Int]) throws(InterpretationError) -> (window: [Int], strides: [Int], places: [Int]) {
        let window = self.window ?? shape.enumerated().map { axis, n in shape.count >= 2 && axis == 0 ? n : min(3, n) }
        let strides = self.strides ?? [Int](repeating: 1, count: shape.count)
        guard window.count == shape.count, zip(window, shape).allSatisfy({ $0 >= 1 && $0 <= $1 }) else {
            throw .invalidAttributionSetting(method: name, setting: "window", value: "\(window)", requirement: "at least 1 and within the input's \(shape) along each axis")
        }
        guard strides.count == shape.count, strides.allSatisfy({ $0 >= 1 }),
              (0 ..< shape.count).allSatisfy({ window[$0] == shape[$0] || strides[$0] <= window[$0] }) else {
            throw .invalidAttributionSetting(method: name, setting: "strides", value: "\(strides)",
                                             requirement: "at least 1 and at most the window \(window) along each axis it does not cover")
        }
        guard batchRows >= 1 else { throw .invalidAttributionSetting(method: name, setting: "batch rows", value: "\(batchRows)", requirement: "at least 1") }
        var places: [Int] = []
        for a in 0 ..< shape.count {
            let free: Int = shape[a] - window[a]
            places.append((free + strides[a] - 1) / strides[a] + 1)
        }
        return (window, strides, places)
    }

    /// The shape the window slides over on `stack` (``imageShape`` or its default), checked to
    /// hold as many values as the stack has features.
    public func occludedShape(on stack: LayerStack<Scalar>) throws(InterpretationError) -> [Int] {
        guard let classes = stack.classDimensions else {
            let shape = imageShape ?? stack.inputShape
            guard shape.reduce(1, *) == stack.inputShape.reduce(1, *), shape.allSatisfy({ $0 >= 1 }) else {
                throw .invalidAttributionSetting(method: name, setting: "image shape", value: "\(shape)",
                                                 requirement: "positive extents holding the \(stack.inputShape.reduce(1, *)) input values")
            }
            return shape
        }
        let d = classes.features, side = Int(Double(d).squareRoot().rounded())
        let shape = imageShape ?? (side * side == d ? [1, side, side] : [d])
        guard shape.reduce(1, *) == d, shape.allSatisfy({ $0 >= 1 }) else {
            throw .invalidAttributionSetting(method: name, setting: "image shape", value: "\(shape)",
                                             requirement: "positive extents holding the stack's \(d) features (its \(classes.classes) class columns are not occluded)")
        }
        return shape
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func attributions(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, targets: [Int]) throws(InterpretationError) -> Tensor<Scalar> {
        // The window's flat indices fall in 0 ..< features: the class columns come after them.
        let shape = try occludedShape(on: stack)
        let (window, strides, places) = try placement(for: shape)
        let batch = try stack.checkedInputs(inputs)
        let count = batch.shape[0], width = stack.inputShape.reduce(1, *), features = shape.reduce(1, *)
        try stack.checkTargets(targets, count: count)
        let units = stack.scoreUnits
        var base = try stack.checkedBaseline(baseline, count: count, method: name)
        if baseline == nil { base.values = Tensor(shape: [width], scalars: [Scalar](repeating: Scalar(baselineValue), count: width)) }
        // Every window as the flat indices it covers.
        let rank = shape.count
        var axisStrides = [Int](repeating: 1, count: rank)
        for a in stride(from: rank - 2, through: 0, by: -1) { axisStrides[a] = axisStrides[a + 1] * shape[a + 1] }
        var windows: [[Int]] = []
        let placeCount = places.reduce(1, *)
        // Captum numbers windows with the first axis varying fastest; the order changes nothing
        // but the summation order of the credits.
        for p in 0 ..< placeCount {
            var rest = p
            var ranges: [Range<Int>] = []
            for a in 0 ..< rank {
                let start = (rest % places[a]) * strides[a]
                rest /= places[a]
                ranges.append(start ..< min(start + window[a], shape[a]))
            }
            var cells = [0]
            for a in 0 ..< rank { cells = cells.flatMap { c in ranges[a].map { c + $0 * axisStrides[a] } } }
            windows.append(cells)
        }
        var covered = [Int](repeating: 0, count: features)
        for cells in windows { for c in cells { covered[c] += 1 } }
        let reference = stack.boundedOutputs(batch)
        let outputs = stack.outputShape.reduce(1, *)
        let engine = GeneratedBatches(stack, rows: batchRows)
        var maps = Tensor<Scalar>.zeros([count, width])
        let total = count * placeCount
        batch.withUnsafeBufferPointer { x in
            base.values.withUnsafeBufferPointer { b in
                reference.withUnsafeBufferPointer { f in
                    maps.withUnsafeMutableBufferPointer { m in
                        for first in stride(from: 0, to: total, by: engine.rows) {
                            let size = min(engine.rows, total - first)
                            engine.forward(size, fill: { rows in
                                for r in 0 ..< size {
                                    let (i, p) = (first + r).quotientAndRemainder(dividingBy: placeCount)
                                    let row = rows.baseAddress! + r * width
                                    row.update(from: x.baseAddress! + i * width, count: width)
                                    let bi = b.baseAddress! + (base.perSample ? i * width : 0)
                                    for c in windows[p] { row[c] = bi[c] }
                                }
                            }, read: { occluded in
                                for r in 0 ..< size {
                                    let (i, p) = (first + r).quotientAndRemainder(dividingBy: placeCount)
                                    let unit = units.lowerBound + targets[i]
                                    let drop = f[i * outputs + unit] - occluded[r * outputs + unit]
                                    for c in windows[p] { m[i * width + c] += drop }
                                }
                            })
                        }
                        for i in 0 ..< count {
                            for j in 0 ..< features { m[i * width + j] /= Scalar(covered[j]) }
                        }
                    }
                }
            }
        }
        return maps.reshaped(inputs.shape)
    }
}
