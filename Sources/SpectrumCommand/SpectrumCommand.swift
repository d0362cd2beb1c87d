import ArgumentParser
import CommandSupport
import Datasets
import Figures
import IsometrySupport
import Foundation
import Networks
import Reports
import Spectrum
import TensorAlgebra

/// `swift run spectrum`: the Jacobian spectrum of a deep MLP beside its theory.
@main
struct SpectrumTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spectrum",
        abstract: "Eigenvalues of J Jᵀ of a deep MLP or CNN against the weight scale σ and input variance q0, measured and theoretical.",
        discussion: """
        Without a subcommand, spectrum runs analyze with the flags given. The common ones \
        (`spectrum help analyze` lists all, `spectrum help sweep` the sweep's):
          --sigma S, --q0 Q            W = σI, inputs u ~ N(0, q0) (defaults 1, 0.5)
          --layers L, --width N        depth and width (defaults 20, 794)
          --activation A               hard-tanh (default), relu, tanh, erf, linear
          --init, --initialization I   identity (default), gaussian, orthogonal, he
          --sigma-w S, --sigma-b S     scales of random weights and biases
          --samples K, --seed S        input samples (default 10), random seed
          --checkpoint FILE            a trained network or a PyTorch state dict
          --activations LIST           the state dict's activations (e.g. relu)
          --inputs test                the first test images as the inputs
          --architecture S --input-shape C,H,W   any layer stack, e.g. a CNN (docs/spectrum.md)
          --plot FILE.svg [--png]      the figure, and FILE-column.svg (one column)
          --csv FILE, --json           the eigenvalues as CSV; the report as JSON
        Examples: spectrum --sigma 1.0 --q0 0.5; spectrum --init orthogonal --activation relu \
        --sigma-w 1.41421356 --width 1000 --layers 8 --plot relu.svg; spectrum sweep.
        """,
        subcommands: [Analyze.self, Sweep.self, Merge.self],
        defaultSubcommand: Analyze.self)

    static func main() { mainWithOneLineErrors(name: "spectrum") }
}

extension InputDistribution: ExpressibleByArgument {}

/// `--method`: how the spectrum is measured.
enum SpectrumMethod: String, ExpressibleByArgument, CaseIterable {
    case auto, dense, lanczos

    /// Widths above which `auto` measures by Lanczos: the dense route's time grows as N³ and
    /// passes a minute per sample near here (docs/benchmarks.md, "Jacobian spectrum").
    static let automaticLanczosWidth = 4096
}

/// Where `--inputs` takes the inputs from: drawn (the theory's inputs) or the test images.
enum InputSource: String, ExpressibleByArgument, CaseIterable {
    case normal
    case test
}

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the spectrum for one (σ, q0) and compare it with theory (the default command).")

    @Option(help: "σ of identity weights W = σI (with --architecture: of dirac σ·δ and delta-orthogonal σ·H).") var sigma = 1.0
    @Option(help: "Input variance: u_i ~ N(0, q0).") var q0 = 0.5
    // Optional so that a given one can be refused with --architecture, which implies both.
    @Option(help: "Number of layers L (default: 20).") var layers: Int?
    @Option(help: "Width N of every layer (default: 794, 784 pixels + 10 classes).") var width: Int?
    // Optional so that "given" is the parser's answer, whatever the spelling (--activation=relu).
    @Option(help: "hard-tanh, relu, tanh, erf or linear (default: hard-tanh; with --weights or --checkpoint, the file's own).")
    var activation: Activation?
    @Option(help: ArgumentHelp("identity (default), gaussian, orthogonal or he; with --weights or --checkpoint, the initialisation whose theory is the reference; with --architecture dirac, delta-orthogonal, he, glorot or pytorch (default: pytorch).", valueName: "initialization"))
    var initialization: InitializationName?
    @Option(name: .customLong("sigma-w"), help: "σ_w of random weights (default: --sigma).") var sigmaW: Double?
    @Option(name: .customLong("sigma-b"), help: "σ_b of random biases.") var sigmaB = 0.0
    @Option(help: "normal (u ~ N(0, q0)) or fixed-point (default for random weights).") var input: InputDistribution?
    @Option(help: "Number of input samples.") var samples = 10
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Flag(help: "Random weights: keep one network for all samples instead of drawing a new one per sample.") var fixedWeights = false
    @Option(help: "A folder with W1.npy … WL.npy (and optional b1.npy …), or a .safetensors checkpoint from `train`.") var weights: String?
    @Option(help: "A checkpoint from `train`, a layer stack (.safetensors with its architecture), or a PyTorch state dict with --activations.") var checkpoint: String?
    @Option(help: "For a PyTorch state dict: its activations, one name for every dense layer but the last (relu, leaky-relu:0.01, tanh, …) or one per layer separated by commas.")
    var activations: String?
    @Option(help: "normal (default: drawn as --input says, for the theory) or test (the first --samples test images of --data, pixels / 255; no theory).")
    var inputs: InputSource = .normal
    @Option(help: "The IDX folder of --inputs test.") var data = ImageDataset.fashionMNISTFolder
    @Option(help: "float or double.") var precision: Precision = .double
    @Option(help: "OpenBLAS threads for the spectra (default: 1 below width \(JacobianSpectrumAnalyzer<Double>.singleThreadWidthLimit), OpenBLAS's own above).")
    var threads: Int?
    @Flag(help: "Print the whole report as JSON instead of text.") var json = false
    @Option(help: "Write the eigenvalues to this CSV file (sample, index, eigenvalue).") var csv: String?
    @Option(help: "Write a histogram with the theory over it to this SVG file (6.75 in wide, both columns of a paper), and beside it FILE-column.svg (3.25 in, one column).")
    var plot: String?
    @Flag(help: "With --plot, also write each figure as PNG at 300 dpi beside its SVG (needs rsvg-convert: apt-get install librsvg2-bin).") var png = false

    @Option(help: "dense (J formed, an SVD: exact), lanczos (stochastic Lanczos quadrature, matrix-free: past the dense limit) or auto (default: dense where it fits, lanczos for random weights above width \(SpectrumMethod.automaticLanczosWidth) or beyond memory).")
    var method: SpectrumMethod = .auto
    @Option(help: "Lanczos steps per probe (--method lanczos).") var steps = 40
    @Option(help: "Lanczos probe vectors (--method lanczos).") var probes = 16
    @Option(help: "Also measure the same random network family at this width (method auto: dense where it fits, --samples and --seed as given) and print both widths' distances from the law (W1/m1, KS).")
    var compareWidth: Int?
    @Option(help: "With --compare-width: write both widths' CDFs against the law to this SVG file, and beside it FILE-column.svg.")
    var widthPlot: String?

    @Option(name: .customLong("init"), help: "Short for --initialization.") var initShort: InitializationName?
    @OptionGroup var stackOptions: StackOptions

    func validate() throws {
        try validateInitializationName()
        try requirePositive(sigma, "--sigma")
        try requirePositive(q0, "--q0")
        if let sigmaW { try requirePositive(sigmaW, "--sigma-w") }
        try requireFinite(sigmaB, "--sigma-b")
        if let layers, !(1 ... 100_000).contains(layers) { throw ValidationError("--layers must be between 1 and 100000, got \(layers)") }
        if let width, !(1 ... 1_000_000).contains(width) { throw ValidationError("--width must be between 1 and 1000000, got \(width)") }
        guard (1 ... 1_000_000).contains(samples) else { throw ValidationError("--samples must be between 1 and 1000000, got \(samples)") }
        if let threads, !(1 ... 1024).contains(threads) { throw ValidationError("--threads must be between 1 and 1024, got \(threads)") }
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1, got \(steps)") }
        guard probes >= 1 else { throw ValidationError("--probes must be at least 1, got \(probes)") }
        if lanczosSettings != nil && weightsSource == nil && stackOptions.architecture == nil && steps > layerWidth {
            throw ValidationError("--steps \(steps) is more than the dimension of J Jᵀ, --width \(layerWidth)")
        }
        if weightsSource == nil && stackOptions.architecture == nil {
            let c = configuration
            try checkMemory(c.estimatedBytes,
                            what: "--width \(layerWidth) with --layers \(layerCount)\(c.lanczos == nil ? "" : " (method lanczos)")")
        }
        try validateArchitectureFlags()
        if let activations {
            guard weightsSource?.hasSuffix(".safetensors") == true else {
                throw ValidationError("--activations names the activations of a PyTorch state dict: give it with --checkpoint FILE.safetensors")
            }
            for name in activations.split(separator: ",", omittingEmptySubsequences: false) where Nonlinearity(name: String(name)) == nil {
                throw ValidationError("--activations: unknown activation '\(quotedValue(String(name)))' (expected relu, leaky-relu, leaky-relu:SLOPE, hard-tanh, tanh, erf or identity)")
            }
        }
        if inputs == .test && input == .fixedPoint {
            throw ValidationError("--inputs test takes the test images as they are: drop --input fixed-point")
        }
        if let compareWidth {
            guard (1 ... 1_000_000).contains(compareWidth) else {
                throw ValidationError("--compare-width must be between 1 and 1000000, got \(compareWidth)")
            }
            guard weightsSource == nil && stackOptions.architecture == nil && chosenInitialization.isRandom else {
                throw ValidationError("--compare-width compares a random network family (--init gaussian, orthogonal or he) across widths, not given weights or an architecture")
            }
            if json { throw ValidationError("--compare-width prints its distances as text: drop --json") }
            var other = self
            other.width = compareWidth
            if other.lanczosSettings != nil && steps > compareWidth {
                throw ValidationError("--steps \(steps) is more than the dimension of J Jᵀ at the second width, --compare-width \(compareWidth)")
            }
            try checkMemory(other.configuration.estimatedBytes, what: "--compare-width \(compareWidth) with --layers \(layerCount)")
        }
        if widthPlot != nil && compareWidth == nil { throw ValidationError("--width-plot needs --compare-width N: the figure compares two widths") }
        if png && plot == nil { throw ValidationError("--png needs --plot FILE.svg: the PNG is written beside that SVG") }
        if png && FigureExport.rasteriser() == nil { throw ValidationError("--png: \(FigureExportError.rasteriserMissing.description)") }
        // Every destination refused here, before the spectra are computed.
        for (flag, path) in [("--csv", csv), ("--plot", plot), ("--plot", plot.map { FigureWidth.singleColumn.fileName($0) }),
                             ("--width-plot", widthPlot), ("--width-plot", widthPlot.map { FigureWidth.singleColumn.fileName($0) })] {
            if let path { try checkWritable(path, flag: flag) }
        }
        for plot in plotFiles where png { try checkWritable(FigureExport.pngURL(besides: URL(fileURLWithPath: plot.path)).path, flag: "--png") }
    }

    var weightsSource: String? { checkpoint ?? weights }

    /// The figures --plot writes: the double-column one at its path, the single-column one beside it.
    var plotFiles: [(path: String, width: FigureWidth)] {
        guard let plot else { return [] }
        return [(plot, .doubleColumn), (FigureWidth.singleColumn.fileName(plot), .singleColumn)]
    }

    /// --init or --initialization as given.
    var initializationFlag: InitializationName? { initShort ?? initialization }

    /// The MLP's initialisation: --init, or identity.
    var chosenInitialization: Initialization { initializationFlag?.perceptron ?? .identity }

    var layerCount: Int { layers ?? 20 }
    var layerWidth: Int { width ?? 794 }

    /// The measurement the flags ask for. Weights from a file are loaded once, by the
    /// experiment, which takes the depth, width and (unless --activation is given) the
    /// activation from them and sizes the measurement before any work.
    var configuration: SpectrumConfiguration {
        SpectrumConfiguration(
            activation: activation ?? .hardTanh, initialization: chosenInitialization, width: layerWidth, layers: layerCount,
            sigma: sigma, q0: q0, sigmaW: sigmaW ?? sigma, sigmaB: sigmaB, samples: samples, seed: seed,
            input: inputs == .test ? .normal : input ?? (chosenInitialization.isRandom && stackOptions.architecture == nil ? .fixedPoint : .normal),
            precision: precision,
            weightsPath: weightsSource, redrawWeights: !fixedWeights, threads: threads, activationFromFile: activation == nil,
            stackActivations: activations, testImagesFolder: inputs == .test ? data : nil,
            architecture: stackOptions.architecture, inputShape: stackOptions.parsedInputShape,
            stackInitialization: stackOptions.architecture == nil ? nil : initializationFlag?.stack ?? .pytorch,
            lanczos: lanczosSettings)
    }

    /// The Lanczos settings when the spectrum is measured by SLQ: --method lanczos, or auto for
    /// a drawn MLP wider than the dense limit or whose dense measurement does not fit in memory.
    var lanczosSettings: LanczosSettings? {
        let settings = LanczosSettings(steps: steps, probes: probes)
        switch method {
        case .dense: return nil
        case .lanczos: return settings
        case .auto:
            // Identity weights keep the diagonal route: O(N·L), exact, at any width.
            guard weightsSource == nil && stackOptions.architecture == nil && chosenInitialization != .identity else { return nil }
            let dense = SpectrumConfiguration.estimatedBytes(width: layerWidth, layers: layerCount, samples: samples,
                                                             initialization: chosenInitialization, precision: precision)
            return layerWidth > SpectrumMethod.automaticLanczosWidth || !MemoryBudget.allows(dense) ? settings : nil
        }
    }

    /// The flag the weights came from, for error messages.
    var weightsFlag: String { checkpoint != nil ? "--checkpoint" : "--weights" }

    /// The measurement the flags ask for, its errors as one-line messages.
    func measure() throws -> SpectrumReport {
        let configuration = configuration
        let bar = ProgressBar(label: "spectrum")
        let report: SpectrumReport
        do {
            // The command chooses the thread count by width (one thread below 400 units).
            report = try SpectrumExperiment.run(configuration, chooseThreads: true, progress: { bar.update($0, $1) })
        } catch {
            let source = weightsSource.map { _ in "\(weightsFlag): " } ?? ""
            switch error {
            case .singularValueDecomposition: throw UserError(message: error.description, isInternal: true)
            case .layerStackFile(let stackError) where stackError.problem == .missingArchitecture:
                throw UserError(message: "\(source)'\(quotedValue(stackError.path))': a PyTorch state dict without its architecture: "
                    + "give its activations with --activations (e.g. --activations relu: one after every dense layer but the last)")
            case .layerStackFile: throw UserError(message: "\(source)\(error.description)")
            case .dataset, .stackSamples: throw UserError(message: "--data: \(error.description)")
            case .architecture: throw UserError(message: "--architecture: \(error.description)")
            case .inputShape(let shape, let width) where inputs == .test && stackOptions.architecture != nil:
                throw UserError(message: "--inputs test: the images in \(data) have \(shape.reduce(1, *)) pixels (\(shape)), "
                    + "the stack on --input-shape \(stackOptions.inputShape ?? "") takes \(width) inputs")
            case .inputShape(let shape, let width) where inputs == .test:
                throw UserError(message: "--inputs test: the images in \(data) have \(shape.reduce(1, *)) pixels (\(shape)), "
                    + "the network in '\(quotedValue(weightsSource ?? ""))' takes \(width) inputs")
            case .invalidConfiguration(field: "samples", _, _) where inputs == .test:
                throw UserError(message: "--samples \(samples): \(error.description)")
            case .weightsFile, .nonFiniteWeights, .emptyLayer, .nonFinitePreActivation, .tooLarge:
                throw UserError(message: "\(weightsSource.map { _ in "\(weightsFlag): " } ?? "")\(error.description)")
            default: throw UserError(message: error.description)
            }
        }
        return report
    }

    func run() throws {
        let report = try measure()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.text)
        }
        if let csv {
            try writeAtomically(report.eigenvalueCSV, to: csv, flag: "--csv")
        }
        for plot in plotFiles {
            try writeAtomically(report.histogramFigure(width: plot.width).render(), to: plot.path, flag: "--plot")
            if png {
                let svg = URL(fileURLWithPath: plot.path)
                do { try FigureExport.png(fromSVGFile: svg, to: FigureExport.pngURL(besides: svg)) } catch {
                    throw UserError(message: "--png: \(error.description)")
                }
            }
        }
        if let compareWidth {
            var other = self
            other.width = compareWidth
            let second = try other.measure()
            print("\nat width \(compareWidth):\n\(second.text)")
            let reports = [report, second].sorted { $0.width < $1.width }
            print("\nagainst the law (\(report.law?.name ?? "none")), by width:")
            for r in reports { print("  " + r.widthLegend) }
            if let widthPlot {
                for (path, size) in [(widthPlot, FigureWidth.doubleColumn), (FigureWidth.singleColumn.fileName(widthPlot), .singleColumn)] {
                    try writeAtomically(SpectrumReport.widthComparisonFigure(reports, width: size).render(), to: path, flag: "--width-plot")
                }
            }
        }
    }
}
