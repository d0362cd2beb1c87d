import ArgumentParser
import CommandSupport
import Datasets
import Figures
import Foundation
import GridShards
import IsometrySupport
import Networks
import Reports
import Study
import TensorAlgebra
import Training
import FileFormats

/// A study trains every point briefly: one epoch on 10,000 images unless the flags say otherwise.
enum StudyDefaults: TrainingFlagDefaults {
    static let training = TrainingConfiguration(epochs: 1, trainLimit: 10_000)
    static let resumes = false
}

/// `swift run study`: trainability against depth, a grid of trainings beside the spectrum theory.
@main
struct StudyTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study",
        abstract: "Train a grid of MLPs or CNNs over depth × initialisation × seed and compare with the spectrum theory (CSV, JSON, SVG).",
        discussion: """
        Each point trains one network as `train` would with the same flags and records test accuracy and loss per epoch, \
        per-layer readout accuracy, distance from identity, wall time, divergence, the theory (identity law, mean-field χ) \
        and the spectrum of J Jᵀ at initialisation. Split a study over machines with --shard k/n and join the parts with \
        `study merge`; a re-run resumes, never recomputing a finished point. See docs/study.md.
        """,
        subcommands: [Run.self, Merge.self],
        defaultSubcommand: Run.self)

    static func main() { mainWithOneLineErrors(name: "study") }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the study, or part k of n of it (the default command).")

    @Option(help: "MNIST-format folder (train-images-idx3-ubyte.gz, …); with --network cnn also x_train.npy, y_train.npy, x_test.npy, y_test.npy (MNIST-1D).")
    var data = ImageDataset.fashionMNISTFolder
    @Option(help: "mlp (the identity classifier, width = pixels + classes) or cnn (L convolutions, then a head; --channels, --kernel, --head).")
    var network: StudyNetworkKind = .mlp
    @Option(help: "CNN: channels of every convolution.") var channels: Int?
    @Option(help: "CNN: kernel size (odd; stride 1, zero padding keeping the size).") var kernel: Int?
    @Option(help: "CNN: flatten or gap (global average pool) before the dense layer to the classes.") var head: ConvolutionalNetwork.Head?
    @Option(parsing: .upToNextOption, help: "Depths L (a CNN's: its convolutions).") var layers: [Int] = [2, 5, 10, 20, 50, 100]
    @Option(parsing: .upToNextOption, help: "σ of identity initialisation (W = σI; a CNN's Dirac kernels σ·δ), one line each.") var sigma: [Double] = [1]
    @Option(name: .customLong("init"), parsing: .upToNextOption,
            help: "Initialisations: identity (at each --sigma), orthogonal (at --orthogonal-sigma), gaussian (at the mean-field critical σ_w), he; a CNN takes dirac (= identity), delta-orthogonal (= orthogonal) and he (default: all three).")
    var initializationFlags: [StudyInitializationFlag] = []
    @Option(name: .customLong("orthogonal-sigma"), help: "σ_w of orthogonal initialisation (a CNN's delta-orthogonal σ_w·H).") var orthogonalSigma = 1.0
    @Option(help: "Seeds per point: --seed, --seed + 1, ….") var seeds = 1
    @Option(help: "First seed (network draw and shuffles, as `train --seed`).") var seed: UInt64 = 0
    @Option(help: "hard-tanh, relu or tanh.") var activation: Activation = .hardTanh
    @Option(name: .customLong("spectrum-inputs"), help: "Training images on which J Jᵀ is measured at initialisation.") var spectrumInputs = 2
    @OptionGroup(title: "Run settings (as `train`'s)") var settings: TrainingOptions<StudyDefaults>
    @OptionGroup(title: "Grid") var gridOptions: GridOptions
    @OptionGroup var outputOptions: OutputOptions<StudyOutputFolder>
    var output: String { outputOptions.output }

    func validate() throws {
        guard !layers.isEmpty else { throw ValidationError("--layers needs at least one depth") }
        for l in layers { try requireRange(l, 1 ... StudyGrid.maximumDepth, "--layers") }
        for s in sigma { try requirePositive(s, "--sigma") }
        try requirePositive(orthogonalSigma, "--orthogonal-sigma")
        try requireRange(seeds, 1 ... 10_000, "--seeds")
        try requireRange(spectrumInputs, 0 ... 1000, "--spectrum-inputs")
        try requireTrainableActivation(activation)
        if let repeated = duplicate(layers) { throw ValidationError("--layers lists \(repeated) twice") }
        if let repeated = duplicate(sigma) { throw ValidationError("--sigma lists \(repeated) twice") }
        if network == .mlp {
            for (flag, given) in [("--channels", channels != nil), ("--kernel", kernel != nil), ("--head", head != nil)] where given {
                throw ValidationError("\(flag) applies to --network cnn only")
            }
            if let flag = initializationFlags.first(where: \.isConvolutionalName) {
                throw ValidationError("--init \(flag.text) needs --network cnn (the MLP's are identity, orthogonal, gaussian and he)")
            }
        } else {
            if let channels { try requireRange(channels, 1 ... 4096, "--channels") }
            if let kernel {
                try requireRange(kernel, 1 ... 99, "--kernel")
                if kernel % 2 == 0 { throw ValidationError("--kernel must be odd (Dirac and delta-orthogonal kernels need a centre tap), got \(kernel)") }
            }
            if initializations.contains(.gaussian) {
                throw ValidationError("--init gaussian does not apply with --network cnn: use dirac, delta-orthogonal or he")
            }
        }
        if let repeated = duplicate(initializations) {
            throw ValidationError("--init lists \(network == .cnn ? ConvolutionalNetwork.stackInitialization(repeated)!.rawValue : repeated.rawValue) twice")
        }
        _ = try gridOptions.part(pointCount: grid.pointCount)
    }

    /// The grid's initialisations: --init, or every one the network takes.
    var initializations: [Initialization] {
        if initializationFlags.isEmpty { return network == .cnn ? [.identity, .orthogonal, .he] : [.identity, .orthogonal, .gaussian, .he] }
        return initializationFlags.map(\.initialization)
    }

    /// The CNN of --network cnn.
    var convolution: ConvolutionalNetwork? {
        guard network == .cnn else { return nil }
        let defaults = ConvolutionalNetwork()
        return ConvolutionalNetwork(channels: channels ?? defaults.channels, kernel: kernel ?? defaults.kernel, head: head ?? defaults.head)
    }

    /// The grid's run settings: the points' seeds are the grid's, and the threads stay out of
    /// the grid so that its shards merge — though a point's last bits do depend on them
    /// (docs/study.md, "Shards, resume and merge": give every shard the same --threads).
    var trainingSettings: TrainingConfiguration {
        var c = settings.configuration(seed: 0)
        c.threads = nil
        return c
    }

    var grid: StudyGrid {
        StudyGrid(
            depths: layers, sigmas: sigma, initializations: initializations, seeds: (0 ..< UInt64(seeds)).map { seed &+ $0 },
            activation: activation, orthogonalSigma: orthogonalSigma,
            training: trainingSettings,
            precision: settings.precision, spectrumInputs: spectrumInputs, convolution: convolution)
    }

    func run() throws {
        let part = try gridOptions.part()
        let threads = settings.threads
        let study: any StudyRunning
        do {
            if network == .cnn {
                // MNIST's IDX files or .npy arrays (MNIST-1D from Scripts/make_mnist1d.py), as train reads them.
                let splits: DatasetSplits
                do { splits = try DatasetSplits(folder: data) } catch { throw UserError(message: "--data: \(error.description)") }
                study = try ConvolutionalStudy(grid: grid, train: splits.train, test: splits.test, threads: threads)
            } else {
                let dataset: ImageDataset
                do { dataset = try ImageDataset(folder: data) } catch let error as IDXError {
                    throw UserError(message: "--data: \(error.description)")
                }
                study = try Study(grid: grid, data: dataset, threads: threads)
            }
        } catch let error as StudyError {
            switch error {
            case .training(.batchSizeOutOfRange(let batch, let images)):
                throw UserError(message: "--batch \(batch) is larger than the \(images) training \(network == .cnn ? "samples" : "images")")
            default: throw UserError(message: error.description)
            }
        }
        let grid = study.grid
        // The shards of one study write into one folder at the same time: they share the lock.
        let folder = try prepareOutputFolder(output, files: part.isWhole ? StudyOutputs.files
            : [part.fileName(stem: "study", extension: "csv")], shared: !part.isWhole)
        let writer = try openGridOutput(format: StudyGrid.fileFormat, grid: grid, shard: part, program: "study",
                                        folder: folder, stem: "study", fresh: gridOptions.fresh)
        let all = grid.indices(part)
        let pending = writer.pending(all)
        let log = StandardError()
        log.line("study: \(all.count) point\(all.count == 1 ? "" : "s")\(part.isWhole ? "" : " (shard \(part) of \(grid.pointCount))"): "
            + (network == .cnn ? "CNN \(study.networkDescription); " : "")
            + "L ∈ {\(grid.depths.map(String.init).joined(separator: ", "))} × \(grid.arms.map(grid.label).joined(separator: ", ")) × \(grid.seeds.count) seed\(grid.seeds.count == 1 ? "" : "s"); "
            + "\(grid.data!.trainImages) \(network == .cnn ? "samples" : "images"), \(grid.training.epochs) epoch\(grid.training.epochs == 1 ? "" : "s"), q0 = \(String(format: "%.4f", grid.data!.q0)), OpenBLAS × \(threads ?? OpenBLAS.threads)"
            + (writer.resumedCount > 0 ? "; resuming: \(writer.resumedCount) already done in \(writer.url.path)" : ""))
        var done: [(depth: Int, seconds: Double)] = []
        let start = Date()
        let bar = ProgressBar(label: "  training")
        for (number, index) in pending.enumerated() {
            let point = grid.point(index)
            let label = "[\(all.count - pending.count + number + 1)/\(all.count)] L = \(point.depth), \(grid.label(point.arm)), seed \(point.seed)"
            let result: StudyResult
            do {
                result = try study.run(index) { event in
                    if event.stepInEpoch % 5 == 0 || event.stepInEpoch == event.stepsPerEpoch {
                        bar.update(event.stepInEpoch, event.stepsPerEpoch, detail: String(
                            format: "%@ · epoch %d  loss %.4f", label, event.epoch + 1, event.loss))
                    }
                }
            } catch {
                bar.finish()
                throw UserError(message: "point \(index) (L = \(point.depth), \(grid.label(point.arm)), seed \(point.seed)): \(error.description)")
            }
            bar.finish()
            do { try writer.append(result) } catch { throw UserError(message: error.description) }
            done.append((point.depth, result.seconds))
            let elapsed = Date().timeIntervalSince(start)
            // The points' own seconds leave out writing the outputs between them: scale by it.
            let overhead = elapsed / max(done.map(\.seconds).reduce(0, +), 1e-9)
            let eta = Study.estimatedSecondsLeft(
                pendingDepths: pending[(number + 1)...].map { grid.point($0).depth }, done: done)
                .map { "ETA \(durationText(overhead * $0))" } ?? "ETA after a second depth"
            let outcome = result.diverged ? "diverged (\(result.divergedAt ?? "NaN loss"))"
                : String(format: "test accuracy %.2f %%", (result.testAccuracy ?? .nan) * 100)
            log.line("study \(label): \(outcome) in \(durationText(result.seconds)) · elapsed \(durationText(elapsed)) · \(eta)")
            if part.isWhole { try writeOutputs(grid: grid, results: writer.rows, folder: folder, flag: "study") }
        }
        let results = writer.rows
        if part.isWhole {
            try writeOutputs(grid: grid, results: results, folder: folder, flag: "study")
            print(grid.summary(results))
            print("wrote \(folder.path)/{\(StudyOutputs.files.joined(separator: ", "))} (\(results.count) points, \(durationText(Date().timeIntervalSince(start))) this run)")
        } else {
            print("computed \(results.count) of \(all.count) points of shard \(part) (\(grid.pointCount) in the grid): \(writer.url.path)")
            print("join the shards with: study merge \(shellQuoted(folder.path))/study-part-*-of-\(part.n).csv --output \(shellQuoted(folder.path))")
        }
    }
}

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Join the shards of a study into study.csv, study.json and the figures study.svg and study-column.svg.")

    @Argument(help: "The shard files (study-part-k-of-n.csv).") var parts: [String] = []
    @OptionGroup var outputOptions: OutputOptions<StudyOutputFolder>
    var output: String { outputOptions.output }

    func validate() throws {
        if parts.isEmpty { throw ValidationError("merge needs the shard files, e.g. out/study/study-part-*.csv") }
    }

    func run() throws {
        let grid: StudyGrid, results: [StudyResult]
        do { (grid, results) = try StudyGrid.fileFormat.merge(try readGridFiles(parts)) } catch let error as GridShardError {
            throw UserError(message: "merge: \(error.description)")
        }
        let folder = try prepareOutputFolder(output, files: StudyOutputs.files)
        try writeOutputs(grid: grid, results: results, folder: folder, flag: "merge")
        print(grid.summary(results))
        print("merged \(parts.count) shards, \(results.count) points: \(folder.path)/{\(StudyOutputs.files.joined(separator: ", "))}")
    }
}

extension StudyGrid {
    func indices(_ shard: Shard) -> [Int] { shard.indices(pointCount: pointCount) }
}

/// What a whole study or a merge writes: the numbers, and the figure at both printed widths
/// (study.svg 6.75 in across both columns of a paper, study-column.svg 3.25 in, one column).
enum StudyOutputs {
    static let figureWidths: [FigureWidth] = [.doubleColumn, .singleColumn]
    static let files = ["study.csv", "study.json"] + figureWidths.map { $0.fileName("study.svg") }
}

/// study.csv, study.json and the figures, staged and moved into place together: they always
/// describe the same points.
func writeOutputs(grid: StudyGrid, results: [StudyResult], folder: URL, flag: String) throws {
    let staging: OutputStaging
    do {
        staging = try OutputStaging(into: folder)
        try staging.write(grid.csv(results), to: "study.csv")
        try AtomicFile.write(try grid.json(results), to: try staging.url("study.json"))
        for width in StudyOutputs.figureWidths {
            try staging.write(grid.figure(results, width: width).render(), to: width.fileName("study.svg"))
        }
    } catch let error as FileWriteError {
        throw UserError(message: "\(flag): \(error.description)")
    }
    try commit(staging, flag: flag)
}

func duplicate<T: Hashable>(_ values: [T]) -> T? {
    var seen = Set<T>()
    for v in values { if !seen.insert(v).inserted { return v } }
    return nil
}

/// Progress lines on standard error, always (not only on a terminal: a job log keeps them).
struct StandardError {
    func line(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}


/// `--network`: which network a study trains.
enum StudyNetworkKind: String, ExpressibleByArgument, CaseIterable {
    case mlp, cnn
}

extension ConvolutionalNetwork.Head: ExpressibleByArgument {}

/// `--init` as given: an ``Initialization``'s name, or for a CNN the name of its kernels'
/// counterpart (dirac for identity, delta-orthogonal for orthogonal).
struct StudyInitializationFlag: ExpressibleByArgument {
    let text: String
    let initialization: Initialization

    init?(argument: String) {
        text = argument
        switch argument {
        case "dirac": initialization = .identity
        case "delta-orthogonal": initialization = .orthogonal
        default:
            guard let named = Initialization(rawValue: argument) else { return nil }
            initialization = named
        }
    }

    var isConvolutionalName: Bool { text == "dirac" || text == "delta-orthogonal" }

    static var allValueStrings: [String] { Initialization.allCases.map(\.rawValue) + ["dirac", "delta-orthogonal"] }
}

/// What `study` needs of an MLP or a CNN study.
protocol StudyRunning {
    var grid: StudyGrid { get }
    func run(_ index: Int, onStep: ((StepEvent) -> Void)?) throws(StudyError) -> StudyResult
}

extension Study: StudyRunning {}
extension ConvolutionalStudy: StudyRunning {}

extension StudyRunning {
    /// A CNN study's network, for the first progress line.
    var networkDescription: String {
        guard let study = self as? ConvolutionalStudy else { return "" }
        let n = study.network
        return "conv\(n.channels)k\(n.kernel)p\(n.kernel / 2),\(study.grid.activation.rawValue) × L, \(n.head.rawValue), dense on \(study.inputShape)"
    }
}
