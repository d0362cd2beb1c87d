import CommandTestSupport
import Datasets
import Foundation
import Networks
import Testing
import TensorAlgebra
import FileFormats

func run(_ name: String, _ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
    try runExecutable(name, arguments)
}

/// 4×4 images with 3 classes in MNIST format, and a small trained-looking checkpoint for them.
func fixture() throws -> (folder: URL, checkpoint: URL) {
    var generator = SeededGenerator(seed: 2)
    let folder = try writeRowClassDataset(prefix: "isometry-interpret", train: 20, test: 30, noise: 120, signal: 135, using: &generator)
    let weights = (0 ..< 3).map { _ in Tensor<Float>.identity(19, scale: 1.2) + Tensor<Float>.randomNormal([19, 19], standardDeviation: 0.3, using: &generator) }
    let classifier = IdentityClassifier(network: MultilayerPerceptron(weights: weights, activation: .hardTanh), inputFeatures: 16, classes: 3, sigma: 1.2)
    let checkpoint = folder.appendingPathComponent("model.safetensors")
    try classifier.write(to: checkpoint)
    return (folder, checkpoint)
}

@Suite(.serialized) struct InterpretCommandTests {
    @Test func writesTheReportJsonAndMaps() throws {
        let (folder, checkpoint) = try fixture()
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("report")
        let (status, text, error) = try run("interpret", ["--checkpoint", checkpoint.path, "--data", folder.path, "--samples", "0,5,29",
                                                         "--linearise", "30", "--output", output.path])
        #expect(status == 0, "\(error)")
        #expect(text.contains("completeness error"))
        let html = try String(contentsOf: output.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.contains("data:image/png;base64,") && html.contains("<svg"))
        #expect(!html.contains("src=\"http"), "self-contained: no external resources")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("report.json"))) as! [String: Any]
        #expect((json["completenessError"] as! Double) <= 1e-4, "float32 rounding level")
        #expect((json["samples"] as! [[String: Any]]).count == 3)
        let maps = try NumpyArray(contentsOf: output.appendingPathComponent("maps/linearisation.npy"))
        #expect(maps.shape == [3, 3, 4, 4])
        let templates = try NumpyArray(contentsOf: output.appendingPathComponent("maps/templates.npy"))
        #expect(templates.shape == [3, 3, 4, 4])
    }

    @Test func writesFigureFilesPNGsAndTheBackLink() throws {
        let (folder, checkpoint) = try fixture()
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("report")
        let hasRasteriser = ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":")
            .contains { FileManager.default.isExecutableFile(atPath: "\($0)/rsvg-convert") } ?? false
        let (status, text, error) = try run("interpret", ["--checkpoint", checkpoint.path, "--data", folder.path, "--samples", "0,5",
                                                         "--linearise", "30", "--output", output.path, "--index", "../report.html"]
                                                         + (hasRasteriser ? ["--png"] : []))
        #expect(status == 0, "\(error)")
        #expect(text.contains("figures/*.svg"))
        let figures = try FileManager.default.contentsOfDirectory(atPath: output.appendingPathComponent("figures").path)
        #expect(figures.filter { $0.hasSuffix(".svg") }.count == 8)
        if hasRasteriser {
            #expect(figures.filter { $0.hasSuffix(".png") }.count == 8)
            #expect(Set(figures.map { ($0 as NSString).deletingPathExtension }).count == 8, "each PNG beside its SVG")
        }
        let html = try String(contentsOf: output.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains("<a href=\"../report.html\">") && html.contains("figures/fig1-readout-accuracy.svg"))
    }

    @Test func badInputExitsWithCodeTwo() throws {
        let (folder, checkpoint) = try fixture()
        defer { try? FileManager.default.removeItem(at: folder) }
        // A checkpoint whose input size does not match the data.
        var wrong = SafetensorsFile()
        wrong.set("layers.0.weight", Tensor<Float>.identity(30))
        let wrongURL = folder.appendingPathComponent("wrong.safetensors")
        try wrong.write(to: wrongURL)
        let blocker = folder.appendingPathComponent("file")
        try Data("x".utf8).write(to: blocker)
        let cases: [([String], [String])] = [
            (["--checkpoint", checkpoint.path, "--data", folder.path, "--samples", "30"], ["--samples", "30", "30 test images"]),
            (["--checkpoint", checkpoint.path, "--data", folder.path, "--samples", "a,b"], ["--samples", "a,b"]),
            (["--checkpoint", wrongURL.path, "--data", folder.path], ["--data", "16 pixels", "20 features"]),
            (["--checkpoint", folder.appendingPathComponent("missing.safetensors").path, "--data", folder.path], ["--checkpoint", "missing.safetensors"]),
            (["--checkpoint", checkpoint.path, "--data", folder.path, "--output", blocker.appendingPathComponent("sub").path], ["--output"]),
        ]
        for (arguments, mentions) in cases {
            let (status, _, error) = try run("interpret", arguments)
            #expect(status == 2, "\(arguments): \(status) \(error)")
            #expect(error.split(separator: "\n").count == 1, "\(arguments): \(error)")
            for mention in mentions { #expect(error.contains(mention), "\(arguments): \(error)") }
        }
    }

    @Test func checkpointsWithoutAnExactLinearisationFailEarlyInOneLine() throws {
        let (folder, _) = try fixture()
        defer { try? FileManager.default.removeItem(at: folder) }
        var weights = (0 ..< 3).map { _ in Tensor<Float>.identity(19, scale: 1.2) }
        weights[1][4, 2] = .nan
        let poisoned = folder.appendingPathComponent("nan.safetensors")
        try IdentityClassifier(network: MultilayerPerceptron(weights: weights, activation: .hardTanh), inputFeatures: 16, classes: 3, sigma: 1.2)
            .write(to: poisoned)
        let smooth = folder.appendingPathComponent("tanh.safetensors")
        try IdentityClassifier(network: MultilayerPerceptron(weights: (0 ..< 3).map { _ in Tensor<Float>.identity(19) }, activation: .tanh),
                               inputFeatures: 16, classes: 3, sigma: 1).write(to: smooth)
        for (checkpoint, mentions) in [(poisoned, ["--checkpoint", "nan.safetensors", "layers.1.weight", "1 NaN"]),
                                       (smooth, ["--checkpoint", "tanh", "no exact linearisation"])] {
            let output = folder.appendingPathComponent("out-\(checkpoint.lastPathComponent)")
            let (status, _, error) = try run("interpret", ["--checkpoint", checkpoint.path, "--data", folder.path, "--output", output.path])
            #expect(status == 2, "\(checkpoint.lastPathComponent): \(status) \(error)")
            #expect(error.split(separator: "\n").count == 1, "\(error)")
            for mention in mentions { #expect(error.contains(mention), "\(error)") }
            // Refused before any work: not even the output folder was made.
            #expect(!FileManager.default.fileExists(atPath: output.path))
        }
    }

    /// Issue: with σ = 1e-320 in the metadata the distance from identity is ∞, and with huge
    /// ReLU weights the float32 logits overflow; interpret wrote maps/*.npy, then failed with
    /// exit 1 "cannot encode report.json: … -nan". Now exit 2, one line, before any file.
    @Test func numbersJSONCannotHoldAreRefusedBeforeAnyOutput() throws {
        let (folder, checkpoint) = try fixture()
        defer { try? FileManager.default.removeItem(at: folder) }
        var file = try SafetensorsFile(contentsOf: checkpoint)
        file.metadata["sigma"] = "1e-320"
        let tinySigma = folder.appendingPathComponent("tiny-sigma.safetensors")
        try file.write(to: tinySigma)
        let huge = folder.appendingPathComponent("huge.safetensors")
        try IdentityClassifier(network: MultilayerPerceptron(weights: (0 ..< 3).map { _ in Tensor<Float>.identity(19, scale: 1e20) }, activation: .relu),
                               inputFeatures: 16, classes: 3, sigma: 1).write(to: huge)
        for (model, message) in [
            (tinySigma, "--checkpoint: \(tinySigma.path): layer 1's distance from identity ‖W−σI‖/‖σI‖ overflows a double (σ = 1e-320): the weights are too large for σ"),
            (huge, "--checkpoint: \(huge.path): report.json cannot hold readout.trueClassLikelihoods[2] = nan (NaN or infinite; the weights are too large for Float arithmetic?)"),
        ] {
            let output = folder.appendingPathComponent("out-\(model.lastPathComponent)")
            let (status, _, error) = try run("interpret", ["--checkpoint", model.path, "--data", folder.path, "--samples", "0",
                                                          "--linearise", "30", "--output", output.path])
            #expect(status == 2, "\(model.lastPathComponent): \(error)")
            #expect(error == "interpret: error: \(message)\n")
            for name in ["report.json", "maps", "figures", "report.html"] {
                #expect(!FileManager.default.fileExists(atPath: output.appendingPathComponent(name).path), "\(name)")
            }
        }
    }

    @Test func batchSizeDoesNotChangeTheReport() throws {
        let (folder, checkpoint) = try fixture()
        defer { try? FileManager.default.removeItem(at: folder) }
        var reports: [[String: Any]] = []
        for batch in ["1000", "7"] {
            let output = folder.appendingPathComponent("report-\(batch)")
            let (status, _, error) = try run("interpret", ["--checkpoint", checkpoint.path, "--data", folder.path, "--samples", "1,2",
                                                           "--batch-size", batch, "--output", output.path])
            #expect(status == 0, "\(error)")
            reports.append(try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("report.json"))) as! [String: Any])
        }
        #expect(reports[0]["linearisedImages"] as? Int == 30 && reports[1]["linearisedImages"] as? Int == 30)
        let errors = reports.map { $0["completenessError"] as! Double }
        #expect(errors.allSatisfy { $0 <= 1e-4 })
        #expect(NSDictionary(dictionary: reports[0]["readout"] as! [String: Any]) == NSDictionary(dictionary: reports[1]["readout"] as! [String: Any]))
    }
}
