import Foundation
import FileFormats
import IsometrySupport

/// A training split and a test split read from one folder, as the layer-stack trainer takes
/// them: MNIST's IDX files (bytes, ÷255 when gathered, exactly as ``ImageDataset``) or four
/// `.npy` arrays (features taken as they are, no scaling):
///
/// | file | holds |
/// | --- | --- |
/// | `x_train.npy`, `x_test.npy` | features `[N, …]`: float32, float64 or integers, all finite |
/// | `y_train.npy`, `y_test.npy` | labels `[N]`: uint8 or int64 |
///
/// MNIST-1D as `Scripts/make_mnist1d.py` writes it (`data/mnist1d`) is the second kind:
/// sequences `[40]` of float32.
///
/// Why one type for both layouts: `train --data FOLDER` names a folder, and what it holds
/// decides how it is read; a folder holding both is refused rather than guessed at.
public struct DatasetSplits: Sendable {
    /// How a folder lays its data out.
    public enum Layout: String, Sendable {
        /// `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`, `t10k-…`.
        case idx
        /// `x_train.npy`, `y_train.npy`, `x_test.npy`, `y_test.npy`.
        case numpy
    }

    public let train: TensorDataset
    public let test: TensorDataset
    public let layout: Layout

    /// The number of classes, shared by both splits.
    public var classes: Int { train.classes ?? 0 }

    /// The shape of one sample as stored, e.g. `[28, 28]` or `[40]`.
    public var sampleShape: [Int] { train.sampleShape }

    /// The shape a layer stack takes a sample in, channels first: a sequence `[L]` as one
    /// channel `[1, L]` (for Networks' `Conv1d`), an image `[H, W]` as `[1, H, W]` (for `Conv2d`);
    /// a sample of rank 3 or more is taken as it is.
    public var channelsFirstShape: [Int] { sampleShape.count <= 2 ? [1] + sampleShape : sampleShape }

    /// The `.npy` files of the ``Layout/numpy`` layout, in the order they are read.
    public static let numpyFiles = ["x_train.npy", "y_train.npy", "x_test.npy", "y_test.npy"]

    /// Reads `folder` in whichever layout it holds. Every problem is a ``DatasetError`` naming
    /// the file (an IDX file's `IDXError` keeps its words): a missing folder or files, both
    /// layouts at once, splits whose sample shapes differ, an empty split, labels out of range,
    /// features that are not finite.
    public init(folder: String) throws(DatasetError) {
        let root = URL(fileURLWithPath: folder)
        var isFolder: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) && isFolder.boolValue
        func has(_ name: String) -> Bool { FileManager.default.fileExists(atPath: root.appendingPathComponent(name).path) }
        let hasIDX = has("train-images-idx3-ubyte.gz") || has("train-images-idx3-ubyte")
        let hasNumpy = Self.numpyFiles.contains(where: has)
        if exists && hasIDX && hasNumpy {
            throw DatasetError(source: folder, problem: "holds both MNIST's train-images-idx3-ubyte and .npy arrays (x_train.npy, …); keep one layout")
        }
        if exists && hasNumpy {
            try self.init(numpyFolder: root)
            return
        }
        if exists && !hasIDX {
            throw DatasetError(source: folder, problem: "holds neither MNIST's IDX files (train-images-idx3-ubyte.gz, …) nor \(Self.numpyFiles.joined(separator: ", "))")
        }
        if !exists && folder != ImageDataset.fashionMNISTFolder {
            throw DatasetError(source: folder, problem: "no such folder; expected MNIST's IDX files (train-images-idx3-ubyte.gz, …) or \(Self.numpyFiles.joined(separator: ", ")) (Scripts/make_mnist1d.py writes MNIST-1D so)")
        }
        // The IDX layout, and the default folder's hint on how to install it, are ImageDataset's.
        let images: ImageDataset
        do { images = try ImageDataset(folder: folder) } catch let error as IDXError {
            throw DatasetError(source: error.path, problem: error.problem)
        } catch {
            throw DatasetError(source: folder, problem: "\(error)")
        }
        try self.init(train: images.train.tensorDataset, test: images.test.tensorDataset, layout: .idx)
    }

    init(numpyFolder root: URL) throws(DatasetError) {
        let urls = Self.numpyFiles.map { root.appendingPathComponent($0) }
        if let missing = urls.first(where: { !FileManager.default.fileExists(atPath: $0.path) }) {
            throw DatasetError(source: missing.path, problem: "no such file; the .npy layout needs \(Self.numpyFiles.joined(separator: ", "))")
        }
        let train = try TensorDataset(npyFeatures: urls[0], labels: urls[1])
        let test = try TensorDataset(npyFeatures: urls[2], labels: urls[3])
        try self.init(train: train, test: test, layout: .numpy)
    }

    /// Two splits already read, checked as ``init(folder:)`` checks a folder's: the same sample
    /// shape, labels in both, at least one sample in each. The classes are the larger of the two
    /// splits' counts (a test split may lack the last class, or a training split).
    public init(train: TensorDataset, test: TensorDataset, layout: Layout = .numpy) throws(DatasetError) {
        guard train.sampleShape == test.sampleShape else {
            throw DatasetError(source: test.source, problem: "test samples are \(test.sampleShape) but training samples (\(quotedValue(train.source))) are \(train.sampleShape)")
        }
        guard let trainClasses = train.classes, let testClasses = test.classes else {
            throw DatasetError(source: train.classes == nil ? train.source : test.source, problem: "holds float targets, not class labels")
        }
        // An empty split would train on nothing or report the accuracy of nothing.
        if train.count == 0 { throw DatasetError(source: train.source, problem: "the training split holds no samples") }
        if test.count == 0 { throw DatasetError(source: test.source, problem: "the test split holds no samples") }
        let classes = max(trainClasses, testClasses)
        func withClasses(_ data: TensorDataset) throws(DatasetError) -> TensorDataset {
            guard data.classes != classes, let labels = data.labels else { return data }
            return try TensorDataset(features: data.features, sampleShape: data.sampleShape, targets: .labels(labels, classes: classes), source: data.source)
        }
        self.train = try withClasses(train)
        self.test = try withClasses(test)
        self.layout = layout
    }
}
