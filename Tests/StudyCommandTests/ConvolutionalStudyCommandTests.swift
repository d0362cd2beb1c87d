import CommandTestSupport
import Foundation
import Study
import Testing
import TensorAlgebra

/// `study --network cnn`: a grid of vanilla CNNs over depth × Dirac, delta-orthogonal and He
/// kernels, whose points are `train --architecture`'s runs, and its one-line refusals.
@Suite(.serialized) struct ConvolutionalStudyCommandTests {
    let data: URL = {
        var generator = SeededGenerator(seed: 3)
        return try! writeRowClassDataset(prefix: "isometry-cnn-study-data", train: 160, test: 60, noise: 60, signal: 150, using: &generator)
    }()

    func run(_ folder: URL) -> [String] {
        ["--data", data.path, "--network", "cnn", "--channels", "4", "--layers", "1", "2", "--batch", "16", "--limit", "160", "--lr", "0.05",
         "--precision", "double", "--output", folder.path, "--threads", "1"]
    }

    @Test func aCNNStudyTrainsEveryArmAndItsPointsAreTrainsRuns() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (status, output, error) = try runStudy(run(folder))
        #expect(status == 0, "\(error)")
        #expect(error.contains("CNN conv4k3p1,hard-tanh × L, flatten, dense on [1, 4, 4]"), "\(error)")
        #expect(output.contains("Dirac σ = 1") && output.contains("delta-orthogonal σ_w = 1") && output.contains("He (σ_w = √2)"), "\(output)")
        let results = try rows(folder.appendingPathComponent("study.csv").path)
        #expect(results.count == 6 && results.allSatisfy { !$0.diverged && $0.testAccuracy != nil && $0.measuredMean != nil })
        let svg = try String(contentsOf: folder.appendingPathComponent("study.svg"), encoding: .utf8)
        #expect(svg.contains("hard-tanh CNN (4 channels, k = 3, flatten head)") && svg.contains("delta-orthogonal σ_w = 1"))

        // Point 4 is L = 2, delta-orthogonal σ_w = 1, seed 0: the same numbers as train with its flags.
        let point = results[4]
        #expect(point.depth == 2 && point.initialization == .orthogonal)
        let trained = folder.appendingPathComponent("train")
        let train = try runExecutable("train", [
            "--data", data.path, "--architecture", "conv4k3p1,hard-tanh,conv4k3p1,hard-tanh,flatten,dense10", "--init", "delta-orthogonal",
            "--sigma", "1", "--seed", "0", "--epochs", "1", "--batch", "16", "--limit", "160", "--lr", "0.05", "--precision", "double",
            "--output", trained.path, "--threads", "1"])
        #expect(train.status == 0, "\(train.error)")
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: trained.appendingPathComponent("metrics.json"))) as! [String: Any]
        let epoch = (metrics["epochs"] as! [[String: Any]])[0]
        #expect(epoch["testAccuracy"] as? Double == point.testAccuracy && epoch["testLoss"] as? Double == point.testLoss,
                "train \(epoch) against study \(point)")
    }

    /// MNIST-1D sequences (the committed 60 + 30 fixture) as one channel [1, 40]: Conv1d, and
    /// JᵀJ's mean over the 40 input directions at initialisation beside its theory.
    @Test func mnist1DSequencesRunAsOneChannel() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let sequences = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures/MNIST1D").standardizedFileURL
        let (status, _, error) = try runStudy(["--data", sequences.path, "--network", "cnn", "--channels", "4", "--layers", "3", "--batch", "10",
                                               "--epochs", "1", "--spectrum-inputs", "3", "--output", folder.path, "--threads", "1"])
        #expect(status == 0, "\(error)")
        #expect(error.contains("dense on [1, 40]") && error.contains("60 samples"), "\(error)")
        let results = try rows(folder.appendingPathComponent("study.csv").path)
        #expect(results.count == 3 && results.allSatisfy { $0.measuredMean != nil && $0.theoryMean != nil && $0.distanceFromIdentity.count == 3 })
    }

    @Test func flagsThatDoNotApplyAreOneLineRefusals() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let base = ["--data", data.path, "--output", folder.path, "--limit", "160"]
        for (arguments, message) in [
            (["--channels", "4"], "--channels applies to --network cnn only"),
            (["--init", "dirac"], "--init dirac needs --network cnn (the MLP's are identity, orthogonal, gaussian and he)"),
            (["--network", "cnn", "--init", "gaussian"], "--init gaussian does not apply with --network cnn: use dirac, delta-orthogonal or he"),
            (["--network", "cnn", "--kernel", "4"], "--kernel must be odd (Dirac and delta-orthogonal kernels need a centre tap), got 4"),
            (["--network", "cnn", "--init", "dirac", "identity"], "--init lists dirac twice"),
            (["--network", "rnn"], "rnn"),
        ] {
            let (status, output, error) = try runStudy(base + arguments)
            #expect(status == 2 && output.isEmpty, "\(arguments): exit \(status): \(error)")
            #expect(error.split(separator: "\n").count == 1 && error.contains(message), "\(arguments): \(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("study.csv").path))
    }
}
