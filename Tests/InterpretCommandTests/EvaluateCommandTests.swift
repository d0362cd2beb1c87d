import CommandTestSupport
import FileFormats
import Foundation
import Testing
import TensorAlgebra

/// `interpret --evaluate`: the comparison's files on the tiny identity classifier and on a tiny
/// PyTorch CNN, and its bad inputs (one line, exit 2, no output folder).
@Suite(.serialized) struct EvaluateCommandTests {
    /// The metrics `interpret --evaluate` runs when none are named (the noisy-background scores
    /// too: both test networks read 4 × 4 images).
    let defaultMetrics = ["completeness-residual", "deletion-auc", "insertion-auc", "faithfulness-correlation", "infidelity",
                          "noisy-background-object+outline", "noisy-background-object", "noisy-background-object+frame"]

    /// Reads a CSV written by the command (no quoted fields in these names).
    func rows(_ url: URL) throws -> [[String]] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    }

    /// The table's means are the means of the long CSV's per-image values, and report.json's
    /// cells the table's: three files written from one comparison agree.
    func checkFiles(_ output: URL, methods: [String], metrics: [String], images: Int) throws {
        let table = try rows(output.appendingPathComponent("table.csv"))
        let scores = try rows(output.appendingPathComponent("scores.csv"))
        #expect(table.count == 1 + methods.count * metrics.count)
        #expect(scores.count == 1 + methods.count * metrics.count * images)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("report.json"))) as! [String: Any]
        let cells = json["cells"] as! [[String: Any]]
        for (row, cell) in zip(table.dropFirst(), cells) {
            let values = scores.dropFirst().filter { $0[0] == row[0] && $0[1] == row[1] }.map { Double($0[5])! }
            #expect(values.count == images)
            // The mean of the printed values: equal to the table's up to summation order.
            #expect(abs(values.reduce(0, +) / Double(images) - Double(row[3])!) <= 1e-12 * max(1, abs(Double(row[3])!)))
            // report.json's number as JSONSerialization parses it: its last digit may round differently from Double(String).
            #expect(cell["method"] as? String == row[0] && abs((cell["mean"] as! Double) - Double(row[3])!) <= 1e-15 * abs(Double(row[3])!))
        }
        let html = try String(contentsOf: output.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.contains("★") && html.contains("data:image/png;base64,"))
        #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("figures/attributions.svg").path))
    }

    @Test func comparesTheMethodsOnTheIdentityClassifier() throws {
        let (folder, checkpoint) = try fixture()
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("evaluation")
        let (status, text, error) = try runExecutable("interpret", ["--evaluate", "--checkpoint", checkpoint.path, "--data", folder.path,
                                                                    "--images", "20", "--examples", "2", "--output", output.path])
        #expect(status == 0, "\(error)")
        #expect(text.contains("completeness-residual (lower is better)") && text.contains("wrote "))
        // By default every method of the catalogue (AttributionMethodKind's order).
        let methods = ["gradient", "gradient-x-input", "linearisation", "switched-projection", "insens", "integrated-gradients",
                       "smoothgrad", "occlusion", "kubota-contribution"]
        try checkFiles(output, methods: methods, metrics: defaultMetrics, images: 20)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("report.json"))) as! [String: Any]
        #expect((json["exampleMaps"] as! [[[Double]]]).map(\.count) == [Int](repeating: 2, count: methods.count))
        #expect((json["targetChoice"] as! String) == "prediction")
    }

    @Test func comparesTheMethodsOnACNNStateDict() throws {
        var generator = SeededGenerator(seed: 9)
        let folder = try writeRowClassDataset(prefix: "isometry-evaluate-cnn", train: 10, test: 12, noise: 100, signal: 150, using: &generator)
        defer { try? FileManager.default.removeItem(at: folder) }
        var file = SafetensorsFile()
        file.set("0.weight", Tensor<Float>.randomNormal([2, 1, 3, 3], standardDeviation: 0.5, using: &generator))
        file.set("0.bias", Tensor<Float>.randomNormal([2], standardDeviation: 0.1, using: &generator))
        file.set("3.weight", Tensor<Float>.randomNormal([3, 8], standardDeviation: 0.5, using: &generator))
        file.set("3.bias", Tensor<Float>.randomNormal([3], standardDeviation: 0.1, using: &generator))
        let model = folder.appendingPathComponent("cnn.safetensors"), output = folder.appendingPathComponent("evaluation")
        try file.write(to: model)
        let (status, _, error) = try runExecutable("interpret", ["--evaluate", "--model", model.path, "--architecture", "conv2k3,relu,flatten,dense3",
                                                                 "--data", folder.path, "--images", "12", "--targets", "label",
                                                                 "--methods", "gradient-x-input", "--output", output.path])
        #expect(status == 0, "\(error)")
        try checkFiles(output, methods: ["gradient-x-input"], metrics: defaultMetrics, images: 12)
        // --occlusion-window: a square patch of the image and its stride, on the CNN's [1, H, W] input.
        let occlusion = folder.appendingPathComponent("occlusion")
        let (occluded, _, occlusionError) = try runExecutable("interpret", ["--evaluate", "--model", model.path, "--architecture", "conv2k3,relu,flatten,dense3",
                                                                            "--data", folder.path, "--images", "4", "--methods", "occlusion",
                                                                            "--occlusion-window", "2", "--output", occlusion.path])
        #expect(occluded == 0, "\(occlusionError)")
        try checkFiles(occlusion, methods: ["occlusion"], metrics: defaultMetrics, images: 4)
    }

    @Test func occlusionWindowOnTheIdentityClassifiersImage() throws {
        let (folder, checkpoint) = try fixture()
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("evaluation")
        let (status, _, error) = try runExecutable("interpret", ["--evaluate", "--checkpoint", checkpoint.path, "--data", folder.path, "--images", "4",
                                                                 "--methods", "occlusion", "--occlusion-window", "2", "--output", output.path])
        #expect(status == 0, "\(error)")
        try checkFiles(output, methods: ["occlusion"], metrics: defaultMetrics, images: 4)
    }

    @Test func badInputIsOneLineAndExitCodeTwo() throws {
        let (folder, checkpoint) = try fixture()
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("evaluation")
        let baseline = NumpyArray(dtype: .float32, shape: [5], bytes: [UInt8](repeating: 0, count: 20))
        let wrongBaseline = folder.appendingPathComponent("baseline.npy")
        try baseline.write(to: wrongBaseline)
        let base = ["--checkpoint", checkpoint.path, "--data", folder.path, "--output", output.path]
        let cases: [([String], [String])] = [
            (["--evaluate", "--steps", "0"], ["--steps", "0"]),
            (["--evaluate", "--fraction", "0"], ["--fraction", "(0, 1]", "0.0"]),
            (["--evaluate", "--fraction", "1.5"], ["--fraction", "1.5"]),
            (["--evaluate", "--images", "31"], ["--images", "31", "holds 30"]),
            (["--evaluate", "--images", "5", "--baseline", wrongBaseline.path], ["--baseline", "[5]", "[19]"]),
            (["--evaluate", "--methods", "gradient,nope"], ["--methods", "nope", "gradient-x-input"]),
            (["--evaluate", "--metrics", "completeness-residual,completeness-residual"], ["--metrics", "twice"]),
            (["--evaluate", "--flip-step", "0"], ["--flip-step", "0"]),
            (["--evaluate", "--images", "5", "--flip-step", "17"], ["--flip-step", "17", "16"]),
            (["--evaluate", "--sensitivity-samples", "0"], ["--sensitivity-samples", "0"]),
            (["--evaluate", "--sensitivity-radius", "0"], ["--sensitivity-radius", "0.0"]),
            (["--evaluate", "--background-sigma", "nan"], ["--background-sigma", "nan"]),
            (["--images", "5"], ["--evaluate"]),
            (["--background-sigma", "0.5"], ["--evaluate"]),
        ]
        for (arguments, words) in cases {
            let (status, _, error) = try runExecutable("interpret", base + arguments)
            #expect(status == 2, "\(arguments): \(error)")
            #expect(error.hasPrefix("interpret: error: ") && error.filter { $0 == "\n" }.count == 1, "\(arguments): \(error)")
            for word in words { #expect(error.contains(word), "\(arguments): \(error)") }
            #expect(!FileManager.default.fileExists(atPath: output.appendingPathComponent("report.json").path))
        }
    }
}
