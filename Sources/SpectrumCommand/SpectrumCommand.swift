import ArgumentParser
import Foundation
import Networks
import Spectrum
import TensorAlgebra

#if canImport(Glibc)
import Glibc
#endif

/// `swift run spectrum`: the Jacobian spectrum of a deep MLP beside its theory.
@main
struct SpectrumTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spectrum",
        abstract: "Eigenvalues of J Jᵀ of a deep MLP against the weight scale σ and input variance q0, measured and theoretical.",
        subcommands: [Analyze.self, Sweep.self, Merge.self],
        defaultSubcommand: Analyze.self)

    /// Bad input is a one-line message and exit code 2; --help stays as ArgumentParser prints it.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            let message = (error as? UserError)?.message ?? message(for: error)
            let oneLine = message.split(separator: "\n").first.map(String.init) ?? message
            FileHandle.standardError.write(Data("spectrum: error: \(oneLine)\n".utf8))
            Foundation.exit((error as? UserError)?.isInternal == true ? 1 : 2)
        }
    }
}

/// An error worth one line to the user.
struct UserError: Error {
    let message: String
    var isInternal = false
}

extension Activation: ExpressibleByArgument {}
extension WeightInitialization: ExpressibleByArgument {}
extension InputDistribution: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}

func requirePositive(_ value: Double, _ flag: String) throws {
    guard value.isFinite, value > 0 else {
        throw ValidationError("\(flag) must be a positive finite number, got \(value)")
    }
}

func requireFinite(_ value: Double, _ flag: String, minimum: Double = 0) throws {
    guard value.isFinite, value >= minimum else {
        throw ValidationError("\(flag) must be a finite number ≥ \(minimum), got \(value)")
    }
}

/// Bytes the analysis will hold: L weight matrices (shared for identity), three N×N
/// buffers, and the eigenvalues.
func estimatedBytes(width: Int, layers: Int, samples: Int, initialization: WeightInitialization, precision: Precision) -> Double {
    let element = precision == .float ? 4.0 : 8.0
    let n = Double(width)
    let matrices = initialization == .identity ? 1 : Double(layers)
    return (matrices + 3) * n * n * element + Double(samples) * n * 8 * 2
}

func checkMemory(_ bytes: Double, what: String) throws {
    let available = Double(ProcessInfo.processInfo.physicalMemory)
    if bytes > 0.8 * available {
        throw ValidationError(String(format: "%@ needs about %.1f GiB but this machine has %.1f GiB", what, bytes / 1_073_741_824, available / 1_073_741_824))
    }
}

/// Writes text atomically, turning failures into one-line user errors.
func writeAtomically(_ text: String, to path: String, flag: String) throws {
    do {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        throw UserError(message: "\(flag): cannot write \(path): \((error as NSError).localizedDescription)")
    }
}

/// A progress bar on standard error, only when it is a terminal.
struct ProgressBar {
    let label: String
    let enabled = isatty(2) != 0
    func update(_ done: Int, _ total: Int) {
        guard enabled, total > 0 else { return }
        let width = 30
        let filled = width * done / total
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) \(bar) \(done)/\(total)".utf8))
        if done == total { FileHandle.standardError.write(Data("\r\(String(repeating: " ", count: width + label.count + 20))\r".utf8)) }
    }
}

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the spectrum for one (σ, q0) and compare it with theory (the default command).")

    @Option(help: "σ of identity weights W = σI.") var sigma = 1.0
    @Option(help: "Input variance: u_i ~ N(0, q0).") var q0 = 0.5
    @Option(help: "Number of layers L.") var layers = 20
    @Option(help: "Width N of every layer (784 pixels + 10 classes by default).") var width = 794
    @Option(help: "hard-tanh, relu, tanh, erf or linear.") var activation: Activation = .hardTanh
    @Option(help: "identity, gaussian, orthogonal (or file, implied by --weights).") var initialization: WeightInitialization = .identity
    @Option(name: .customLong("sigma-w"), help: "σ_w of random weights (default: --sigma).") var sigmaW: Double?
    @Option(name: .customLong("sigma-b"), help: "σ_b of random biases.") var sigmaB = 0.0
    @Option(help: "normal (u ~ N(0, q0)) or fixed-point (default for random weights).") var input: InputDistribution?
    @Option(help: "Number of input samples.") var samples = 10
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Flag(help: "Random weights: keep one network for all samples instead of drawing a new one per sample.") var fixedWeights = false
    @Option(help: "A folder with W1.npy … WL.npy (and optional b1.npy …) to analyse.") var weights: String?
    @Option(help: "float or double.") var precision: Precision = .double
    @Flag(help: "Print the whole report as JSON instead of text.") var json = false
    @Option(help: "Write the eigenvalues to this CSV file (sample, index, eigenvalue).") var csv: String?
    @Option(help: "Write a histogram with the theory over it to this SVG file.") var plot: String?

    // Accept --init as the short spelling of --initialization.
    @Option(name: .customLong("init"), help: .hidden) var initShort: WeightInitialization?

    func validate() throws {
        try requirePositive(sigma, "--sigma")
        try requirePositive(q0, "--q0")
        if let sigmaW { try requirePositive(sigmaW, "--sigma-w") }
        try requireFinite(sigmaB, "--sigma-b")
        guard (1 ... 100_000).contains(layers) else { throw ValidationError("--layers must be between 1 and 100000, got \(layers)") }
        guard (1 ... 1_000_000).contains(width) else { throw ValidationError("--width must be between 1 and 1000000, got \(width)") }
        guard (1 ... 1_000_000).contains(samples) else { throw ValidationError("--samples must be between 1 and 1000000, got \(samples)") }
        if weights == nil {
            try checkMemory(estimatedBytes(width: width, layers: layers, samples: samples, initialization: chosenInitialization, precision: precision),
                            what: "--width \(width) with --layers \(layers)")
        }
        if chosenInitialization == .file && weights == nil {
            throw ValidationError("--init file needs --weights FOLDER")
        }
        for (flag, path) in [("--csv", csv), ("--plot", plot)] {
            if let path { try checkWritable(path, flag: flag) }
        }
    }

    var chosenInitialization: WeightInitialization {
        weights != nil ? .file : (initShort ?? initialization)
    }

    func makeConfiguration() throws -> SpectrumConfiguration {
        var c = SpectrumConfiguration()
        c.activation = activation
        c.initialization = chosenInitialization
        c.layers = layers
        c.width = width
        c.sigma = sigma
        c.q0 = q0
        c.sigmaW = sigmaW ?? sigma
        c.sigmaB = sigmaB
        c.samples = samples
        c.seed = seed
        c.precision = precision
        c.redrawWeights = !fixedWeights
        c.input = input ?? ([.gaussian, .orthogonal].contains(c.initialization) ? .fixedPoint : .normal)
        if let weights {
            c.weightsPath = weights
            // Shape comes from the files; read just the headers' worth by loading once.
            let network = try loadNetwork(weights)
            c.layers = network.layerCount
            c.width = network.inputWidth
        }
        return c
    }

    func loadNetwork(_ folder: String) throws -> MultilayerPerceptron<Double> {
        do {
            return try MultilayerPerceptron<Double>(numpyFolder: URL(fileURLWithPath: folder), activation: activation)
        } catch let error as NetworkFileError {
            throw UserError(message: "--weights: \(error.description)")
        } catch let error as NumpyFileError {
            throw UserError(message: "--weights: \(error.description)")
        }
    }

    func run() throws {
        let configuration = try makeConfiguration()
        let bar = ProgressBar(label: "spectrum")
        let report: SpectrumReport
        do {
            report = try SpectrumExperiment.run(configuration, progress: bar.update)
        } catch let error as LAPACKError {
            throw UserError(message: error.description, isInternal: true)
        } catch let error as NetworkFileError {
            throw UserError(message: "--weights: \(error.description)")
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.text)
        }
        if let csv {
            var text = "sample,index,eigenvalue\n"
            for (sample, values) in report.eigenvalues.enumerated() {
                for (index, value) in values.enumerated() { text += "\(sample),\(index),\(value)\n" }
            }
            try writeAtomically(text, to: csv, flag: "--csv")
        }
        if let plot {
            try writeAtomically(report.histogramFigure().render(), to: plot, flag: "--plot")
        }
    }
}

/// Refuses an output path whose folder does not exist or cannot be written, before any work.
func checkWritable(_ path: String, flag: String) throws {
    let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
        throw ValidationError("\(flag): folder \(folder) does not exist")
    }
    guard FileManager.default.isWritableFile(atPath: folder) else {
        throw ValidationError("\(flag): folder \(folder) is not writable")
    }
}
