import Foundation
@_spi(RawBLAS) import TensorAlgebra
import IsometrySupport
import FileFormats

/// Images with class labels, kept as bytes (a quarter of the memory of floats) and scaled to
/// [0, 1] only when a batch is gathered.
public struct LabeledImages: Sendable {
    /// Row-major pixels, one row of `features` bytes per image.
    public let pixels: [UInt8]
    public let labels: [Int]
    public let features: Int
    /// The shape of one image, e.g. [28, 28].
    public let imageShape: [Int]
    public let classes: Int

    public var count: Int { labels.count }

    public init(pixels: [UInt8], labels: [Int], imageShape: [Int], classes: Int) {
        let features = imageShape.reduce(1, *)
        guard pixels.count == labels.count * features else {
            fatalError("LabeledImages: \(pixels.count) pixels for \(labels.count) images of \(imageShape)")
        }
        self.pixels = pixels
        self.labels = labels
        self.features = features
        self.imageShape = imageShape
        self.classes = classes
    }

    /// Reads an images file and a labels file in IDX format and checks that they match.
    public init(images: URL, labels labelsURL: URL, classes: Int = 10, memoryLimit: Int = MemoryBudget.defaultLimit) throws {
        let imageFile = try IDXFile(contentsOf: images, memoryLimit: memoryLimit)
        // The images' shape is checked before the labels are read.
        _ = try LabeledImages.imageSize(imageFile, path: images.path)
        // What the images leave for the labels (read as bytes, kept as Int).
        let labelFile = try IDXFile(contentsOf: labelsURL, memoryLimit: max(0, memoryLimit - imageFile.bytes.count) / 9)
        try self.init(imageFile: imageFile, labelFile: labelFile, imagesPath: images.path, labelsPath: labelsURL.path, classes: classes)
    }

    /// Images and labels already read, checked as ``init(images:labels:classes:memoryLimit:)``
    /// checks them; the paths name the files in errors.
    public init(imageFile: IDXFile, labelFile: IDXFile, imagesPath: String, labelsPath: String, classes: Int = 10) throws {
        let imageShape = Array(imageFile.shape.dropFirst())
        _ = try LabeledImages.imageSize(imageFile, path: imagesPath)
        guard labelFile.shape.count == 1 else {
            throw IDXError(path: labelsPath, reason: .wrongRank(expected: "labels [count]", shape: labelFile.shape))
        }
        guard imageFile.shape[0] == labelFile.shape[0] else {
            throw IDXError(path: labelsPath, reason: .countMismatch(
                labels: labelFile.shape[0], images: imageFile.shape[0], imagesFile: URL(fileURLWithPath: imagesPath).lastPathComponent))
        }
        if let bad = labelFile.bytes.firstIndex(where: { Int($0) >= classes }) {
            throw IDXError(path: labelsPath, reason: .labelOutOfRange(label: Int(labelFile.bytes[bad]), index: bad, classes: classes))
        }
        self.init(pixels: imageFile.bytes, labels: labelFile.bytes.map(Int.init), imageShape: imageShape, classes: classes)
    }

    /// The pixels of one image of `file`, checked: images are [count, rows, …] with at least one
    /// pixel, and the sizes multiply without overflow.
    static func imageSize(_ file: IDXFile, path: String) throws -> Int {
        guard file.shape.count >= 2 else {
            throw IDXError(path: path, reason: .wrongRank(expected: "images [count, rows, columns]", shape: file.shape))
        }
        let imageShape = Array(file.shape.dropFirst())
        guard let features = MemoryBudget.product(imageShape),
              let total = MemoryBudget.product([file.shape[0], features]), total == file.bytes.count
        else { throw IDXError(path: path, reason: .dimensionsOverflow(file.shape)) }
        guard features > 0 else { throw IDXError(path: path, reason: .emptyImages(imageShape: imageShape)) }
        return features
    }

    /// Writes the rows `indices` into `batch` ([indices.count, width], width ≥ features):
    /// pixels / 255 in the first `features` columns, zeros after them (the class dimensions).
    public func gather<Scalar: BLASScalar>(_ indices: ArraySlice<Int>, into batch: inout Tensor<Scalar>) {
        guard batch.rank == 2, batch.shape[0] == indices.count, batch.shape[1] >= features else {
            fatalError("gather: batch \(batch.shape) cannot hold \(indices.count) images of \(features) features")
        }
        gather(indices, into: batch.makeUniqueStorage(), width: batch.shape[1])
    }

    /// The same into raw rows of `width` elements.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @_spi(RawBLAS) public func gather<Scalar: BLASScalar>(_ indices: ArraySlice<Int>, into target: UnsafeMutablePointer<Scalar>, width: Int) {
        // fatalError, not precondition: the message must survive -c release.
        guard width >= features else { fatalError("gather: rows of \(width) cannot hold \(features) features") }
        if let bad = indices.first(where: { !(0 ..< count).contains($0) }) {
            fatalError("gather: image index \(bad) is out of range for \(count) images")
        }
        let scale = 1 / Scalar(255)
        pixels.withUnsafeBufferPointer { source in
            for (row, index) in indices.enumerated() {
                let from = source.baseAddress! + index * features
                let to = target + row * width
                for j in 0 ..< features { to[j] = Scalar(from[j]) * scale }
                for j in features ..< width { to[j] = 0 }
            }
        }
    }

    /// The first `count` images.
    public func prefix(_ count: Int) -> LabeledImages {
        let n = min(count, self.count)
        return LabeledImages(pixels: Array(pixels[0 ..< n * features]), labels: Array(labels[0 ..< n]), imageShape: imageShape, classes: classes)
    }
}

/// A train/test pair in the MNIST file layout.
public struct ImageDataset: Sendable {
    public let train: LabeledImages
    public let test: LabeledImages

    /// Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST.
    public static let fashionMNISTFolder = "/usr/share/datasets/fashion-mnist"

    public static let fashionMNISTClassNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    /// Reads `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]` and the `t10k-`
    /// pair from `folder`. A missing folder names the Debian package that provides the default;
    /// an empty split is refused.
    public init(folder: String) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
            throw IDXError(path: folder, reason: .missingFolder(hint: folder == ImageDataset.fashionMNISTFolder
                ? "install Fashion-MNIST with `apt-get install dataset-fashion-mnist` or pass --data FOLDER"
                : "expected train-images-idx3-ubyte.gz and friends; Fashion-MNIST comes from the Debian package dataset-fashion-mnist"))
        }
        func file(_ stem: String) throws -> URL {
            for name in [stem + ".gz", stem] {
                let url = URL(fileURLWithPath: folder).appendingPathComponent(name)
                if FileManager.default.fileExists(atPath: url.path) { return url }
            }
            // A folder of the .npy layout is told as such, not as an IDX folder missing its files.
            if FileManager.default.fileExists(atPath: URL(fileURLWithPath: folder).appendingPathComponent("x_train.npy").path) {
                throw IDXError(path: folder, problem: "holds .npy arrays (x_train.npy, …), not MNIST's IDX files: DatasetSplits reads them (train --widths or --architecture)")
            }
            throw IDXError(path: folder, reason: .missingFile(stem: stem))
        }
        train = try LabeledImages(images: file("train-images-idx3-ubyte"), labels: file("train-labels-idx1-ubyte"))
        test = try LabeledImages(images: file("t10k-images-idx3-ubyte"), labels: file("t10k-labels-idx1-ubyte"))
        guard train.imageShape == test.imageShape else {
            throw IDXError(path: folder, reason: .imageShapesDiffer(train: train.imageShape, test: test.imageShape))
        }
        // An empty split would train on nothing or report the accuracy of nothing.
        if train.count == 0 { throw IDXError(path: folder, reason: .emptySplit("train")) }
        if test.count == 0 { throw IDXError(path: folder, reason: .emptySplit("test")) }
    }

    public init(train: LabeledImages, test: LabeledImages) {
        self.train = train
        self.test = test
    }
}

/// A deterministic permutation of 0 ..< count from a seed (Fisher–Yates on SeededGenerator).
public func shuffledIndices(_ count: Int, using generator: inout SeededGenerator) -> [Int] {
    var indices = Array(0 ..< count)
    if count < 2 { return indices }
    for i in stride(from: count - 1, to: 0, by: -1) {
        let j = Int(generator.next() % UInt64(i + 1))
        indices.swapAt(i, j)
    }
    return indices
}
