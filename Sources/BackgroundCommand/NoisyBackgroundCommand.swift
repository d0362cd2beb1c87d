import ArgumentParser
import CommandSupport
import Datasets
import FileFormats
import Foundation
import Interpretation
import IsometrySupport
import Networks
import Reports

enum NoisyBackgroundOutputFolder: OutputFolderDefault { static let folder = "out/noisy-background" }

/// `noisy-background --checkpoint FILE`: Szymanski et al.'s noisy-background experiment — a
/// trained layer stack's test accuracy clean and with noise everywhere except (a) the object
/// and its outline, (b) the object, (c) the object and as many frame pixels as (a)'s outline.
/// The computation is Interpretation's `NoisyBackgroundTable`; this command checks the flags,
/// shows progress and writes table.json, table.csv, figure.svg, summary.md and report.html.
@main
struct NoisyBackgroundCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "noisy-background",
        abstract: "Test accuracy of a trained network with Gaussian noise everywhere but the object and its outline, the object, or the object and the frame.")

    static func main() { mainWithOneLineErrors(name: "noisy-background") }

    @Option(help: "A layer-stack file (from `train --architecture` or `--widths`), or a PyTorch nn.Sequential state dict with --architecture.") var checkpoint: String
    @Option(help: ArgumentHelp("Read --checkpoint as a PyTorch nn.Sequential state dict of these modules, one token each, on the images as [1, H, W] (docs/layers.md).", valueName: "string")) var architecture: String?
    @Option(help: "MNIST-format folder; its test split is used.") var data = ImageDataset.fashionMNISTFolder
    @Option(help: "Standard deviation σ of the noise that replaces a pixel (before clipping).") var sigma = 0.5
    @Option(help: "A pixel is the object's when its value in [0, 1] exceeds this.") var threshold = 0.0
    @Option(help: "Outline width in pixels: non-object pixels within this Chebyshev distance of the object.") var outline = 3
    @Flag(name: .customLong("no-clip"), help: "Leave noisy pixels unclipped (by default clipped to [0, 1]).") var noClip = false
    @Option(help: "Seed of the noise.") var seed: UInt64 = 0
    @Option(help: "Use the first N test images only (default: all).") var limit: Int?
    @Option(help: "Images per batch.") var batchSize = 500
    @Option(help: "What Insens highlights (the object's share of |Ω|) over the first N images under each protocol; 0: not computed.") var insensImages = 100
    @OptionGroup var outputOptions: OutputOptions<NoisyBackgroundOutputFolder>

    func validate() throws {
        try requireFinite(sigma, "--sigma")
        guard threshold.isFinite, (0 ..< 1).contains(threshold) else { throw ValidationError("--threshold must be in [0, 1), got \(threshold)") }
        try requireRange(outline, 0 ... 1000, "--outline")
        if let limit { try requireRange(limit, 1 ... 100_000_000, "--limit") }
        try requireRange(batchSize, 1 ... 100_000, "--batch-size")
        try requireRange(insensImages, 0 ... 100_000_000, "--insens-images")
    }

    var settings: NoisyBackgroundSettings {
        NoisyBackgroundSettings(sigma: sigma, threshold: threshold, outlineWidth: outline, clip: !noClip, seed: seed)
    }

    func run() throws {
        let dataset: ImageDataset
        do { dataset = try ImageDataset(folder: data) } catch let error as IDXError {
            throw UserError(message: "--data: \(error.description)")
        }
        let stack: LayerStack<Float>
        if let architecture {
            do { _ = try ArchitectureString.parse(architecture, inputShape: [1] + dataset.test.imageShape) } catch {
                throw UserError(message: "--architecture: \(error.description)")
            }
            do {
                stack = try LayerStack(pytorchStateDict: URL(fileURLWithPath: checkpoint), architecture: architecture,
                                       inputShape: [1] + dataset.test.imageShape)
            } catch { throw UserError(message: "--checkpoint: \(error)") }
        } else {
            do { stack = try LayerStack(contentsOf: URL(fileURLWithPath: checkpoint)) } catch {
                throw UserError(message: "--checkpoint: \(error.description)")
            }
        }
        let test = limit.map { dataset.test.prefix(min($0, dataset.test.count)) } ?? dataset.test
        do { try NoisyBackgroundTable.check(stack, data: test) } catch {
            switch error {
            case .nonFiniteParameter: throw UserError(message: "--checkpoint: \(checkpoint): \(error.description)")
            case .inputWidthMismatch(let found, _):
                throw UserError(message: "--data: images have \(found) pixels, but \(checkpoint) takes \(stack.inputShape)")
            case .outputsDoNotFitClasses(let outputs, let classes):
                throw UserError(message: "--data: labels run to \(classes - 1), but \(checkpoint) gives \(outputs) class scores")
            default: throw UserError(message: "--data: \(error.description)")
            }
        }
        let folder = try prepareOutputFolder(outputOptions.output, files: ["table.json", "table.csv", "figure.svg", "summary.md", "report.html"])
        let start = Date()
        let bar = ProgressBar(label: "noisy-background")
        let table: NoisyBackgroundTable
        do {
            table = try NoisyBackgroundTable(stack, data: test, settings: settings, batchSize: batchSize, insensImages: insensImages, source: checkpoint) { done, total in
                bar.update(done, total, detail: "\(done)/\(total) images")
            }
        } catch {
            throw UserError(message: "--checkpoint: \(checkpoint): \(error.description)")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let json: String
        do { json = String(decoding: try encoder.encode(table), as: UTF8.self) + "\n" } catch {
            throw UserError(message: "--checkpoint: \(checkpoint): a number of the table is not finite: \(error)", isInternal: true)
        }
        let staging: OutputStaging
        do { staging = try OutputStaging(into: folder) } catch { throw UserError(message: "--output: \(error.description)") }
        for (path, text) in [("table.json", json), ("table.csv", table.csv), ("figure.svg", table.figure().render()), ("summary.md", table.markdown), ("report.html", table.html())] {
            do { try staging.write(text, to: path) } catch { throw UserError(message: "--output: \(error.description)") }
        }
        try commit(staging, flag: "--output")
        bar.finish()
        print(table.text)
        print(String(format: "wrote %@/table.json, table.csv, figure.svg, summary.md and report.html in %.1f s", folder.path, Date().timeIntervalSince(start)))
    }
}
