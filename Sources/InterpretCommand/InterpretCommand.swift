import ArgumentParser
import CommandSupport
import Datasets
import Figures
import Foundation
import Interpretation
import IsometrySupport
import Networks
import Reports
import TensorAlgebra
import FileFormats

/// `swift run interpret --checkpoint FILE`: what every layer of a trained classifier does.
/// The analysis, the figures and the page are Interpretation's `InterpretationReport`; this
/// command parses flags, checks them, shows progress and writes the files.
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
    @Option(help: "Images per batch of the linearisation.") var batchSize = 1000
    @Option(help: "Output folder.") var output = "out/interpret"
    @Flag(help: "Also write every figure of figures/ as PNG at 300 dpi beside its SVG (needs rsvg-convert: apt-get install librsvg2-bin).") var png = false
    @Option(help: "A page this report belongs to, linked at its top as a relative URL (e.g. ../report.html).") var index: String?

    func validate() throws {
        guard !parsedSamples().isEmpty else { throw ValidationError("--samples must list test-image indices like 0,1,2, got \(samples)") }
        try requireRange(linearise, 1 ... 10_000_000, "--linearise")
        try requireRange(batchSize, 1 ... 100_000, "--batch-size")
        if png && FigureExport.rasteriser() == nil { throw ValidationError("--png: \(FigureExportError.rasteriserMissing.description)") }
    }

    func parsedSamples() -> [Int] {
        let parts = samples.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        return parts.contains(nil) ? [] : parts.compactMap { $0 }
    }

    func run() throws {
        // The checkpoint first, checked before any data is read: an unsupported activation or
        // NaN weights fail here in one line.
        let classifier: IdentityClassifier<Float>
        do { classifier = try IdentityClassifier(contentsOf: URL(fileURLWithPath: checkpoint)) } catch {
            throw UserError(message: "--checkpoint: \(error.description)")
        }
        do { try classifier.checkInterpretable() } catch {
            throw UserError(message: "--checkpoint: \(checkpoint): \(error.description)")
        }
        let dataset: ImageDataset
        do { dataset = try ImageDataset(folder: data) } catch let error as IDXError {
            throw UserError(message: "--data: \(error.description)")
        }
        let test = dataset.test
        let indices = parsedSamples()
        // The report's own checks, asked before the output folder is made; each named by its flag.
        do { try InterpretationReport.check(classifier, data: test, samples: indices) } catch {
            switch error {
            case .inputWidthMismatch(let found, let expected):
                throw UserError(message: "--data: images have \(found) pixels but the checkpoint takes \(expected) features")
            case .labelOutOfRange(let label, let classes):
                throw UserError(message: "--data: label \(label) does not fit the checkpoint's \(classes) classes")
            case .sampleOutOfRange(let index, let count):
                throw UserError(message: "--samples: index \(index) is out of range for the \(count) test images")
            case .unsupportedActivation, .nonFiniteWeights:
                throw UserError(message: "--checkpoint: \(checkpoint): \(error.description)")
            default: throw UserError(message: "--data: \(error.description)")
            }
        }
        let folder = try prepareOutputFolder(output, files: ["report.json", "report.html", "maps/", "figures/"])
        let start = Date()
        let bar = ProgressBar(label: "interpret")
        let report: InterpretationReport
        do {
            report = try InterpretationReport(classifier, data: test, samples: indices, linearise: linearise, batchSize: batchSize,
                                              source: checkpoint) { stage, done, total in
                // Four steps: readout, samples, linearisation (image count shown), report.
                let step = InterpretationReport.Stage.allCases.firstIndex(of: stage)!
                bar.update(step, 4, detail: stage == .linearisation ? "linearisation \(done)/\(total) images" : stage.rawValue)
            }
        } catch {
            throw UserError(message: "--data: \(error.description)")
        }
        bar.update(3, 4, detail: "report")
        try write(report, to: folder)
        bar.finish()
        print(report.summary)
        print(String(format: "wrote %@/report.html, report.json, maps/*.npy and figures/*.svg%@ in %.1f s", folder.path,
                     png ? " (and .png)" : "", Date().timeIntervalSince(start)))
    }

    /// The maps as .npy (float32), report.json, the figures as SVG (and PNG with --png) and the
    /// page, staged inside the folder and moved into place together once all are on disk
    /// (`OutputStaging`): a kill or a full disk leaves the previous report whole.
    func write(_ report: InterpretationReport, to folder: URL) throws {
        // Encoded first: a number JSON cannot hold is bad input (exit 2), found before any file.
        let json: String
        do { json = try report.json() } catch { throw UserError(message: "--checkpoint: \(checkpoint): \(error.description)") }
        let staging: OutputStaging
        do { staging = try OutputStaging(into: folder) } catch { throw UserError(message: "--output: \(error.description)") }
        func staged(_ path: String) throws -> URL {
            do { return try staging.url(path) } catch { throw UserError(message: "--output: \(error.description)") }
        }
        for map in report.maps {
            do {
                try map.tensor.writeNumpyFile(to: try staged("maps/\(map.name)"))
            } catch {
                throw UserError(message: "--output: cannot write \(staging.destination("maps/\(map.name)").path): \(Self.reason(error))")
            }
        }
        var texts = [("report.json", json)] + report.figureFiles.map { ("figures/\($0.0)", $0.1) }
        texts.append(("report.html", report.html(indexLink: index, figureFolder: "figures", png: png)))
        for (path, text) in texts {
            do { try AtomicFile.write(text, to: try staged(path)) } catch {
                throw UserError(message: "--output: cannot write \(staging.destination(path).path): \(Self.reason(error))")
            }
            if png && path.hasPrefix("figures/") {
                let url = try staged(path)
                do { try FigureExport.png(fromSVGFile: url, to: FigureExport.pngURL(besides: url)) } catch {
                    throw UserError(message: "--png: \(error.description)")
                }
            }
        }
        try commit(staging, flag: "--output")
    }

    /// The system's reason alone ("No space left on device"): the message names the final path.
    static func reason(_ error: any Error) -> String {
        (error as? FileWriteError)?.reason ?? (error as NSError).localizedDescription
    }
}
