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

/// `swift run interpret --checkpoint FILE`: what every layer of a trained classifier does, or,
/// for any piecewise-linear layer stack (a self-describing stack file, a PyTorch MLP state dict
/// with `--activations`, or a PyTorch CNN state dict with `--architecture STRING --model FILE`),
/// what applies to it. The analysis, the figures and the page are
/// Interpretation's `InterpretationReport` (identity classifier) and `StackInterpretationReport`
/// (any stack); this command parses flags, checks them, shows progress and writes the files.
@main
struct Interpret: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "interpret",
        abstract: "Read a trained identity-initialised classifier layer by layer: one self-contained HTML report, JSON and .npy maps.")

    static func main() { mainWithOneLineErrors(name: "interpret") }

    @Option(help: "A checkpoint from `train`, a layer-stack file (its architecture in the metadata), or a PyTorch state dict with --activations or --architecture.") var checkpoint: String?
    @Option(help: "A PyTorch nn.Sequential state dict (safetensors) whose modules --architecture lists; the same as --checkpoint.") var model: String?
    @Option(help: ArgumentHelp("Read --checkpoint as a PyTorch nn.Sequential state dict with this activation after every Linear but the last (relu, leaky-relu:0.01, hard-tanh, identity), or one per Linear but the last, comma-separated.", valueName: "names")) var activations: String?
    @Option(help: ArgumentHelp("Read --model (or --checkpoint) as a PyTorch nn.Sequential state dict of these modules, one token each, on the images as [1, H, W] (docs/layers.md), e.g. conv32k3,relu,maxpool2,conv64k3,relu,maxpool2,flatten,dense128,relu,dense10.", valueName: "string")) var architecture: String?
    @Option(help: "MNIST-format folder; its test split is analysed.") var data = ImageDataset.fashionMNISTFolder
    @Option(help: "Test images to show in detail, comma-separated indices.") var samples = "0,1,2,3,4,5,6,7"
    @Option(help: "Linearise the logits of the first N test images (completeness reported over all).") var linearise = 1000
    @Option(help: "Images per batch of the linearisation.") var batchSize = 1000
    @OptionGroup var outputOptions: OutputOptions<InterpretOutputFolder>
    var output: String { outputOptions.output }
    @Flag(help: "Also write every figure of figures/ as PNG at 300 dpi beside its SVG (needs rsvg-convert: apt-get install librsvg2-bin).") var png = false
    @Option(help: "A page this report belongs to, linked at its top as a relative URL (e.g. ../report.html).") var index: String?
    @Flag(help: "Compare attribution methods by evaluation metrics on test images instead (--methods, --metrics, --images; written to out/attribution unless --output is given).") var evaluate = false
    @OptionGroup(title: "Attribution comparison (with --evaluate)") var attribution: AttributionOptions

    /// The network file: --checkpoint or --model.
    var file: String { checkpoint ?? model ?? "" }
    /// The flag that named it, for messages.
    var fileFlag: String { checkpoint != nil ? "--checkpoint" : "--model" }

    func validate() throws {
        guard (checkpoint == nil) != (model == nil) else {
            throw ValidationError(checkpoint == nil ? "give the network with --checkpoint FILE (or --model FILE with --architecture)"
                                                    : "--checkpoint and --model name the same file; give one")
        }
        if architecture != nil && activations != nil { throw ValidationError("--architecture and --activations exclude each other (an MLP is dense<n> tokens: flatten,dense1000,relu,dense10)") }
        if model != nil && architecture == nil { throw ValidationError("--model is a PyTorch state dict, which records no architecture: give --architecture too") }
        guard !parsedSamples().isEmpty else { throw ValidationError("--samples must list test-image indices like 0,1,2, got \(samples)") }
        try requireRange(linearise, 1 ... 10_000_000, "--linearise")
        try requireRange(batchSize, 1 ... 100_000, "--batch-size")
        if attribution.anyGiven && !evaluate { throw ValidationError("the attribution options (--methods, --metrics, --images, …) apply with --evaluate; add it") }
        if png && FigureExport.rasteriser() == nil { throw ValidationError("--png: \(FigureExportError.rasteriserMissing.description)") }
    }

    func parsedSamples() -> [Int] {
        let parts = samples.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        return parts.contains(nil) ? [] : parts.compactMap { $0 }
    }

    /// What --checkpoint holds: an identity classifier (the checkpoints of `train`, the
    /// classic report) or any layer stack.
    enum Model {
        case classifier(IdentityClassifier<Float>)
        case stack(LayerStack<Float>)
    }

    /// Reads --checkpoint: a PyTorch state dict when --activations is given, a layer stack when
    /// the file's metadata carries an architecture, an identity-classifier checkpoint otherwise
    /// (every checkpoint `train` ever wrote, read as before).
    func loadModel(imageShape: [Int]? = nil) throws -> Model {
        let url = URL(fileURLWithPath: file)
        if let architecture {
            // A state dict names no layer that holds no tensor: the string lists every module,
            // on the images as one channel (checked token by token against it).
            let shape = [1] + (imageShape ?? [])
            let parsed: LayerStackArchitecture
            do { parsed = try ArchitectureString.parse(architecture, inputShape: shape) } catch {
                throw UserError(message: "--architecture: \(error.description)")
            }
            do { return .stack(try LayerStack(pytorchStateDict: url, architecture: architecture, inputShape: parsed.inputShape)) } catch {
                throw UserError(message: "\(fileFlag): \(error)")
            }
        }
        if let activations {
            let names = activations.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            let functions = names.map(Nonlinearity.init(name:))
            if let bad = names.indices.first(where: { functions[$0] == nil }) {
                throw UserError(message: "--activations: unknown activation '\(quotedValue(names[bad]))'; expected relu, leaky-relu[:slope], hard-tanh, identity, tanh or erf")
            }
            do {
                return .stack(names.count == 1 ? try LayerStack(pytorchStateDict: url, activation: functions[0]!)
                                               : try LayerStack(pytorchStateDict: url, activations: functions.map { $0! }))
            } catch { throw UserError(message: "\(fileFlag): \(error.description)") }
        }
        if let contents = try? SafetensorsFile(contentsOf: url), contents.metadata[LayerStackArchitecture.metadataKey] != nil {
            do { return .stack(try LayerStack(contentsOf: url)) } catch { throw UserError(message: "\(fileFlag): \(error.description)") }
        }
        do { return .classifier(try IdentityClassifier(contentsOf: url)) } catch {
            throw UserError(message: "\(fileFlag): \(error.description)")
        }
    }

    func run() throws {
        // The checkpoint first, checked before any data is read: an unsupported activation or
        // NaN weights fail here in one line. An architecture string needs the images' shape,
        // so with --architecture the data comes first.
        let classifier: IdentityClassifier<Float>
        var imageShape: [Int]?
        if architecture != nil {
            do { imageShape = try ImageDataset(folder: data).test.imageShape } catch let error as IDXError {
                throw UserError(message: "--data: \(error.description)")
            }
        }
        let model = try loadModel(imageShape: imageShape)
        if evaluate { return try runEvaluation(model) }
        switch model {
        case .classifier(let loaded): classifier = loaded
        case .stack(let stack): return try run(stack)
        }
        do { try classifier.checkInterpretable() } catch {
            throw UserError(message: "\(fileFlag): \(file): \(error.description)")
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
                throw UserError(message: "\(fileFlag): \(file): \(error.description)")
            default: throw UserError(message: "--data: \(error.description)")
            }
        }
        let folder = try prepareOutputFolder(output, files: ["report.json", "report.html", "maps/", "figures/"])
        let start = Date()
        let bar = ProgressBar(label: "interpret")
        let report: InterpretationReport
        do {
            report = try InterpretationReport(classifier, data: test, samples: indices, linearise: linearise, batchSize: batchSize,
                                              source: file) { stage, done, total in
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

    /// --evaluate on either kind of network: the identity classifier as its stack with class
    /// dimensions (its class units are the targets), after the same checks as its report.
    func runEvaluation(_ model: Model) throws {
        let stack: LayerStack<Float>
        switch model {
        case .classifier(let classifier):
            do { try classifier.checkInterpretable() } catch { throw UserError(message: "\(fileFlag): \(file): \(error.description)") }
            stack = classifier.stack
        case .stack(let loaded):
            do { try loaded.checkInterpretable() } catch { throw UserError(message: "\(fileFlag): \(file): \(error.description)") }
            stack = loaded
        }
        let dataset: ImageDataset
        do { dataset = try ImageDataset(folder: data) } catch let error as IDXError {
            throw UserError(message: "--data: \(error.description)")
        }
        try runEvaluation(stack, data: dataset.test)
    }

    /// The report of any layer stack: the same checks before any output, then the same files.
    func run(_ stack: LayerStack<Float>) throws {
        do { try stack.checkInterpretable() } catch {
            throw UserError(message: "\(fileFlag): \(file): \(error.description)")
        }
        let dataset: ImageDataset
        do { dataset = try ImageDataset(folder: data) } catch let error as IDXError {
            throw UserError(message: "--data: \(error.description)")
        }
        let test = dataset.test
        let indices = parsedSamples()
        do { try StackInterpretationReport.check(stack, data: test, samples: indices) } catch {
            throw UserError(message: Self.message(error, stack: stack, checkpoint: file, flag: fileFlag))
        }
        let folder = try prepareOutputFolder(output, files: ["report.json", "report.html", "maps/", "figures/"])
        let start = Date()
        let bar = ProgressBar(label: "interpret")
        let report: StackInterpretationReport
        do {
            report = try StackInterpretationReport(stack, data: test, samples: indices, linearise: linearise, batchSize: batchSize,
                                                   source: file) { stage, done, total in
                let step = StackInterpretationReport.Stage.allCases.firstIndex(of: stage)!
                bar.update(step, 5, detail: stage == .linearisation ? "linearisation \(done)/\(total) images" : stage.rawValue)
            }
        } catch {
            throw UserError(message: Self.message(error, stack: stack, checkpoint: file, flag: fileFlag))
        }
        bar.update(4, 5, detail: "report")
        let json: String
        do { json = try report.json() } catch { throw UserError(message: "\(fileFlag): \(file): \(error.description)") }
        try write(maps: report.maps, json: json, figures: report.figureFiles,
                  html: report.html(indexLink: index, figureFolder: "figures", png: png), to: folder)
        bar.finish()
        print(report.summary)
        print(String(format: "wrote %@/report.html, report.json, maps/*.npy and figures/*.svg%@ in %.1f s", folder.path,
                     png ? " (and .png)" : "", Date().timeIntervalSince(start)))
    }

    /// One line for a stack that does not fit the data, naming the flag, the layer, the shapes
    /// and the file.
    static func message(_ error: InterpretationError, stack: LayerStack<Float>, checkpoint: String, flag: String = "--checkpoint") -> String {
        switch error {
        case .inputWidthMismatch(let found, _):
            return "--data: images have \(found) pixels, but layer 0 (\(stack.layers[0].layerDescription)) of \(checkpoint) takes \(stack.inputShape)"
                + (stack.classDimensions.map { " (\($0.features) features + \($0.classes) class units)" } ?? "")
        case .outputsDoNotFitClasses(let outputs, let classes):
            let last = stack.layerCount - 1
            return "--data: labels run to \(classes - 1), but layer \(last) (\(stack.layers[last].layerDescription)) of \(checkpoint) gives \(outputs) class scores"
        case .labelOutOfRange(let label, let classes):
            return "--data: label \(label) does not fit the checkpoint's \(classes) classes"
        case .sampleOutOfRange(let index, let count):
            return "--samples: index \(index) is out of range for the \(count) test images"
        case .smoothLayer, .unsupportedLayer, .nonFiniteParameter, .notRepresentable:
            return "\(flag): \(checkpoint): \(error.description)"
        default:
            return "--data: \(error.description)"
        }
    }

    /// The maps as .npy (float32), report.json, the figures as SVG (and PNG with --png) and the
    /// page, staged inside the folder and moved into place together once all are on disk
    /// (`OutputStaging`): a kill or a full disk leaves the previous report whole.
    func write(_ report: InterpretationReport, to folder: URL) throws {
        // Encoded first: a number JSON cannot hold is bad input (exit 2), found before any file.
        let json: String
        do { json = try report.json() } catch { throw UserError(message: "\(fileFlag): \(file): \(error.description)") }
        try write(maps: report.maps, json: json, figures: report.figureFiles,
                  html: report.html(indexLink: index, figureFolder: "figures", png: png), to: folder)
    }

    func write(maps: [InterpretationReport.Map], json: String, figures: [(name: String, svg: String)], html: String, to folder: URL) throws {
        let staging: OutputStaging
        do { staging = try OutputStaging(into: folder) } catch { throw UserError(message: "--output: \(error.description)") }
        func staged(_ path: String) throws -> URL {
            do { return try staging.url(path) } catch { throw UserError(message: "--output: \(error.description)") }
        }
        for map in maps {
            do {
                try map.tensor.writeNumpyFile(to: try staged("maps/\(map.name)"))
            } catch {
                throw UserError(message: "--output: cannot write \(staging.destination("maps/\(map.name)").path): \(Self.reason(error))")
            }
        }
        var texts = [("report.json", json)] + figures.map { ("figures/\($0.0)", $0.1) }
        texts.append(("report.html", html))
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
