import CommandTestSupport
import FileFormats
import Foundation
import Networks
import Testing
@testable import TrainCommand

/// `train --widths` with widths whose MLP would not fit the memory budget: refused in one line
/// (exit 2) before any weight is drawn or the output folder exists, as `--architecture` strings are.
@Suite(.serialized) struct WidthsMemoryRefusalCommandTests {
    /// The estimate from the widths alone is the built stack's own estimate, exactly (both are
    /// sums of integers far below 2⁵³ in Double), for either precision and any batch sizes.
    @Test func theEstimateFromTheWidthsIsTheStacksOwn() {
        for widths in [[784, 30, 20, 10], [16, 7, 3], [5, 2]] {
            let float: LayerStack<Float> = Train.newStack(widths: widths, nonlinearity: .relu, he: false, seed: 0)
            let double: LayerStack<Double> = Train.newStack(widths: widths, nonlinearity: .relu, he: false, seed: 0)
            for (batch, evaluation) in [(128, 1000), (10, 0), (1, 7)] {
                #expect(Train.multilayerPerceptronTrainingBytes(widths: widths, batchSize: batch, evaluationBatchSize: evaluation, scalarBytes: 4)
                        == float.estimatedTrainingBytes(batchSize: batch, evaluationBatchSize: evaluation), "\(widths) \(batch) \(evaluation)")
                #expect(Train.multilayerPerceptronTrainingBytes(widths: widths, batchSize: batch, evaluationBatchSize: evaluation, scalarBytes: 8)
                        == double.estimatedTrainingBytes(batchSize: batch, evaluationBatchSize: evaluation), "\(widths) \(batch) \(evaluation)")
            }
        }
    }

    @Test func hugeWidthsAreRefusedBeforeAnyWeight() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("isometry-widths-refusal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for (name, n) in [("train", 40), ("t10k", 10)] {
            try IDXFile(shape: [n, 4, 4], bytes: (0 ..< n * 16).map { UInt8($0 % 251) }).writeGzipped(to: folder.appendingPathComponent("\(name)-images-idx3-ubyte.gz"))
            try IDXFile(shape: [n], bytes: (0 ..< n).map { UInt8($0 % 10) }).writeGzipped(to: folder.appendingPathComponent("\(name)-labels-idx1-ubyte.gz"))
        }
        let output = folder.appendingPathComponent("out")
        // 16 → 10⁵ → 10⁵ → 10: 10,002,800,010 parameters, four copies in float32 (weights,
        // gradients, two optimizer moments) alone are 160 GB.
        let (status, _, error) = try runTrain(["--data", folder.path, "--widths", "100000,100000", "--batch", "10", "--output", output.path])
        #expect(status == 2, "\(error)")
        #expect(error.split(separator: "\n").count == 1, "\(error)")
        #expect(error.hasPrefix("train: error: --widths 100000,100000: the MLP 16 → 100000 → 100000 → 10 trained on batches of 10, evaluating 10 at a time, needs 160.1 GB (160108803280 bytes) of memory, more than the "), "\(error)")
        
        #expect(!FileManager.default.fileExists(atPath: output.path), "the refused run made its output folder")
    }
}
