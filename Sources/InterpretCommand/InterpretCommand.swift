import ArgumentParser
import CommandSupport
import Datasets
import Figures
import Foundation
import Interpretation
import Networks
import TensorAlgebra
import Training

/// `swift run interpret --checkpoint FILE`: what every layer of a trained classifier does.
@main
struct Interpret: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "interpret",
        abstract: "Read a trained identity-initialised classifier layer by layer: one self-contained HTML report, JSON and .npy maps.")

    static func main() { mainWithOneLineErrors(name: "interpret") }

    @Option(help: "A checkpoint from `train`, or a safetensors file exported from PyTorch (docs/training.md).") var checkpoint: String
    @Option(help: "MNIST-format folder; its test split is analysed.") var data = ImageDataset.fashionMNISTFolder
    @Option(help: "Test images to show in detail, comma-separated indices.") var samples = "0,1,2,3,4,5,6,7"
    @Option(help: "Linearise the logits of the first N test images (completeness reported over all).") var linearise = 1000
    @Option(help: "Output folder.") var output = "out/interpret"

    func validate() throws {
        guard !parsedSamples().isEmpty else { throw ValidationError("--samples must list test-image indices like 0,1,2, got \(samples)") }
        try requireRange(linearise, 1 ... 10_000_000, "--linearise")
    }

    func parsedSamples() -> [Int] {
        let parts = samples.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        return parts.contains(nil) ? [] : parts.compactMap { $0 }
    }

    func run() throws {
        let classifier: IdentityClassifier<Float>
        do { classifier = try IdentityClassifier(contentsOf: URL(fileURLWithPath: checkpoint)) } catch {
            throw UserError(message: "--checkpoint: \(error.description)")
        }
        guard classifier.activation == .hardTanh || classifier.activation == .relu else {
            throw UserError(message: "--checkpoint: activation \(classifier.activation.rawValue) has no exact linearisation; the interpreter needs hard-tanh or ReLU")
        }
        let dataset: ImageDataset
        do { dataset = try ImageDataset(folder: data) } catch let error as IDXError {
            throw UserError(message: "--data: \(error.description)")
        }
        let test = dataset.test
        guard test.features == classifier.inputFeatures else {
            throw UserError(message: "--data: images have \(test.features) pixels but the checkpoint takes \(classifier.inputFeatures) features")
        }
        if let label = test.labels.max(), label >= classifier.classes {
            throw UserError(message: "--data: label \(label) does not fit the checkpoint's \(classifier.classes) classes")
        }
        let indices = parsedSamples()
        if let bad = indices.first(where: { $0 < 0 || $0 >= test.count }) {
            throw UserError(message: "--samples: index \(bad) is out of range for the \(test.count) test images")
        }
        let folder = try makeFolder(output)
        let bar = ProgressBar(label: "interpret")

        bar.update(0, 4, detail: "layer readout")
        let start = Date()
        let readout: LayerReadout
        do { readout = try LayerReadout(classifier, data: test) } catch { throw UserError(message: "--data: \(error.description)") }
        bar.update(1, 4, detail: "samples")
        let analyses = indices.map { i in
            classifier.analyse(Array(test.pixels[(i * test.features) ..< ((i + 1) * test.features)]).map { Float($0) / 255 }, index: i, label: test.labels[i])
        }
        bar.update(2, 4, detail: "linearisation")
        let linearStart = Date()
        let (linearised, detail) = linearisation(classifier, test: test, count: min(linearise, test.count), samples: indices)
        let linearSeconds = Date().timeIntervalSince(linearStart)
        bar.update(3, 4, detail: "report")

        let report = Report(checkpoint: checkpoint, classifier: classifier, test: test, readout: readout, analyses: analyses,
                            linearisedCount: linearised.count, completenessError: linearised.error, linearSeconds: linearSeconds,
                            samples: detail)
        try report.writeFiles(to: folder)
        bar.finish()
        print(report.summary(seconds: Date().timeIntervalSince(start), folder: folder.path))
    }

    /// Linearises the first `count` test images in batches; returns the worst completeness
    /// error and, for the chosen samples, their attribution maps and bias shares.
    func linearisation(_ classifier: IdentityClassifier<Float>, test: LabeledImages, count: Int, samples: [Int])
        -> ((count: Int, error: Double), [SampleLinearisation]) {
        let n = classifier.width
        var worst = 0.0
        var start = 0
        while start < count {
            let size = min(1000, count - start)
            var inputs = Tensor<Float>.zeros([size, n])
            test.gather((start ..< start + size).map { $0 }[...], into: &inputs)
            worst = max(worst, InstanceLinearisation(classifier, inputs: inputs).completenessError)
            start += size
        }
        var inputs = Tensor<Float>.zeros([samples.count, n])
        test.gather(samples[...], into: &inputs)
        let linear = InstanceLinearisation(classifier, inputs: inputs)
        worst = max(worst, linear.completenessError)
        let detail = samples.enumerated().map { (row, index) -> SampleLinearisation in
            let x = Array(inputs.row(row).scalars[0 ..< classifier.inputFeatures])
            let maps = (0 ..< classifier.classes).map { linear.attribution(instance: row, class: $0, input: x) }
            return SampleLinearisation(index: index, attributions: maps,
                                       biasShares: (0 ..< classifier.classes).map { Double(linear.biases[row, $0]) },
                                       logits: (0 ..< classifier.classes).map { Double(linear.logits[row, $0]) })
        }
        return ((count, worst), detail)
    }
}

struct SampleLinearisation: Encodable {
    let index: Int
    /// [class][pixel]: W(x)_c ⊙ x.
    let attributions: [[Double]]
    let biasShares: [Double]
    let logits: [Double]
}
