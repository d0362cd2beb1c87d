import Foundation
import TensorAlgebra
import IsometrySupport
import FileFormats

/// Samples of float features of any per-sample shape with integer labels or float targets
/// (PyTorch's `TensorDataset`): what the layer-stack trainer and its evaluation take.
///
/// Why it is shaped this way. Features keep the element type they came in (bytes, float32,
/// float64) and are converted only when a batch is gathered, so IDX images stay a quarter of
/// the memory of floats and become exactly `Scalar(byte) · (1/255)`, as ``LabeledImages``
/// gathers them, and a float64 `.npy` file trains in double precision without a rounding
/// through float32.
public struct TensorDataset: Sendable {
    /// The stored features, row-major, `count × sampleShape`.
    public enum Features: Sendable, Equatable {
        /// Bytes scaled by 1/255 when gathered (IDX images).
        case bytes([UInt8])
        case float([Float])
        case double([Double])

        var count: Int {
            switch self {
            case .bytes(let v): v.count
            case .float(let v): v.count
            case .double(let v): v.count
            }
        }
    }

    /// What a sample is compared with.
    public enum Targets: Sendable, Equatable {
        /// One class index in `0 ..< classes` per sample.
        case labels([Int], classes: Int)
        /// `targetShape` floats per sample (regression, mean squared error).
        case values([Double], shape: [Int])
    }

    public let features: Features
    public let targets: Targets
    /// The shape of one sample's features, e.g. `[28, 28]` or `[784]`.
    public let sampleShape: [Int]
    public let count: Int
    /// What errors name: the features' file, or "features" for data from memory.
    public var source: String

    /// Scalars per sample.
    public var featureCount: Int { sampleShape.reduce(1, *) }
    /// The labels, or nil for float targets.
    public var labels: [Int]? { if case .labels(let l, _) = targets { l } else { nil } }
    /// The number of classes, or nil for float targets.
    public var classes: Int? { if case .labels(_, let c) = targets { c } else { nil } }
    /// The shape of one sample's target: `[]` for a label.
    public var targetShape: [Int] { if case .values(_, let shape) = targets { shape } else { [] } }

    /// Checks that the features and targets describe `count` samples of `sampleShape`
    /// (`source` names them in errors).
    public init(features: Features, sampleShape: [Int], targets: Targets, source: String = "data") throws(DatasetError) {
        guard !sampleShape.isEmpty, sampleShape.allSatisfy({ $0 >= 1 }), let perSample = MemoryBudget.product(sampleShape) else {
            throw DatasetError(source: source, problem: "sample shape \(sampleShape) must have at least one dimension, every one ≥ 1")
        }
        let count: Int
        switch targets {
        case .labels(let labels, let classes):
            guard classes >= 1 else { throw DatasetError(source: source, problem: "\(classes) classes, expected at least 1") }
            if let bad = labels.firstIndex(where: { !(0 ..< classes).contains($0) }) {
                throw DatasetError(source: source, problem: "label \(labels[bad]) of sample \(bad) is outside 0 ..< \(classes)")
            }
            count = labels.count
        case .values(let values, let shape):
            let width = shape.reduce(1, *)
            guard width >= 1, values.count % width == 0 else {
                throw DatasetError(source: source, problem: "\(values.count) target values do not make whole targets of shape \(shape)")
            }
            count = values.count / width
        }
        guard features.count == count * perSample else {
            throw DatasetError(source: source, problem: "\(features.count) feature values for \(count) samples of shape \(sampleShape) (expected \(count * perSample))")
        }
        self.features = features
        self.targets = targets
        self.sampleShape = sampleShape
        self.count = count
        self.source = source
    }

    /// Float features with integer labels, from memory.
    public init(features: [Float], sampleShape: [Int], labels: [Int], classes: Int? = nil) throws(DatasetError) {
        try self.init(features: .float(features), sampleShape: sampleShape,
                      targets: .labels(labels, classes: classes ?? ((labels.max() ?? 0) + 1)), source: "features")
    }

    /// Float features with float targets, from memory.
    public init(features: [Float], sampleShape: [Int], targets: [Double], targetShape: [Int]) throws(DatasetError) {
        try self.init(features: .float(features), sampleShape: sampleShape, targets: .values(targets, shape: targetShape), source: "features")
    }

    /// Labelled images as they are (bytes, ÷255 when gathered): the same numbers the
    /// identity classifier's trainer sees.
    public init(_ images: LabeledImages) {
        // LabeledImages has checked its own shapes and labels.
        try! self.init(features: .bytes(images.pixels), sampleShape: images.imageShape,
                       targets: .labels(images.labels, classes: images.classes), source: "images")
    }

    /// Features `[N, ...]` (float32, float64 or integers, taken as they are) and labels `[N]`
    /// (uint8 or int64) from `.npy` files; `classes` defaults to the largest label + 1.
    public init(npyFeatures featuresURL: URL, labels labelsURL: URL, classes: Int? = nil) throws(DatasetError) {
        let (features, shape) = try Self.readFeatures(featuresURL)
        let labelArray = try Self.read(labelsURL)
        guard labelArray.dtype == .uint8 || labelArray.dtype == .int64 else {
            throw DatasetError(source: labelsURL.path, problem: "labels are \(labelArray.dtype.rawValue), expected uint8 or int64")
        }
        guard labelArray.shape == [shape[0]] else {
            throw DatasetError(source: labelsURL.path, problem: "labels have shape \(labelArray.shape), expected [\(shape[0])] for the features \(shape) of '\(featuresURL.lastPathComponent)'")
        }
        let labels = labelArray.integers()
        try self.init(features: features, sampleShape: Array(shape.dropFirst()),
                      targets: .labels(labels, classes: classes ?? ((labels.max() ?? 0) + 1)), source: labelsURL.path)
        source = featuresURL.path
    }

    /// Features `[N, ...]` and float targets `[N, ...]` from `.npy` files.
    public init(npyFeatures featuresURL: URL, targets targetsURL: URL) throws(DatasetError) {
        let (features, shape) = try Self.readFeatures(featuresURL)
        let targetArray = try Self.read(targetsURL)
        guard targetArray.shape.first == shape[0] else {
            throw DatasetError(source: targetsURL.path, problem: "targets have shape \(targetArray.shape), expected [\(shape[0]), ...] for the features \(shape) of '\(featuresURL.lastPathComponent)'")
        }
        let targetShape = targetArray.shape.count == 1 ? [1] : Array(targetArray.shape.dropFirst())
        try self.init(features: features, sampleShape: Array(shape.dropFirst()),
                      targets: .values(targetArray.scalars(as: Double.self), shape: targetShape), source: targetsURL.path)
        source = featuresURL.path
    }

    /// IDX images and labels (÷255 when gathered, exactly as ``LabeledImages``).
    public init(idxImages: URL, labels: URL, classes: Int = 10) throws {
        self.init(try LabeledImages(images: idxImages, labels: labels, classes: classes))
        source = idxImages.path
    }

    static func read(_ url: URL) throws(DatasetError) -> NumpyArray {
        do { return try NumpyArray(contentsOf: url) } catch let error as NumpyFileError {
            // Its description already names the file: keep only what went wrong.
            let text = error.description, prefix = "\(quotedValue(error.source)): "
            throw DatasetError(source: url.path, problem: text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)) : text)
        } catch {
            throw DatasetError(source: url.path, problem: "\(error)")
        }
    }

    static func readFeatures(_ url: URL) throws(DatasetError) -> (Features, [Int]) {
        let array = try read(url)
        guard array.shape.count >= 2 else {
            throw DatasetError(source: url.path, problem: "features have shape \(array.shape), expected [samples, ...] of rank ≥ 2")
        }
        let features: Features
        switch array.dtype {
        case .float32: features = .float(array.scalars(as: Float.self))
        default: features = .double(array.scalars(as: Double.self))
        }
        // One NaN or infinity would make every loss and gradient it touches NaN: named here,
        // by sample, rather than as a divergence epochs later.
        let perSample = max(1, array.shape.dropFirst().reduce(1, *))
        func check<S: BinaryFloatingPoint>(_ values: [S]) throws(DatasetError) {
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw DatasetError(source: url.path, problem: "feature \(bad % perSample) of sample \(bad / perSample) is \(values[bad]), expected a finite number")
            }
        }
        switch features {
        case .float(let values): try check(values)
        case .double(let values): try check(values)
        case .bytes: break
        }
        return (features, array.shape)
    }

    // MARK: Batches

    /// Writes the features of samples `indices` into `target`, one row of ``featureCount``
    /// scalars each (no allocation: the trainer's per-step gather).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func gatherFeatures<Scalar: BLASScalar>(_ indices: ArraySlice<Int>, into target: UnsafeMutablePointer<Scalar>) {
        gatherFeatures(indices, into: target, rowWidth: featureCount)
    }

    /// The same into rows of `rowWidth` ≥ ``featureCount`` scalars, zeros after the features
    /// (an identity classifier's input [x ; 0_C], as `LabeledImages.gather(_:into:width:)` pads it).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func gatherFeatures<Scalar: BLASScalar>(_ indices: ArraySlice<Int>, into target: UnsafeMutablePointer<Scalar>, rowWidth: Int) {
        let width = featureCount
        guard rowWidth >= width else { fatalError("TensorDataset.gatherFeatures: rows of \(rowWidth) cannot hold \(width) features") }
        if let bad = indices.first(where: { !(0 ..< count).contains($0) }) {
            fatalError("TensorDataset.gatherFeatures: sample \(bad) is out of range for \(count) samples")
        }
        func copy<Source>(_ source: [Source], _ convert: (Source) -> Scalar) {
            source.withUnsafeBufferPointer { s in
                for (row, index) in indices.enumerated() {
                    let from = s.baseAddress! + index * width, to = target + row * rowWidth
                    for j in 0 ..< width { to[j] = convert(from[j]) }
                    for j in width ..< rowWidth { to[j] = 0 }
                }
            }
        }
        switch features {
        // The same expression as LabeledImages.gather: identical scalars.
        case .bytes(let bytes):
            let scale = 1 / Scalar(255)
            copy(bytes) { Scalar($0) * scale }
        case .float(let values): copy(values) { Scalar($0) }
        case .double(let values): copy(values) { Scalar($0) }
        }
    }

    /// Writes the float targets of samples `indices` into `target` (rows of the target shape's size).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func gatherTargets<Scalar: BLASScalar>(_ indices: ArraySlice<Int>, into target: UnsafeMutablePointer<Scalar>) {
        guard case .values(let values, let shape) = targets else { fatalError("TensorDataset.gatherTargets: the dataset holds labels") }
        let width = shape.reduce(1, *)
        values.withUnsafeBufferPointer { v in
            for (row, index) in indices.enumerated() {
                for j in 0 ..< width { target[row * width + j] = Scalar(v[index * width + j]) }
            }
        }
    }

    /// The first `count` samples.
    public func prefix(_ count: Int) -> TensorDataset {
        let n = min(count, self.count), width = featureCount
        let features: Features = switch self.features {
        case .bytes(let v): .bytes(Array(v[0 ..< n * width]))
        case .float(let v): .float(Array(v[0 ..< n * width]))
        case .double(let v): .double(Array(v[0 ..< n * width]))
        }
        let targets: Targets = switch self.targets {
        case .labels(let l, let c): .labels(Array(l[0 ..< n]), classes: c)
        case .values(let v, let shape): .values(Array(v[0 ..< n * shape.reduce(1, *)]), shape: shape)
        }
        return try! TensorDataset(features: features, sampleShape: sampleShape, targets: targets, source: source)
    }
}

extension LabeledImages {
    /// The same images and labels as a ``TensorDataset`` (still bytes, ÷255 when gathered).
    public var tensorDataset: TensorDataset { TensorDataset(self) }
}

/// A dataset that cannot be used: one line naming the file (or "features") and the shapes.
public struct DatasetError: Error, Equatable, CustomStringConvertible {
    public let source: String
    public let problem: String
    public init(source: String, problem: String) {
        self.source = source
        self.problem = problem
    }
    public var description: String { "\(quotedValue(source)): \(problem)" }
}
