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

    // MARK: Any layer stack

    static let pytorchMLP = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/PyTorchMLP")

    /// The PyTorch MLP (a state dict, no architecture) with `--activations relu` alone: the
    /// accuracy is PyTorch's (reference.json: 8,295 of 10,000), the linearisation complete, and
    /// what needs class dimensions is left out with its reason.
    @Test func interpretsThePyTorchStateDict() throws {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("isometry-interpret-pytorch-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: output) }
        let (status, text, error) = try run("interpret", ["--checkpoint", Self.pytorchMLP.appendingPathComponent("model.safetensors").path,
                                                         "--activations", "relu", "--samples", "0,1", "--linearise", "100",
                                                         "--output", output.path])
        #expect(status == 0, "\(error)")
        #expect(text.contains("test accuracy 82.95 % (8295 of 10000 images)"), "\(text)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("report.json"))) as! [String: Any]
        #expect(json["correct"] as? Int == 8295 && json["testImages"] as? Int == 10000)
        #expect((json["completenessError"] as! Double) <= 1e-5)
        #expect((json["notShown"] as! [String: String])["readout"] == "per-layer readout needs class dimensions; this network has none")
        let maps = try NumpyArray(contentsOf: output.appendingPathComponent("maps/linearisation.npy"))
        #expect(maps.shape == [2, 10, 28, 28])
        #expect(!FileManager.default.fileExists(atPath: output.appendingPathComponent("maps/templates.npy").path))
        let html = try String(contentsOf: output.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains("Not shown") && html.contains("class templates need class dimensions; this network has none"))
        let figures = try FileManager.default.contentsOfDirectory(atPath: output.appendingPathComponent("figures").path)
        #expect(Set(figures) == ["fig1-confusion-matrix.svg", "fig2-linearisation-and-insens.svg", "fig3-class-mean-weights.svg"])
    }

    /// A stack written with its architecture needs no flag.
    @Test func interpretsASelfDescribingStackFile() throws {
        let (folder, _) = try fixture()
        defer { try? FileManager.default.removeItem(at: folder) }
        var generator = SeededGenerator(seed: 5)
        let model = folder.appendingPathComponent("stack.safetensors")
        try LayerStack<Float>.multilayerPerceptron(widths: [16, 12, 3], activation: .hardTanh, using: &generator).write(to: model)
        let output = folder.appendingPathComponent("report")
        let (status, text, error) = try run("interpret", ["--checkpoint", model.path, "--data", folder.path, "--samples", "0,5",
                                                         "--linearise", "30", "--output", output.path])
        #expect(status == 0, "\(error)")
        #expect(text.contains("not shown: per-layer readout needs class dimensions; this network has none"), "\(text)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("report.json"))) as! [String: Any]
        #expect((json["completenessError"] as! Double) <= 1e-5 && json["linearisedImages"] as? Int == 30)
        #expect(json["architecture"] as? [String] == ["0: dense 16 → 12", "1: hard-tanh", "2: dense 12 → 3"])
    }

    /// A stack that does not fit: one line naming the layer, the shapes and the file, exit 2,
    /// nothing written.
    @Test func stacksThatDoNotFitFailInOneLine() throws {
        let (folder, _) = try fixture()
        defer { try? FileManager.default.removeItem(at: folder) }
        var generator = SeededGenerator(seed: 6)
        func write(_ name: String, _ stack: LayerStack<Float>) throws -> String {
            let url = folder.appendingPathComponent(name)
            try stack.write(to: url)
            return url.path
        }
        let wide = try write("wide.safetensors", .multilayerPerceptron(widths: [784, 20, 3], activation: .relu, using: &generator))
        let two = try write("two.safetensors", .multilayerPerceptron(widths: [16, 2], activation: .relu, using: &generator))
        let tanh = try write("tanh.safetensors", .multilayerPerceptron(widths: [16, 5, 3], activation: .tanh, using: &generator))
        let pytorch = Self.pytorchMLP.appendingPathComponent("model.safetensors").path
        let cases: [([String], String)] = [
            (["--checkpoint", wide], "--data: images have 16 pixels, but layer 0 (dense 784 → 20) of \(wide) takes [784]"),
            (["--checkpoint", two], "--data: labels run to 2, but layer 0 (dense 16 → 2) of \(two) gives 2 class scores"),
            (["--checkpoint", tanh], "--checkpoint: \(tanh): layer 1 (tanh) is smooth and has no exact linearisation; the interpreter needs ReLU, leaky ReLU, hard-tanh or identity activations"),
            (["--checkpoint", pytorch, "--activations", "sigmoid"],
             "--activations: unknown activation 'sigmoid'; expected relu, leaky-relu[:slope], hard-tanh, identity, tanh or erf"),
            (["--checkpoint", pytorch, "--activations", "relu,relu,relu"],
             "--checkpoint: '\(pytorch)': 3 activations for 3 dense layers; expected 2 (one after every dense layer but the last, whose outputs are the logits)"),
            (["--checkpoint", pytorch, "--activations", "relu"], "--data: images have 16 pixels, but layer 0 (dense 784 → 1000) of \(pytorch) takes [784]"),
        ]
        for (arguments, message) in cases {
            let output = folder.appendingPathComponent("out")
            let (status, _, error) = try run("interpret", arguments + ["--data", folder.path, "--output", output.path])
            #expect(status == 2, "\(arguments): \(error)")
            #expect(error == "interpret: error: \(message)\n")
            #expect(!FileManager.default.fileExists(atPath: output.path), "\(arguments): nothing written")
        }
    }

    /// A PyTorch-style CNN state dict (tensors under the module indices, no metadata) for
    /// `architecture` on [1, 4, 4] images, random weights.
    static func cnnStateDict(_ architecture: String, in folder: URL, name: String, seed: UInt64) throws -> URL {
        var generator = SeededGenerator(seed: seed)
        let stack = try LayerStack<Float>(architecture: architecture, inputShape: [1, 4, 4], using: &generator)
        var file = SafetensorsFile()
        for (name, value) in stack.parameters { file.set(name, value) }
        let url = folder.appendingPathComponent(name)
        try file.write(to: url)
        return url
    }

    /// `--architecture STRING --model FILE`: a CNN on the 4×4 images, linearised exactly (W(x) maps
    /// over the pixels), its active units per layer in report.json, the page written; the same
    /// stack written with its architecture needs no flag.
    @Test func interpretsAConvolutionalNetwork() throws {
        let (folder, _) = try fixture()
        defer { try? FileManager.default.removeItem(at: folder) }
        let architecture = "conv3k3p1,relu,maxpool2,flatten,dense3"
        let model = try Self.cnnStateDict(architecture, in: folder, name: "cnn.safetensors", seed: 7)
        let output = folder.appendingPathComponent("report")
        let (status, text, error) = try run("interpret", ["--architecture", architecture, "--model", model.path, "--data", folder.path,
                                                         "--samples", "0,5", "--linearise", "30", "--output", output.path])
        #expect(status == 0, "\(error)")
        #expect(text.contains("active units"), "\(text)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("report.json"))) as! [String: Any]
        #expect((json["completenessError"] as! Double) <= 1e-5 && json["linearisedImages"] as? Int == 30)
        let layers0 = json["architecture"] as! [String]
        #expect(layers0.count == 5 && layers0[0].hasPrefix("0: conv2d") && layers0[4] == "4: dense 12 → 3", "\(layers0)")
        let active = json["activeUnits"] as! [String: Any]
        let layers = active["layers"] as! [[String: Any]]
        #expect(layers.count == 1 && layers[0]["layer"] as? Int == 0 && layers[0]["units"] as? Int == 48)
        // A 2×2 max pool passes at most a quarter of the convolution's units.
        let fraction = layers[0]["meanActiveFraction"] as! Double
        #expect(fraction > 0 && fraction <= 0.25 && active["images"] as? Int == 30, "\(fraction)")
        let samples = json["samples"] as! [[String: Any]]
        #expect(samples.count == 2 && (samples[0]["activeFractions"] as? [Double])?.count == 1 && (samples[0]["projectionError"] as! Double) <= 1e-5)
        let maps = try NumpyArray(contentsOf: output.appendingPathComponent("maps/linearisation.npy"))
        #expect(maps.shape == [2, 3, 4, 4])
        let html = try String(contentsOf: output.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>") && !html.contains("nan"))

        var generator = SeededGenerator(seed: 7)
        let stackFile = folder.appendingPathComponent("cnn-stack.safetensors")
        try LayerStack<Float>(architecture: architecture, inputShape: [1, 4, 4], using: &generator).write(to: stackFile)
        let again = folder.appendingPathComponent("again")
        let second = try run("interpret", ["--checkpoint", stackFile.path, "--data", folder.path, "--samples", "0,5", "--linearise", "30",
                                           "--output", again.path])
        #expect(second.status == 0, "\(second.error)")
        let json2 = try JSONSerialization.jsonObject(with: Data(contentsOf: again.appendingPathComponent("report.json"))) as! [String: Any]
        #expect(json2["completenessError"] as? Double == json["completenessError"] as? Double, "the same weights, the same numbers")
    }

    /// CNN flags and files that do not fit: one line, exit 2, nothing written.
    @Test func convolutionalNetworksThatDoNotFitFailInOneLine() throws {
        let (folder, _) = try fixture()
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = try Self.cnnStateDict("conv3k3p1,relu,maxpool2,flatten,dense3", in: folder, name: "cnn.safetensors", seed: 8).path
        let smooth = try Self.cnnStateDict("conv3k3p1,tanh,maxpool2,flatten,dense3", in: folder, name: "tanh.safetensors", seed: 8).path
        // A stack file whose layer is of a kind no one knows (a layer of a newer version, a custom one).
        var unknownFile = SafetensorsFile()
        unknownFile.metadata[LayerStackArchitecture.metadataKey] = #"{"format":"isometry-layer-stack/1","input_shape":[1,4,4],"layers":[{"kind":"conv9d"}]}"#
        let unknown = folder.appendingPathComponent("unknown.safetensors")
        try unknownFile.write(to: unknown)
        let cases: [([String], [String])] = [
            (["--checkpoint", unknown.path], ["--checkpoint:", "layer 0 has unknown kind 'conv9d'"]),
            (["--model", model], ["--model is a PyTorch state dict", "--architecture"]),
            (["--model", model, "--checkpoint", model, "--architecture", "relu"], ["--checkpoint and --model"]),
            (["--model", model, "--architecture", "conv3k3p1,relux,maxpool2,flatten,dense3"], ["--architecture: architecture token 1 'relux'"]),
            (["--model", model, "--architecture", "conv4k3p1,relu,maxpool2,flatten,dense3"], ["--model:", "0.weight"]),
            (["--model", smooth, "--architecture", "conv3k3p1,tanh,maxpool2,flatten,dense3"], ["--model: \(smooth): layer 1 (tanh) is smooth"]),
            (["--model", model, "--architecture", "conv3k3p1,relu,maxpool2,flatten,dense3", "--activations", "relu"], ["--architecture and --activations"]),
        ]
        for (arguments, mentions) in cases {
            let output = folder.appendingPathComponent("out")
            let (status, _, error) = try run("interpret", arguments + ["--data", folder.path, "--output", output.path])
            #expect(status == 2, "\(arguments): \(error)")
            #expect(error.split(separator: "\n").count == 1, "\(arguments): \(error)")
            for mention in mentions { #expect(error.contains(mention), "\(arguments): \(error)") }
            #expect(!FileManager.default.fileExists(atPath: output.path), "\(arguments): nothing written")
        }
    }
}
