import FileFormats
import CommandTestSupport
import Datasets
import Foundation
import Networks
import Testing
import TensorAlgebra

/// The parts of table.json a test reads.
struct TableFile: Decodable {
    struct Row: Decodable { var name: String; var correct: Int; var count: Int; var accuracy: Double; var meanCleanPixels: Double }
    struct Settings: Decodable { var sigma: Double; var threshold: Double; var outlineWidth: Int; var clip: Bool; var seed: UInt64 }
    var rows: [Row]
    var settings: Settings
}

/// A convolutional stack over [1, 4, 4] images: conv 3×3 (padding 1), ReLU, flatten, dense to 3.
func convolutionStack(seed: UInt64) -> LayerStack<Float> {
    var generator = SeededGenerator(seed: seed)
    return LayerStack<Float>(inputShape: [1, 4, 4]) {
        Conv2d(weight: Tensor<Float>.randomNormal([2, 1, 3, 3], standardDeviation: 0.5, using: &generator), bias: Tensor<Float>.zeros([2]), padding: [1, 1])
        ActivationLayer(.relu)
        Flatten()
        Dense(weight: Tensor<Float>.randomNormal([3, 32], standardDeviation: 0.5, using: &generator), bias: Tensor<Float>.zeros([3]))
    }
}

@Suite(.serialized) struct NoisyBackgroundCommandTests {
    /// A run writes the four files; the table holds clean and three protocols over every test
    /// image with the settings given, (a) and (c) keep as many pixels, and the same seed gives
    /// the same table.
    @Test func writesTheTableFigureAndSummary() throws {
        var generator = SeededGenerator(seed: 3)
        // No noise: the background is exactly 0 and the object is the class's row.
        let folder = try writeRowClassDataset(prefix: "isometry-noisy-background", train: 4, test: 30, noise: 0, signal: 200, using: &generator)
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = folder.appendingPathComponent("cnn.safetensors")
        try convolutionStack(seed: 1).write(to: model)
        var tables: [Data] = []
        for run in 0 ..< 2 {
            let output = folder.appendingPathComponent("out\(run)")
            let (status, stdout, error) = try runExecutable("noisy-background", ["--checkpoint", model.path, "--data", folder.path, "--output", output.path,
                                                                                 "--sigma", "0.7", "--outline", "1", "--seed", "9", "--batch-size", run == 0 ? "7" : "500"])
            #expect(status == 0, "\(error)")
            #expect(stdout.contains("object+outline"))
            for file in ["table.json", "table.csv", "figure.svg", "summary.md", "report.html"] {
                #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent(file).path), "\(file)")
            }
            let data = try Data(contentsOf: output.appendingPathComponent("table.json"))
            tables.append(data)
            let table = try JSONDecoder().decode(TableFile.self, from: data)
            #expect(table.rows.map(\.name) == ["clean", "object+outline", "object", "object+frame"])
            #expect(table.rows.allSatisfy { $0.count == 30 })
            #expect(table.settings.sigma == 0.7 && table.settings.outlineWidth == 1 && table.settings.seed == 9 && table.settings.clip)
            // A row object of 4 pixels: its outline of width 1 is the neighbouring rows (4 or 8 pixels).
            #expect(table.rows[2].meanCleanPixels == 4)
            #expect(table.rows[1].meanCleanPixels == table.rows[3].meanCleanPixels)
            #expect(table.rows[1].meanCleanPixels > 4 + 4 - 1e-12 && table.rows[1].meanCleanPixels < 12 + 1e-12)
            let csv = try String(contentsOf: output.appendingPathComponent("table.csv"), encoding: .utf8)
            #expect(csv.split(separator: "\n").count == 5)
        }
        let first = try JSONDecoder().decode(TableFile.self, from: tables[0]), second = try JSONDecoder().decode(TableFile.self, from: tables[1])
        #expect(first.rows.map(\.correct) == second.rows.map(\.correct))
    }

    /// A PyTorch state dict read with --architecture gives the table of the same stack's file,
    /// the Insens column included (--insens-images 5), and the page's table.
    @Test func readsAStateDictWithItsArchitecture() throws {
        var generator = SeededGenerator(seed: 5)
        let folder = try writeRowClassDataset(prefix: "isometry-noisy-background-dict", train: 4, test: 12, noise: 0, signal: 200, using: &generator)
        defer { try? FileManager.default.removeItem(at: folder) }
        let stack = convolutionStack(seed: 2)
        let model = folder.appendingPathComponent("cnn.safetensors"), dict = folder.appendingPathComponent("dict.safetensors")
        try stack.write(to: model)
        var file = SafetensorsFile()
        for (name, value) in stack.parameters { file.set(name, value) }
        try file.write(to: dict)
        var tables: [String] = []
        for arguments in [["--checkpoint", model.path], ["--checkpoint", dict.path, "--architecture", "conv2k3p1,relu,flatten,dense3"]] {
            let output = folder.appendingPathComponent("out\(tables.count)")
            let (status, _, error) = try runExecutable("noisy-background", arguments + ["--data", folder.path, "--output", output.path, "--insens-images", "5"])
            #expect(status == 0, "\(error)")
            let json = try String(contentsOf: output.appendingPathComponent("table.json"), encoding: .utf8)
            #expect(json.contains("\"objectShareOfInsens\"") && json.contains("\"insensImages\" : 5"))
            let page = try String(contentsOf: output.appendingPathComponent("report.html"), encoding: .utf8)
            #expect(page.contains("of |Ω| (Insens)") && page.contains("<figure id=\"fig1\">"))
            // The source is the file named (JSON escapes its slashes).
            tables.append(json.replacingOccurrences(of: "dict.safetensors", with: "cnn.safetensors"))
        }
        #expect(tables[0] == tables[1])
    }

    /// Bad flags and data that do not fit the network: one line naming the flag, exit 2, no output.
    @Test func badInputIsRefusedInOneLine() throws {
        var generator = SeededGenerator(seed: 4)
        let folder = try writeRowClassDataset(prefix: "isometry-noisy-background-bad", train: 4, test: 5, noise: 0, signal: 200, using: &generator)
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = folder.appendingPathComponent("cnn.safetensors")
        try convolutionStack(seed: 1).write(to: model)
        let wide = folder.appendingPathComponent("wide.safetensors")
        try LayerStack<Float>(inputShape: [1, 5, 5]) { Flatten(); Dense(weight: Tensor<Float>.zeros([3, 25])) }.write(to: wide)
        let output = folder.appendingPathComponent("out")
        for (arguments, message) in [
            (["--sigma=-1"], "--sigma must be a finite number ≥ 0.0, got -1.0"),
            (["--threshold", "1"], "--threshold must be in [0, 1), got 1.0"),
            (["--outline=-2"], "--outline must be between 0 and 1000, got -2"),
            (["--checkpoint", folder.appendingPathComponent("missing").path], "--checkpoint:"),
            (["--checkpoint", wide.path], "--data: images have 16 pixels, but \(wide.path) takes [1, 5, 5]"),
        ] {
            let all = (arguments.first == "--checkpoint" ? [] : ["--checkpoint", model.path]) + arguments
                + ["--data", folder.path, "--output", output.path]
            let (status, _, error) = try runExecutable("noisy-background", all)
            #expect(status == 2, "\(arguments): \(error)")
            #expect(error.hasPrefix("noisy-background: error: \(message)"), "\(error)")
            #expect(error.split(separator: "\n").count == 1, "\(error)")
            #expect(!FileManager.default.fileExists(atPath: output.path))
        }
    }
}
