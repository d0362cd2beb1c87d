import CommandTestSupport
import Datasets
import Foundation
import Glibc
import Testing
import TensorAlgebra
import FileFormats

/// Issue 12 through the commands themselves: every hostile or degenerate input ends in exit 2
/// and one line naming the file or flag, the problem and the value — no crash, no hang.
@Suite(.serialized) struct HostileInputCommandTests {
    /// Runs an executable, killing it after `seconds` (a hang is a failure, not a stuck suite).
    func run(_ name: String, _ arguments: [String], seconds: Double = 120) throws -> (status: Int32, output: String, error: String, timedOut: Bool) {
        let (status, output, error) = try runExecutable(name, arguments, timeout: seconds)
        return (status, output, error, error.hasSuffix("timed out after \(seconds) s\n"))
    }

    func expectOneLineRefusal(_ result: (status: Int32, output: String, error: String, timedOut: Bool), mentioning mentions: [String],
                              sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!result.timedOut, "hung", sourceLocation: sourceLocation)
        #expect(result.status == 2, "exit \(result.status): \(result.error)", sourceLocation: sourceLocation)
        #expect(result.error.split(separator: "\n").count == 1, "\(result.error)", sourceLocation: sourceLocation)
        for mention in mentions { #expect(result.error.contains(mention), "\(result.error) lacks \(mention)", sourceLocation: sourceLocation) }
    }

    func dataset(train: Int = 40, test: Int = 10) throws -> URL {
        var generator = SeededGenerator(seed: 1)
        return try writeRowClassDataset(prefix: "isometry-hostile", train: train, test: test, noise: 100, signal: 150, using: &generator)
    }

    @Test func tamperedResumeMetadataIsRefusedInOneLine() throws {
        let data = try dataset()
        defer { try? FileManager.default.removeItem(at: data) }
        let first = data.appendingPathComponent("first")
        let trained = try run("train", ["--data", data.path, "--layers", "2", "--batch", "8", "--epochs", "1", "--output", first.path])
        #expect(trained.status == 0, "\(trained.error)")
        let good = try SafetensorsFile(contentsOf: first.appendingPathComponent("checkpoint.safetensors"))
        for (key, value) in [("epoch", "-1"), ("epoch", "9223372036854775807"), ("step_in_epoch", "-5"),
                             ("sigma", "nan"), ("sigma", "inf"), ("sigma", "0")] {
            var bad = good
            bad.metadata[key] = value
            let url = data.appendingPathComponent("bad-\(key)-\(value).safetensors")
            try bad.write(to: url)
            let result = try run("train", ["--data", data.path, "--layers", "2", "--batch", "8", "--epochs", "2", "--resume", url.path,
                                           "--output", data.appendingPathComponent("o").path])
            expectOneLineRefusal(result, mentioning: ["--resume", url.lastPathComponent, key, value])
        }
    }

    @Test func aTinyButPositiveSigmaFinishesInsteadOfHanging() throws {
        let data = try dataset()
        defer { try? FileManager.default.removeItem(at: data) }
        let result = try run("train", ["--data", data.path, "--layers", "2", "--batch", "8", "--epochs", "1", "--sigma", "1e-320",
                                       "--output", data.appendingPathComponent("o").path], seconds: 60)
        #expect(!result.timedOut && result.status == 0, "\(result.status) \(result.error)")
        #expect(FileManager.default.fileExists(atPath: data.appendingPathComponent("o/distances.svg").path))
    }

    @Test func filesThatAreNotRegularFilesAreRefusedAtOnce() throws {
        for kind in ["fifo", "directory"] {
            let data = try dataset()
            defer { try? FileManager.default.removeItem(at: data) }
            let images = data.appendingPathComponent("train-images-idx3-ubyte.gz")
            try FileManager.default.removeItem(at: images)
            if kind == "fifo" { #expect(mkfifo(images.path, 0o644) == 0) } else { try FileManager.default.createDirectory(at: images, withIntermediateDirectories: false) }
            let result = try run("train", ["--data", data.path, "--output", data.appendingPathComponent("o").path], seconds: 30)
            expectOneLineRefusal(result, mentioning: ["--data", "train-images-idx3-ubyte.gz", kind == "fifo" ? "FIFO" : "directory"])
        }
    }

    @Test func degenerateDataIsRefused() throws {
        // The 20-byte IDX file whose dimensions multiply to 0 but overflow without the zero.
        let data = try dataset()
        defer { try? FileManager.default.removeItem(at: data) }
        let images = data.appendingPathComponent("train-images-idx3-ubyte.gz")
        try FileManager.default.removeItem(at: images)
        let header: [UInt8] = [0, 0, 8, 4] + [0, 0, 0, 0] + [255, 255, 255, 255] + [255, 255, 255, 255] + [255, 255, 255, 255]
        try Data(header).write(to: data.appendingPathComponent("train-images-idx3-ubyte"))
        expectOneLineRefusal(try run("train", ["--data", data.path, "--output", data.appendingPathComponent("o").path]),
                             mentioning: ["--data", "train-images-idx3-ubyte"])
        // An empty test split is refused instead of reporting "test accuracy 0.00 %".
        let empty = try dataset(train: 40, test: 0)
        defer { try? FileManager.default.removeItem(at: empty) }
        expectOneLineRefusal(try run("train", ["--data", empty.path, "--batch", "8", "--output", empty.appendingPathComponent("o").path]),
                             mentioning: ["--data", "test split holds no images"])
    }

    @Test func aSecondRunIntoTheSameFolderIsRefusedNamingTheFirst() throws {
        let data = try dataset(train: 3000, test: 30)
        defer { try? FileManager.default.removeItem(at: data) }
        let output = data.appendingPathComponent("out")
        // Stale temporary files of an earlier, killed run are cleaned up by the next one.
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        // Exactly the names interrupted writes leave (a real UUID): the tidy removes nothing else.
        for stale in [".checkpoint.safetensors.partial-\(UUID().uuidString)", ".dat.nosync1a2b"] {
            try Data(count: 1000).write(to: output.appendingPathComponent(stale))
        }
        let first = Process()
        first.executableURL = executableURL("train")
        first.arguments = ["--data", data.path, "--layers", "3", "--batch", "8", "--epochs", "100000", "--output", output.path]
        first.standardOutput = Pipe()
        first.standardError = Pipe()
        try first.run()
        defer { if first.isRunning { kill(first.processIdentifier, SIGKILL) }; first.waitUntilExit() }
        // Wait until the first run holds the lock (its pid is in the lock file).
        let lock = output.appendingPathComponent(".isometry.lock")
        for _ in 0 ..< 200 where (try? String(contentsOf: lock, encoding: .utf8))?.contains("\(first.processIdentifier)") != true {
            usleep(50_000)
        }
        let second = try run("train", ["--data", data.path, "--layers", "3", "--batch", "8", "--epochs", "1", "--output", output.path])
        expectOneLineRefusal(second, mentioning: ["--output", output.path, "in use", "pid \(first.processIdentifier)"])
        let names = try FileManager.default.contentsOfDirectory(atPath: output.path)
        #expect(!names.contains { $0.contains(".partial-") || $0.hasPrefix(".dat.nosync") }, "\(names)")
    }

    @Test func spectrumRefusesDegenerateAndNonFiniteWeights() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("isometry-hostile-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        for (name, tensor, mention) in [("zero-rows", Tensor<Double>.zeros([0, 3]), "[0, 3]"), ("zero-columns", Tensor<Double>.zeros([3, 0]), "[3, 0]"),
                                        ("nan", Tensor<Double>(shape: [2, 2], scalars: [1, .nan, 0, 1]), "NaN")] {
            let weights = folder.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: weights, withIntermediateDirectories: true)
            try tensor.writeNumpyFile(to: weights.appendingPathComponent("W1.npy"))
            expectOneLineRefusal(try run("spectrum", ["--weights", weights.path]), mentioning: ["--weights", mention])
        }
        // A valid but absurdly wide layer: the analysis would need N² buffers of N = 100,000
        // (about 240 GB); refused with the estimate before any allocation.
        let wide = folder.appendingPathComponent("wide")
        try FileManager.default.createDirectory(at: wide, withIntermediateDirectories: true)
        try Tensor<Double>.zeros([1, 100_000]).writeNumpyFile(to: wide.appendingPathComponent("W1.npy"))
        expectOneLineRefusal(try run("spectrum", ["--weights", wide.path]), mentioning: ["--weights", "100000 wide", "GiB"])
    }
}
