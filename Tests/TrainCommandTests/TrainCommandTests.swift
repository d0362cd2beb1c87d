import CommandTestSupport
import Datasets
import Dispatch
import Foundation
import Testing
import TensorAlgebra
import FileFormats

func trainBinary() -> URL { executableURL("train") }

func runTrain(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
    try runExecutable("train", arguments)
}

/// A small MNIST-format folder: 4×4 images, 3 classes, class c brightens row c.
func makeDataset(train: Int, test: Int) throws -> URL {
    var generator = SeededGenerator(seed: 1)
    return try writeRowClassDataset(prefix: "isometry-train", train: train, test: test, noise: 100, signal: 150, using: &generator)
}

@Suite(.serialized) struct TrainCommandTests {
    @Test func trainsAndWritesEveryOutput() throws {
        let data = try makeDataset(train: 300, test: 90)
        defer { try? FileManager.default.removeItem(at: data) }
        let output = data.appendingPathComponent("out")
        let (status, text, error) = try runTrain(["--data", data.path, "--layers", "3", "--batch", "10", "--epochs", "3",
                                                  "--lr", "0.1", "--output", output.path])
        #expect(status == 0, "\(error)")
        #expect(text.contains("epoch 3/3"))
        #expect(text.contains("test accuracy"))
        for name in ["checkpoint.safetensors", "metrics.json", "metrics.csv", "curves.svg", "distances.svg", "layers.svg"] {
            #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent(name).path), "\(name)")
        }
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("metrics.json"))) as! [String: Any]
        let accuracy = metrics["testAccuracy"] as! Double
        #expect(accuracy > 0.8, "a separable toy problem: \(accuracy)")
        #expect((metrics["layerAccuracies"] as! [Double]).count == 3)
        // The distance trace starts at W = σI (distance 0, step 0) and ends where the last epoch does.
        let trace = metrics["distanceTrace"] as! [[String: Any]]
        let epochs = metrics["epochs"] as! [[String: Any]]
        #expect(trace.first?["step"] as? Int == 0 && (trace.first?["distanceFromIdentity"] as! [Double]) == [0, 0, 0])
        #expect(trace.last?["step"] as? Int == 90)  // 3 epochs of 300 / 10 steps
        #expect((trace.last?["distanceFromIdentity"] as! [Double]) == (epochs.last?["distanceFromIdentity"] as! [Double]))
        #expect(trace.map { $0["step"] as! Int } == trace.map { $0["step"] as! Int }.sorted())
        let csv = try String(contentsOf: output.appendingPathComponent("metrics.csv"), encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 4 && csv[0].hasPrefix("epoch,train_loss"))
        // Resuming a finished run with more epochs continues from epoch 4.
        let (again, more, _) = try runTrain(["--data", data.path, "--layers", "3", "--batch", "10", "--epochs", "4", "--lr", "0.1",
                                             "--output", output.path, "--resume", output.appendingPathComponent("checkpoint.safetensors").path])
        #expect(again == 0 && more.contains("resuming") && more.contains("epoch 4/4") && !more.contains("epoch 1/4"))
    }

    @Test func ctrlCSavesACheckpointAndExits() throws {
        let data = try makeDataset(train: 3000, test: 30)
        defer { try? FileManager.default.removeItem(at: data) }
        let output = data.appendingPathComponent("out")
        let process = Process()
        process.executableURL = trainBinary()
        process.arguments = ["--data", data.path, "--layers", "4", "--batch", "8", "--epochs", "100000", "--output", output.path]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Wait for the first epoch line (at most a minute), then interrupt.
        var seen = ""
        let deadline = Date().addingTimeInterval(60)
        while !seen.contains("epoch 1/") && Date() < deadline {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        kill(process.processIdentifier, SIGINT)
        // Never hang the suite: a process that ignores SIGINT is killed after a minute.
        let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: watchdog)
        defer { watchdog.cancel() }
        _ = out.fileHandleForReading.readDataToEndOfFile()
        let error = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130, "\(error)")
        #expect(error.contains("interrupted") && error.contains("--resume"))
        let file = try SafetensorsFile(contentsOf: output.appendingPathComponent("checkpoint.safetensors"))
        #expect(file.entries["layers.3.weight"]?.shape == [26, 26])
        #expect(Int(file.metadata["epoch"] ?? "") ?? 0 >= 1)
        // No temporary files are left behind (the lock file, which names the run's pid, stays).
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: output.path).filter { $0.hasPrefix(".") && $0 != ".isometry.lock" }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test func badInputExitsWithCodeTwoAndOneLine() throws {
        let data = try makeDataset(train: 40, test: 10)
        defer { try? FileManager.default.removeItem(at: data) }
        let cases: [([String], [String])] = [
            (["--layers", "0"], ["--layers", "0"]),
            (["--lr=-0.1"], ["--lr", "-0.1"]),
            (["--lr", "nan"], ["--lr", "nan"]),
            (["--batch", "0"], ["--batch", "0"]),
            (["--data", data.path, "--batch", "41"], ["--batch 41", "40 training images"]),
            (["--data", "/nonexistent-data"], ["/nonexistent-data", "dataset-fashion-mnist"]),
            (["--data", data.path, "--batch", "8", "--resume", "/nonexistent.safetensors"], ["--resume", "/nonexistent.safetensors"]),
            (["--activation", "softmax"], ["softmax"]),
            (["--momentum", "1.5"], ["--momentum", "1.5"]),
        ]
        for (arguments, mentions) in cases {
            let (status, _, error) = try runTrain(arguments + ["--output", data.appendingPathComponent("o").path])
            #expect(status == 2, "\(arguments): \(status) \(error)")
            #expect(error.split(separator: "\n").count == 1, "\(arguments): \(error)")
            for mention in mentions { #expect(error.contains(mention), "\(arguments): \(error)") }
        }
    }

    @Test func checkpointOfTheWrongShapeListsExpectedAndFound() throws {
        let data = try makeDataset(train: 40, test: 10)
        defer { try? FileManager.default.removeItem(at: data) }
        var file = SafetensorsFile()
        file.set("layers.0.weight", Tensor<Float>.identity(30))
        let url = data.appendingPathComponent("wrong.safetensors")
        try file.write(to: url)
        let (status, _, error) = try runTrain(["--data", data.path, "--layers", "2", "--batch", "8", "--resume", url.path,
                                               "--output", data.appendingPathComponent("o").path])
        #expect(status == 2)
        #expect(error.contains("1 layers of width 30") && error.contains("expected 2 layers of width 26"), "\(error)")
    }
}
