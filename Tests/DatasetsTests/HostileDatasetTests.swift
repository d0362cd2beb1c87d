import Datasets
import Foundation
import Testing
import TensorAlgebra

#if canImport(Glibc)
import Glibc
import IsometrySupport
import FileFormats
#endif

/// A seed of the IDX fuzz target (Fuzz/make_corpus.py writes them).
func idxCorpus(_ name: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Fuzz/idx/corpus/\(name)").standardizedFileURL
}

func temporaryFolder(_ label: String) throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("isometry-\(label)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder
}

/// Hostile and degenerate datasets (issue 12, items 3, 5, 11 and 12): what the loaders that
/// train and interpret call check beyond the IDX files (FileFormatsTests' HostileIDXTests).
@Suite struct HostileDatasetTests {
    func error(_ url: URL, _ reason: IDXError.Reason) -> IDXError { IDXError(path: url.path, reason: reason) }

    @Test func zeroCountWithHugeImagesIsRefusedByTheLoader() {
        let url = idxCorpus("issue12-zero-count-huge-images.idx")
        let shape = [0, 4_294_967_295, 4_294_967_295, 4_294_967_295]
        #expect(throws: error(url, .dimensionsOverflow(shape))) {
            try LabeledImages(images: url, labels: idxCorpus("valid-labels.idx"))
        }
    }

    @Test func aFIFOInTheDatasetFolderIsNamedNotWaitedOn() throws {
        let folder = try temporaryFolder("idx-kinds")
        defer { try? FileManager.default.removeItem(at: folder) }
        let fifo = folder.appendingPathComponent("train-images-idx3-ubyte.gz")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        for name in ["train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
            try FileManager.default.copyItem(at: idxCorpus(name.contains("images") ? "valid-images.idx" : "valid-labels.idx"),
                                             to: folder.appendingPathComponent(name))
        }
        #expect(throws: error(fifo, .notRegularFile(.fifo))) { try ImageDataset(folder: folder.path) }
    }

    @Test func datasetsAreCheckedBeforeUse() throws {
        let labels = idxCorpus("valid-labels.idx")
        let zeroWidth = idxCorpus("zero-width-images.idx")
        #expect(throws: error(zeroWidth, .emptyImages(imageShape: [0, 28]))) { try LabeledImages(images: zeroWidth, labels: labels) }
        let images = idxCorpus("valid-images.idx.gz")
        let outOfRange = idxCorpus("label-out-of-range.idx")
        #expect(throws: error(outOfRange, .countMismatch(labels: 2, images: 3, imagesFile: "valid-images.idx.gz"))) {
            try LabeledImages(images: images, labels: outOfRange)
        }
        let imageFile = try IDXFile(shape: [2, 1, 1], bytes: [0, 0])
        #expect(throws: IDXError(path: "l", reason: .labelOutOfRange(label: 12, index: 1, classes: 10))) {
            try LabeledImages(imageFile: imageFile, labelFile: try IDXFile(contentsOf: outOfRange), imagesPath: "i", labelsPath: "l")
        }
        let read = try LabeledImages(images: images, labels: idxCorpus("valid-labels.idx.gz"))
        #expect(read.count == 3 && read.features == 16 && read.labels == [0, 2, 9])

        // An empty split (item 11: "test accuracy 0.00 %") is refused by the dataset loader.
        let folder = try temporaryFolder("idx-empty-split")
        defer { try? FileManager.default.removeItem(at: folder) }
        try IDXFile(shape: [2, 2, 2], bytes: Array(0 ..< 8)).writeGzipped(to: folder.appendingPathComponent("train-images-idx3-ubyte.gz"))
        try IDXFile(shape: [2], bytes: [0, 1]).writeGzipped(to: folder.appendingPathComponent("train-labels-idx1-ubyte.gz"))
        try IDXFile(shape: [0, 2, 2], bytes: []).writeGzipped(to: folder.appendingPathComponent("t10k-images-idx3-ubyte.gz"))
        try IDXFile(shape: [0], bytes: []).writeGzipped(to: folder.appendingPathComponent("t10k-labels-idx1-ubyte.gz"))
        #expect(throws: IDXError(path: folder.path, reason: .emptySplit("test"))) { try ImageDataset(folder: folder.path) }
        // writeGzipped is atomic and leaves no temporary file.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() == [
            "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
        ])
    }
}
