import Datasets
import FileFormats
import Foundation
import Testing
import TensorAlgebra

@Suite struct TensorDatasetTests {
    func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tensor-dataset-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Byte images gather to exactly LabeledImages' scalars (÷255 the same way), in both precisions.
    @Test func bytesGatherAsLabeledImages() {
        let images = LabeledImages(pixels: (0 ..< 24).map { UInt8($0 * 11) }, labels: [0, 1, 2, 1], imageShape: [2, 3], classes: 3)
        let data = images.tensorDataset
        #expect(data.sampleShape == [2, 3] && data.count == 4 && data.labels == [0, 1, 2, 1] && data.classes == 3)
        for Scalar in [Float.self, Double.self] as [any BLASScalar.Type] {
            func check<S: BLASScalar>(_: S.Type) {
                var a = [S](repeating: 0, count: 12), b = Tensor<S>.zeros([2, 6])
                data.gatherFeatures([3, 1][...], into: &a)
                images.gather([3, 1][...], into: &b)
                #expect(a == b.scalars)
            }
            check(Scalar)
        }
    }

    @Test func readsNpyFeaturesWithLabelsOrTargets() throws {
        let dir = try folder()
        let features = Tensor<Double>(shape: [3, 2, 2], scalars: (0 ..< 12).map { Double($0) / 4 })
        try features.writeNumpyFile(to: dir.appendingPathComponent("x.npy"))
        try NumpyArray(int64: [2, 0, 1], shape: [3]).write(to: dir.appendingPathComponent("y.npy"))
        try Tensor<Float>(shape: [3], scalars: [0.5, 1, 2]).writeNumpyFile(to: dir.appendingPathComponent("t.npy"))
        let labelled = try TensorDataset(npyFeatures: dir.appendingPathComponent("x.npy"), labels: dir.appendingPathComponent("y.npy"))
        #expect(labelled.sampleShape == [2, 2] && labelled.labels == [2, 0, 1] && labelled.classes == 3)
        #expect(labelled.features == .double(features.scalars))
        var row = [Double](repeating: 0, count: 4)
        labelled.gatherFeatures([2][...], into: &row)
        #expect(row == [2, 2.25, 2.5, 2.75])
        let regression = try TensorDataset(npyFeatures: dir.appendingPathComponent("x.npy"), targets: dir.appendingPathComponent("t.npy"))
        #expect(regression.targetShape == [1] && regression.targets == .values([0.5, 1, 2], shape: [1]) && regression.classes == nil)
    }

    @Test func badFilesAreOneLineNamingTheFileAndShapes() throws {
        let dir = try folder()
        let x = dir.appendingPathComponent("x.npy"), y = dir.appendingPathComponent("y.npy")
        try Tensor<Float>.zeros([3, 4]).writeNumpyFile(to: x)
        try NumpyArray(int64: [0, 1], shape: [2]).write(to: y)
        #expect(throws: DatasetError(source: y.path, problem: "labels have shape [2], expected [3] for the features [3, 4] of 'x.npy'")) {
            try TensorDataset(npyFeatures: x, labels: y)
        }
        try Tensor<Float>.zeros([3]).writeNumpyFile(to: y)
        #expect(throws: DatasetError(source: y.path, problem: "labels are <f4, expected uint8 or int64")) {
            try TensorDataset(npyFeatures: x, labels: y)
        }
        #expect(throws: DatasetError(source: y.path, problem: "features have shape [3], expected [samples, ...] of rank ≥ 2")) {
            try TensorDataset(npyFeatures: y, labels: y)
        }
        try NumpyArray(int64: [0, 1, -1], shape: [3]).write(to: y)
        #expect(throws: DatasetError(source: y.path, problem: "label -1 of sample 2 is outside 0 ..< 2")) {
            try TensorDataset(npyFeatures: x, labels: y)
        }
        #expect(throws: DatasetError(source: "features", problem: "5 feature values for 2 samples of shape [2] (expected 4)")) {
            try TensorDataset(features: [1, 2, 3, 4, 5], sampleShape: [2], labels: [0, 1])
        }
        let missing = dir.appendingPathComponent("none.npy")
        #expect((try? TensorDataset(npyFeatures: missing, labels: y)) == nil)
        do { _ = try TensorDataset(npyFeatures: missing, labels: y) } catch {
            #expect(error.description.hasPrefix("\(missing.path): ") && !error.description.contains("\n"))
        }
    }
}
