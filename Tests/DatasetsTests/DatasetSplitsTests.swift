import Datasets
import FileFormats
import Foundation
import Testing
import TensorAlgebra

/// A `--data` folder in either layout: MNIST's IDX files (bytes ÷255) or x_/y_{train,test}.npy
/// (MNIST-1D: float sequences taken as they are), and one-line refusals of what cannot train.
@Suite struct DatasetSplitsTests {
    /// The first 60 training and 30 test sequences of MNIST-1D, and their values in decimal
    /// (`Scripts/make_mnist1d.py --fixture 60,30 --output Tests/Fixtures/MNIST1D`).
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/MNIST1D").standardizedFileURL

    struct Reference: Decodable {
        var x_train_first: [String]
        var x_test_last: [String]
        var y_train: [Int]
        var y_test: [Int]
        var x_train_sum: Double
        var x_test_sum: Double
    }

    @Test func readsMNIST1DAsSequencesOfFloatsTakenAsTheyAre() throws {
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: Self.fixture.appendingPathComponent("reference.json")))
        let data = try DatasetSplits(folder: Self.fixture.path)
        #expect(data.layout == .numpy)
        #expect(data.sampleShape == [40] && data.channelsFirstShape == [1, 40])
        #expect(data.train.count == 60 && data.test.count == 30 && data.classes == 10)
        #expect(data.train.labels == reference.y_train && data.test.labels == reference.y_test)
        // numpy's decimal text of the float32 values (its shortest round trip of the value as a
        // double), read by a different parser than the .npy reader: equal exactly, in both
        // precisions, because float32 → double and back is exact and nothing is scaled.
        let first = reference.x_train_first.map { Double($0)! }, last = reference.x_test_last.map { Double($0)! }
        var floats = [Float](repeating: 0, count: 40), doubles = [Double](repeating: 0, count: 40)
        data.train.gatherFeatures([0][...], into: &floats)
        data.train.gatherFeatures([0][...], into: &doubles)
        #expect(floats == first.map { Float($0) } && doubles == first)
        data.test.gatherFeatures([29][...], into: &doubles)
        #expect(doubles == last)
        // Every value: the sums numpy took in float64. 2400 terms of size ~1 summed in another
        // order differ by at most ~2400 · 2⁻⁵³ · Σ|x| ≈ 1e-12 relative to Σ|x| (~2000 here).
        for (split, expected) in [(data.train, reference.x_train_sum), (data.test, reference.x_test_sum)] {
            var all = [Double](repeating: 0, count: split.count * 40)
            split.gatherFeatures(Array(0 ..< split.count)[...], into: &all)
            let absolute = all.reduce(0) { $0 + abs($1) }
            #expect(abs(all.reduce(0, +) - expected) <= 1e-12 * absolute, "\(all.reduce(0, +)) vs \(expected)")
        }
    }

    @Test func anIDXFolderReadsAsImagesDividedBy255() throws {
        let folder = try temporaryFolder("splits-idx")
        defer { try? FileManager.default.removeItem(at: folder) }
        let pixels: [UInt8] = [0, 51, 102, 255, 10, 20, 30, 40, 7, 8, 9, 10]
        try IDXFile(shape: [3, 2, 2], bytes: pixels).writeGzipped(to: folder.appendingPathComponent("train-images-idx3-ubyte.gz"))
        try IDXFile(shape: [3], bytes: [1, 0, 1]).writeGzipped(to: folder.appendingPathComponent("train-labels-idx1-ubyte.gz"))
        try IDXFile(shape: [1, 2, 2], bytes: [1, 2, 3, 4]).writeGzipped(to: folder.appendingPathComponent("t10k-images-idx3-ubyte.gz"))
        try IDXFile(shape: [1], bytes: [0]).writeGzipped(to: folder.appendingPathComponent("t10k-labels-idx1-ubyte.gz"))
        let data = try DatasetSplits(folder: folder.path)
        let images = try ImageDataset(folder: folder.path)
        #expect(data.layout == .idx && data.sampleShape == [2, 2] && data.channelsFirstShape == [1, 2, 2])
        // MNIST folders have ten classes whatever labels they hold, as ImageDataset reads them.
        #expect(data.classes == 10 && data.train.labels == [1, 0, 1])
        var row = [Float](repeating: 0, count: 4), batch = Tensor<Float>.zeros([1, 4])
        data.train.gatherFeatures([0][...], into: &row)
        images.train.gather([0][...], into: &batch)
        #expect(row == batch.scalars && row[1] == Float(51) * (1 / Float(255)))
    }

    /// A folder of the .npy layout with `train` and `test` features and labels 0, 1, 0, 1, ….
    func numpyFolder(train: Tensor<Float>, test: Tensor<Float>) throws -> URL {
        let folder = try temporaryFolder("splits-npy")
        try train.writeNumpyFile(to: folder.appendingPathComponent("x_train.npy"))
        try test.writeNumpyFile(to: folder.appendingPathComponent("x_test.npy"))
        for (name, count) in [("y_train.npy", train.shape[0]), ("y_test.npy", test.shape[0])] {
            try NumpyArray(int64: (0 ..< count).map { Int64($0 % 2) }, shape: [count]).write(to: folder.appendingPathComponent(name))
        }
        return folder
    }

    @Test func theClassesAreTheLargerSplits() throws {
        let folder = try numpyFolder(train: .zeros([4, 3]), test: .zeros([2, 3]))
        defer { try? FileManager.default.removeItem(at: folder) }
        try NumpyArray(int64: [0, 4], shape: [2]).write(to: folder.appendingPathComponent("y_test.npy"))
        let data = try DatasetSplits(folder: folder.path)
        #expect(data.classes == 5 && data.train.classes == 5 && data.test.classes == 5)
    }

    @Test func foldersThatCannotTrainAreOneLineRefusals() throws {
        let folder = try numpyFolder(train: .zeros([4, 3]), test: .zeros([2, 5]))
        defer { try? FileManager.default.removeItem(at: folder) }
        let x = { folder.appendingPathComponent($0).path }
        func refusal(_ source: String, _ problem: String) -> DatasetError { DatasetError(source: source, problem: problem) }

        #expect(throws: refusal(x("x_test.npy"), "test samples are [5] but training samples (\(x("x_train.npy"))) are [3]")) {
            try DatasetSplits(folder: folder.path)
        }
        var bad = Tensor<Float>.zeros([2, 3])
        bad[1, 2] = .nan
        try bad.writeNumpyFile(to: folder.appendingPathComponent("x_test.npy"))
        #expect(throws: refusal(x("x_test.npy"), "feature 2 of sample 1 is nan, expected a finite number")) {
            try DatasetSplits(folder: folder.path)
        }
        try Tensor<Float>.zeros([0, 3]).writeNumpyFile(to: folder.appendingPathComponent("x_test.npy"))
        try NumpyArray(int64: [], shape: [0]).write(to: folder.appendingPathComponent("y_test.npy"))
        #expect(throws: refusal(x("x_test.npy"), "the test split holds no samples")) { try DatasetSplits(folder: folder.path) }

        try FileManager.default.removeItem(atPath: x("y_test.npy"))
        #expect(throws: refusal(x("y_test.npy"), "no such file; the .npy layout needs x_train.npy, y_train.npy, x_test.npy, y_test.npy")) {
            try DatasetSplits(folder: folder.path)
        }
        try IDXFile(shape: [1], bytes: [0]).writeGzipped(to: folder.appendingPathComponent("train-images-idx3-ubyte.gz"))
        #expect(throws: refusal(folder.path, "holds both MNIST's train-images-idx3-ubyte and .npy arrays (x_train.npy, …); keep one layout")) {
            try DatasetSplits(folder: folder.path)
        }
        for name in ["train-images-idx3-ubyte.gz", "x_train.npy", "y_train.npy", "x_test.npy"] { try FileManager.default.removeItem(atPath: x(name)) }
        #expect(throws: refusal(folder.path, "holds neither MNIST's IDX files (train-images-idx3-ubyte.gz, …) nor x_train.npy, y_train.npy, x_test.npy, y_test.npy")) {
            try DatasetSplits(folder: folder.path)
        }
        let none = x("none")
        #expect(throws: refusal(none, "no such folder; expected MNIST's IDX files (train-images-idx3-ubyte.gz, …) or x_train.npy, y_train.npy, x_test.npy, y_test.npy (Scripts/make_mnist1d.py writes MNIST-1D so)")) {
            try DatasetSplits(folder: none)
        }
    }

    @Test func anIDXProblemKeepsItsWords() throws {
        let folder = try temporaryFolder("splits-idx-bad")
        defer { try? FileManager.default.removeItem(at: folder) }
        try IDXFile(shape: [2, 2], bytes: [1, 2, 3, 4]).writeGzipped(to: folder.appendingPathComponent("train-images-idx3-ubyte.gz"))
        try IDXFile(shape: [3], bytes: [1, 0, 1]).writeGzipped(to: folder.appendingPathComponent("train-labels-idx1-ubyte.gz"))
        let labels = folder.appendingPathComponent("train-labels-idx1-ubyte.gz")
        let words = IDXError(path: labels.path, reason: .countMismatch(labels: 3, images: 2, imagesFile: "train-images-idx3-ubyte.gz"))
        do {
            _ = try DatasetSplits(folder: folder.path)
            Issue.record("a mismatched pair was read")
        } catch {
            #expect(error.description == words.description)
        }
    }
}
