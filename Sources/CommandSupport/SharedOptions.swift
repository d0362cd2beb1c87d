import ArgumentParser
import GridShards
import Networks
import TensorAlgebra
import Training

// The flags several commands share, declared once: the run settings of `train` and `study`,
// the grid options of `spectrum sweep` and `study`. Each group checks its own flags.

extension Activation: ExpressibleByArgument {}
extension Initialization: ExpressibleByArgument {}
extension LearningRateSchedule: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}

/// `adamw` trains layer stacks only (`train --widths`); the identity classifier's trainer has SGD and Adam.
package enum OptimizerName: String, ExpressibleByArgument, CaseIterable, Sendable { case sgd, adam, adamw }

/// What a command's run-setting flags default to (shown in `--help`), and whether the command
/// resumes from checkpoints (which changes what an absent flag means).
package protocol TrainingFlagDefaults {
    static var training: TrainingConfiguration { get }
    static var resumes: Bool { get }
    /// Whether the command trains layer stacks too (and so takes `--optimizer adamw`).
    static var trainsStacks: Bool { get }
}

extension TrainingFlagDefaults {
    package static var trainsStacks: Bool { false }
}

/// The run settings `train` and `study` share. Every flag is optional: a flag left out takes
/// the command's default for a new run, and on `train --resume` the checkpoint's value (one
/// that is given must agree with it, `Train.resumed`).
package struct TrainingOptions<Defaults: TrainingFlagDefaults>: ParsableArguments {
    package init() {}

    @Option(help: "Mini-batch size (default: \(Defaults.training.batchSize)).") package var batch: Int?
    @Option(help: "Epochs over the training set (default: \(Defaults.training.epochs))\(Defaults.resumes ? "; with --resume, may extend or shorten the run" : "").")
    package var epochs: Int?
    @Option(help: "Learning rate (default: \(Defaults.training.learningRate)).") package var lr: Double?
    @Option(help: "sgd or adam\(Defaults.trainsStacks ? " (adamw with --widths)" : "") (default: sgd).") package var optimizer: OptimizerName?
    @Option(help: "SGD momentum (default: 0.0).") package var momentum: Double?
    @Option(name: .customLong("weight-decay"), help: "L2 weight decay (default: 0.0).") package var weightDecay: Double?
    @Option(help: "Adam β1 (default: 0.9).") package var beta1: Double?
    @Option(help: "Adam β2 (default: 0.999).") package var beta2: Double?
    @Option(help: "constant or cosine (default: \(Defaults.training.schedule.rawValue)).") package var schedule: LearningRateSchedule?
    @Option(help: "float (default) or double.") package var precision: Precision = .float
    @Option(help: "Train on the first N training images only\(Defaults.training.trainLimit.map { " (default: \($0))" } ?? " (default: all of them)").")
    package var limit: Int?
    @Option(help: "OpenBLAS threads (default: every core)\(Defaults.resumes ? "; with --resume, the checkpoint's unless given" : "").")
    package var threads: Int?

    package func validate() throws {
        if let batch { try requireRange(batch, 1 ... 1_000_000, "--batch") }
        if let epochs { try requireRange(epochs, 1 ... 100_000, "--epochs") }
        if let lr { try requirePositive(lr, "--lr") }
        if optimizer == .adamw && !Defaults.trainsStacks { throw ValidationError("--optimizer must be sgd or adam, got adamw") }
        if let momentum, !(0 ..< 1).contains(momentum) { throw ValidationError("--momentum must be in [0, 1), got \(momentum)") }
        if let weightDecay { try requireFinite(weightDecay, "--weight-decay") }
        if let beta1, !(0 ..< 1).contains(beta1) { throw ValidationError("--beta1 must be in [0, 1), got \(beta1)") }
        if let beta2, !(0 ..< 1).contains(beta2) { throw ValidationError("--beta2 must be in [0, 1), got \(beta2)") }
        if let limit { try requireRange(limit, 1 ... 100_000_000, "--limit") }
        if let threads { try requireRange(threads, 1 ... 256, "--threads") }
        // The library's own check last: it refuses what no flag check above knows of.
        do { try configuration(seed: 0).validate() } catch { throw ValidationError(error.description) }
    }

    /// A new run's settings: the flags, the defaults for the rest (threads from the flag only).
    package func configuration(seed: UInt64) -> TrainingConfiguration {
        let d = Defaults.training
        return TrainingConfiguration(
            batchSize: batch ?? d.batchSize, epochs: epochs ?? d.epochs, learningRate: lr ?? d.learningRate, schedule: schedule ?? d.schedule,
            // adamw is refused above unless the command trains stacks, which build their own optimizer.
            optimizer: (optimizer ?? .sgd) == .sgd ? .sgd(momentum: momentum ?? 0, weightDecay: weightDecay ?? 0)
                : .adam(beta1: beta1 ?? 0.9, beta2: beta2 ?? 0.999, epsilon: 1e-8, weightDecay: weightDecay ?? 0),
            seed: seed, trainLimit: limit ?? d.trainLimit, threads: threads)
    }
}

/// The activations a classifier trains with (`erf` and `linear` are for spectra only).
package func requireTrainableActivation(_ activation: Activation) throws {
    if ![.hardTanh, .relu, .tanh].contains(activation) {
        throw ValidationError("--activation must be hard-tanh, relu or tanh, got \(activation.rawValue)")
    }
}

/// `--shard k/n` and `--fresh`, shared by the grid commands (`spectrum sweep`, `study`).
package struct GridOptions: ParsableArguments {
    package init() {}

    @Option(help: "Compute only part k of n of the grid, written as <name>-part-k-of-n.csv (a re-run resumes it).") package var shard: String?
    @Flag(help: "Start over instead of resuming the points already in the output file.") package var fresh = false

    /// The part to compute, checked against the grid's `pointCount` points.
    package func part(pointCount: Int? = nil) throws -> Shard { try parseShardOption(shard, pointCount: pointCount) }
}

/// The folder a command writes into by default.
package protocol OutputFolderDefault {
    static var folder: String { get }
}

/// `--output FOLDER`, shared by every command that writes a folder; each names its default.
/// The folder itself is checked where it is made (`prepareOutputFolder`: not empty, a folder
/// or creatable, writable, not locked by another run).
package struct OutputOptions<Default: OutputFolderDefault>: ParsableArguments {
    package init() {}

    @Option(help: ArgumentHelp("Output folder.", valueName: "folder")) package var output: String = Default.folder
}

package enum TrainOutputFolder: OutputFolderDefault { package static let folder = "out/train" }
package enum InterpretOutputFolder: OutputFolderDefault { package static let folder = "out/interpret" }
package enum SweepOutputFolder: OutputFolderDefault { package static let folder = "out/sweep" }
package enum StudyOutputFolder: OutputFolderDefault { package static let folder = "out/study" }
