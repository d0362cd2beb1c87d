import ArgumentParser
import CommandSupport
import Datasets
import Figures
import FileFormats
import Foundation
import Interpretation
import IsometrySupport
import Networks
import Reports
import TensorAlgebra

/// `interpret --evaluate`'s options: which methods and metrics, on how many test images, with
/// which settings. Every option is optional so that one given without --evaluate is refused
/// rather than silently ignored; the defaults are AttributionSettings's.
struct AttributionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Attribution methods to compare, comma-separated (default: every one that applies to the network, of \(AttributionCatalogue.methodNames.joined(separator: ","))).", valueName: "names")) var methods: String?
    @Option(help: ArgumentHelp("Metrics to score them by, comma-separated (default: \(AttributionCatalogue.defaultMetricNames.joined(separator: ",")), the noisy-background ones on image inputs only; also \(AttributionCatalogue.metricNames.filter { !AttributionCatalogue.defaultMetricNames.contains($0) }.joined(separator: ","))).", valueName: "names")) var metrics: String?
    @Option(help: "Compare on the first N test images (default 100).") var images: Int?
    @Option(help: "Explain each image's predicted class (prediction, the default) or its label (label).") var targets: AttributionComparison.TargetChoice?
    @Option(help: "Images whose attributions the report draws side by side (default 4).") var examples: Int?
    @Option(help: "Integrated Gradients' steps (default 50).") var steps: Int?
    @Option(help: ArgumentHelp("The baseline x̄ of Integrated Gradients and the completeness residual: a .npy of one input's shape (default: zero).", valueName: "file")) var baseline: String?
    @Option(help: "SmoothGrad's noisy samples per image (default 50).") var smoothgradSamples: Int?
    @Option(help: "SmoothGrad's noise standard deviation, in pixel units (default 0.15).") var smoothgradSigma: Double?
    @Option(help: "Occlusion's square window and its stride, in pixels (default: a 3 × 3 window moved by 1, Captum's stride).") var occlusionWindow: Int?
    @Option(help: "The fraction of features one deletion or insertion step perturbs, in (0, 1] (default 0.05).") var fraction: Double?
    @Option(help: "Images per batch of the comparison (default 250).") var evaluationBatch: Int?
    @Option(help: "Pixel flipping's features flipped a step (default 1, Quantus's).") var flipStep: Int?
    @Option(help: "Max-sensitivity's noisy copies of each image (default 200, Quantus's; Captum's is 10).") var sensitivitySamples: Int?
    @Option(help: "Max-sensitivity's noise half-width per feature (default 0.2, Quantus's; Captum's is 0.02).") var sensitivityRadius: Double?
    @Option(help: "The noisy-background scores' noise σ (default 0.5, as noisy-background's; clipped to [0, 1], outline 3, object > 0, seed 0).") var backgroundSigma: Double?

    /// Whether any option was given (they apply only with --evaluate).
    var anyGiven: Bool {
        methods != nil || metrics != nil || images != nil || targets != nil || examples != nil || steps != nil || baseline != nil
            || smoothgradSamples != nil || smoothgradSigma != nil || occlusionWindow != nil || fraction != nil || evaluationBatch != nil
            || flipStep != nil || sensitivitySamples != nil || sensitivityRadius != nil || backgroundSigma != nil
    }

    /// The methods named, or nil for the default (every one that applies to the network).
    var namedMethods: [String]? { methods.map(Self.names) }
    var methodNames: [String] { namedMethods ?? AttributionCatalogue.methodNames }
    /// The metrics named, or nil for the default (every one that applies to the network but the costly two).
    var namedMetrics: [String]? { metrics.map(Self.names) }
    var metricNames: [String] { namedMetrics ?? AttributionCatalogue.defaultMetricNames }
    /// A `side` × `side` patch over the last two axes of an image (all channels at once; the
    /// identity MLP's D features read as the image Occlusion lays over them), `side` features along a flat input: occlusion's window for --occlusion-window, clipped to the input.
    static func squareWindow(_ side: Int, inputShape shape: [Int]) -> [Int] {
        shape.enumerated().map { axis, n in axis >= shape.count - 2 && (shape.count >= 2 || axis == 0) ? min(side, n) : n }
    }
    static func names(_ list: String) -> [String] { list.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) } }

    func validate() throws {
        for (flag, names, known) in [("--methods", methodNames, AttributionCatalogue.methodNames), ("--metrics", metricNames, AttributionCatalogue.metricNames)] {
            if let bad = names.first(where: { !known.contains($0) }) {
                throw ValidationError("\(flag): unknown name '\(quotedValue(bad))'; known: \(known.joined(separator: ", "))")
            }
            if let repeated = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
                throw ValidationError("\(flag): '\(repeated)' is listed twice")
            }
        }
        if let images { try requireRange(images, 1 ... 10_000_000, "--images") }
        if let examples { try requireRange(examples, 0 ... 64, "--examples") }
        if let steps { try requireRange(steps, 1 ... 100_000, "--steps") }
        if let smoothgradSamples { try requireRange(smoothgradSamples, 1 ... 100_000, "--smoothgrad-samples") }
        if let smoothgradSigma { try requirePositive(smoothgradSigma, "--smoothgrad-sigma") }
        if let occlusionWindow { try requireRange(occlusionWindow, 1 ... 10_000, "--occlusion-window") }
        if let fraction, !(fraction > 0 && fraction <= 1) {
            throw ValidationError("--fraction must be in (0, 1], got \(fraction)")
        }
        if let evaluationBatch { try requireRange(evaluationBatch, 1 ... 100_000, "--evaluation-batch") }
        if let flipStep { try requireRange(flipStep, 1 ... 10_000_000, "--flip-step") }
        if let sensitivitySamples { try requireRange(sensitivitySamples, 1 ... 100_000, "--sensitivity-samples") }
        if let sensitivityRadius { try requirePositive(sensitivityRadius, "--sensitivity-radius") }
        if let backgroundSigma, !(backgroundSigma >= 0 && backgroundSigma.isFinite) {
            throw ValidationError("--background-sigma must be a finite number ≥ 0, got \(backgroundSigma)")
        }
        if let baseline, baseline.isEmpty { throw ValidationError("--baseline: the path is empty; name a .npy file") }
    }

    /// The settings, the baseline read and checked against the stack's input shape (a flat
    /// array of as many values is accepted too).
    func settings(for stack: LayerStack<Float>) throws -> AttributionSettings<Float> {
        var settings = AttributionSettings<Float>()
        // Quantus's 224 features per faithfulness run, or half the features of a smaller input.
        let features = stack.classDimensions?.features ?? stack.inputShape.reduce(1, *)
        settings.subsetSize = min(settings.subsetSize, max(1, features / 2))
        if let steps { settings.steps = steps }
        if let smoothgradSamples { settings.samples = smoothgradSamples }
        if let smoothgradSigma { settings.standardDeviation = smoothgradSigma }
        if let occlusionWindow { settings.window = Self.squareWindow(occlusionWindow, inputShape: (try? Occlusion<Float>().occludedShape(on: stack)) ?? stack.inputShape)
            settings.strides = settings.window }
        if let fraction { settings.perturbationFraction = fraction }
        if let flipStep {
            guard flipStep <= features else {
                throw UserError(message: "--flip-step: \(flipStep) features a step, but the network's inputs have \(features)")
            }
            settings.featuresInStep = flipStep
        }
        if let sensitivitySamples { settings.sensitivitySamples = sensitivitySamples }
        if let sensitivityRadius { settings.sensitivityRadius = sensitivityRadius }
        if let backgroundSigma { settings.noisyBackground.sigma = backgroundSigma }
        if let baseline {
            let array: NumpyArray
            do { array = try NumpyArray(contentsOf: URL(fileURLWithPath: baseline)) } catch {
                throw UserError(message: "--baseline: \(error)")
            }
            let tensor = Tensor<Float>(array)
            guard array.shape == stack.inputShape || array.shape == [stack.inputShape.reduce(1, *)] else {
                throw UserError(message: "--baseline: \(baseline) has shape \(array.shape), but the network takes inputs of shape \(stack.inputShape)")
            }
            if tensor.nonFiniteCount > 0 { throw UserError(message: "--baseline: \(baseline) holds \(tensor.nonFiniteCount) NaN or infinite values") }
            settings.baseline = tensor.reshaped(stack.inputShape)
        }
        return settings
    }
}

extension Interpret {
    /// Where --evaluate writes: --output when given, out/attribution otherwise (not the
    /// interpretation's own out/interpret, whose report.json and report.html it would replace).
    var evaluationOutput: String {
        CommandLine.arguments.contains { $0 == "--output" || $0.hasPrefix("--output=") } ? output : "out/attribution"
    }

    /// `interpret --evaluate`: the methods × metrics comparison on the first --images test
    /// images (AttributionComparison), written as report.json, table.csv, scores.csv, the
    /// figures and report.html, all staged and moved into place together.
    func runEvaluation(_ stack: LayerStack<Float>, data test: LabeledImages) throws {
        let count = attribution.images ?? 100
        guard count <= test.count else {
            throw UserError(message: "--images: \(count) images asked for, but the test split of \(data) holds \(test.count)")
        }
        do { try stack.check(data: test) } catch {
            throw UserError(message: Self.message(error, stack: stack, checkpoint: file, flag: fileFlag))
        }
        let settings = try attribution.settings(for: stack)
        let methods: [any AttributionMethod<Float>], metrics: [any AttributionMetric<Float>]
        do {
            methods = try AttributionCatalogue.methods(attribution.namedMethods ?? AttributionCatalogue.defaultMethodNames(for: stack), settings: settings)
            metrics = try AttributionCatalogue.metrics(attribution.namedMetrics ?? AttributionCatalogue.defaultMetricNames(for: stack), settings: settings)
        } catch { throw UserError(message: error.description) }
        let folder = try prepareOutputFolder(evaluationOutput, files: ["report.json", "report.html", "table.csv", "scores.csv", "figures/"])
        let start = Date()
        let bar = ProgressBar(label: "interpret --evaluate")
        let comparison: AttributionComparison
        do {
            comparison = try AttributionComparison(stack, data: test, images: Array(0 ..< count), methods: methods, metrics: metrics,
                                                   targets: attribution.targets ?? .prediction, examples: attribution.examples ?? 4,
                                                   batchSize: attribution.evaluationBatch ?? 250, source: file) { stage, done, total in
                bar.update(done, total, detail: stage.rawValue)
            }
        } catch {
            throw UserError(message: Self.message(error, stack: stack, checkpoint: file, flag: fileFlag))
        }
        let json: String
        do { json = try comparison.json() } catch { throw UserError(message: "\(fileFlag): \(file): \(error.description)") }
        let texts = [("report.json", json), ("table.csv", comparison.tableCSV), ("scores.csv", comparison.scoresCSV)]
            + comparison.figureFiles.map { ("figures/\($0.name)", $0.svg) } + [("report.html", comparison.html(indexLink: index))]
        let staging: OutputStaging
        do { staging = try OutputStaging(into: folder) } catch { throw UserError(message: "--output: \(error.description)") }
        for (path, text) in texts {
            do { try staging.write(text, to: path) } catch {
                throw UserError(message: "--output: cannot write \(staging.destination(path).path): \(Self.reason(error))")
            }
            if png && path.hasPrefix("figures/") {
                let url: URL
                do { url = try staging.url(path) } catch { throw UserError(message: "--output: \(error.description)") }
                do { try FigureExport.png(fromSVGFile: url, to: FigureExport.pngURL(besides: url)) } catch {
                    throw UserError(message: "--png: \(error.description)")
                }
            }
        }
        try commit(staging, flag: "--output")
        bar.finish()
        print(comparison.summary)
        print(String(format: "wrote %@/report.html, report.json, table.csv, scores.csv and figures/*.svg%@ in %.1f s", folder.path,
                     png ? " (and .png)" : "", Date().timeIntervalSince(start)))
    }
}

extension AttributionComparison.TargetChoice: ExpressibleByArgument {}
