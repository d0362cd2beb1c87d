import CommandTestSupport
import FileFormats
import Foundation
import Networks
import TensorAlgebra
import Testing

/// `embed` on a small MNIST-format folder (4×4 images in 3 classes, a bright row per class):
/// the files it writes and what they hold, and its one-line refusals (exit 2, nothing written).
@Suite(.serialized) struct EmbedCommandTests {
    func dataset(train: Int = 120, test: Int = 60) throws -> URL {
        var generator = SeededGenerator(seed: 4)
        return try writeRowClassDataset(prefix: "embed", train: train, test: test, noise: 60, signal: 180, using: &generator)
    }

    @Test func embedsTheTestSplitAndWritesEveryOutput() throws {
        let data = try dataset()
        defer { try? FileManager.default.removeItem(at: data) }
        let output = data.appendingPathComponent("out")
        let (status, text, error) = try runExecutable("embed", [
            "--data", data.path, "--architecture", "dense16,relu,dense16,relu,dense2", "--batch", "30", "--perplexity", "5",
            "--epochs", "40", "--lr", "0.01", "--threads", "1", "--explain", "0,5", "--output", output.path])
        #expect(status == 0, "\(error)")
        #expect(text.contains("epoch 40/40"), "\(text)")
        let embedding = try NumpyArray(contentsOf: output.appendingPathComponent("embedding.npy"))
        #expect(embedding.shape == [60, 2])
        // The CSV holds the same points and the labels.
        let csv = try String(contentsOf: output.appendingPathComponent("embedding.csv"), encoding: .utf8).split(separator: "\n")
        #expect(csv.first == "y1,y2,label" && csv.count == 61)
        let first = csv[1].split(separator: ",").map { Double($0)! }
        #expect(abs(first[0] - Double(embedding.scalars(as: Float.self)[0])) <= 1e-6 * max(1, abs(first[0])))
        // The checkpoint is a layer stack the existing loaders read, and it gives the embedding.
        let stack = try LayerStack<Float>(contentsOf: output.appendingPathComponent("model.safetensors"))
        #expect(stack.outputShape == [2])
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("report.json"))) as! [String: Any]
        let test = report["test"] as! [String: Any]
        // Three well-separated classes: the map keeps them apart (a loose bound: 60 points, 40 epochs).
        #expect((test["oneNeighbourAccuracy"] as! Double) > 0.8, "\(test)")
        #expect((report["completenessError"] as! Double) <= 1e-5)
        // The absolute error is the relative one times at most max(1, |y|): below 1e-5 of the largest coordinate.
        let largest = embedding.scalars(as: Float.self).map { abs(Double($0)) }.max()!
        #expect((report["completenessAbsoluteError"] as! Double) <= 1e-5 * max(1, largest), "\(largest)")
        // The neighbour pair: its step is its pixel terms plus its bias difference (float32 sums of 16 terms: 1e-4).
        let pair = report["neighbourPair"] as! [String: Any]
        #expect(pair["from"] as? Int == 0 && (pair["fromLabel"] as? Int) != (pair["toLabel"] as? Int))
        let step = pair["step"] as! [Double], pixels = pair["pixelShare"] as! [Double], bias = pair["biasShare"] as! [Double]
        for a in 0 ..< 2 { #expect(abs(step[a] - pixels[a] - bias[a]) <= 1e-4 * max(1, abs(step[a])), "\(pair)") }
        #expect(try NumpyArray(contentsOf: output.appendingPathComponent("displacement.npy")).shape == [2, 16])
        for name in ["embedding.svg", "embedding-column.svg", "maps.svg", "maps-column.svg"] {
            let svg = try String(contentsOf: output.appendingPathComponent(name), encoding: .utf8)
            #expect(svg.contains("<svg"), "\(name)")
        }
        let scatter = try String(contentsOf: output.appendingPathComponent("embedding.svg"), encoding: .utf8)
        #expect(scatter.components(separatedBy: "data-point=").count - 1 == 60)
    }

    @Test func badSettingsAreOneLineRefusalsWritingNothing() throws {
        let data = try dataset(train: 40, test: 30)
        defer { try? FileManager.default.removeItem(at: data) }
        let output = data.appendingPathComponent("refused")
        for (flags, message) in [
            (["--batch", "10", "--perplexity", "9"], "--perplexity 9.0 must be below the batch size minus one (--batch 10: 9 neighbours per point)"),
            (["--batch", "1"], "--batch must be at least 2 (t-SNE compares the points of a batch), got 1"),
            (["--batch", "10", "--perplexity", "3", "--architecture", "dense8,relu,dense3"],
             "--architecture 'dense8,relu,dense3' gives outputs of shape [3], but the embedding has --dimensions 2"),
            (["--batch", "10", "--perplexity", "3", "--architecture", "dense8,relu,dense2", "--dimensions", "3"],
             "--architecture 'dense8,relu,dense2' gives outputs of shape [2], but the embedding has --dimensions 3"),
            // 24 points: scikit-learn refuses trustworthiness at k = 12 (12 ≥ 24/2); 25 is the least it takes.
            (["--batch", "10", "--perplexity", "3", "--test-limit", "24"],
             "--test-limit must be at least 25 (trustworthiness at k = 12 needs k < n/2, the 10-NN accuracy 11 points), got 24"),
        ] {
            let (status, _, error) = try runExecutable("embed", ["--data", data.path, "--output", output.path] + flags)
            #expect(status == 2, "\(flags): \(error)")
            #expect(error.split(separator: "\n").count == 1 && error.contains(message), "\(flags): \(error)")
            #expect(!FileManager.default.fileExists(atPath: output.path))
        }
    }

    /// A test split too small for trustworthiness at k = 12 is refused before training, not
    /// trapped on after it (it used to pass --batch and train, then stop in EmbeddingQuality).
    @Test func aTestSplitTooSmallForTheMeasuresIsRefusedBeforeTraining() throws {
        let data = try dataset(train: 40, test: 20)
        defer { try? FileManager.default.removeItem(at: data) }
        let output = data.appendingPathComponent("refused")
        let (status, text, error) = try runExecutable("embed", ["--data", data.path, "--output", output.path, "--batch", "10", "--perplexity", "3",
                                                                "--architecture", "dense8,relu,dense2", "--epochs", "1"])
        #expect(status == 2, "\(error)")
        #expect(error.split(separator: "\n").count == 1, "\(error)")
        #expect(error.contains("--data: the test split has 20 images, fewer than the 25 that trustworthiness at k = 12 (k < n/2) and the 10-NN accuracy need"), "\(error)")
        #expect(!text.contains("epoch"), "\(text)")
        #expect(!FileManager.default.fileExists(atPath: output.path))
    }
}
