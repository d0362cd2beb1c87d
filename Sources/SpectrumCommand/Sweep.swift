import ArgumentParser
import CommandSupport
import Foundation
import Networks
import Reports
import GridShards
import IsometrySupport
import Spectrum
import TensorAlgebra

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sweep identity-initialised networks over a grid of σ × q0 (CSV and SVG heat maps).",
        discussion: """
        Writes sweep.csv, the heat maps sweep.svg (6.75 in wide, both columns of a paper) and \
        sweep-column.svg (3.25 in, one column) in --output. Split a large sweep over machines \
        with --shard k/n (one job per k, e.g. a Slurm job array), then join the parts with \
        `spectrum merge`. See docs/sweeps.md.
        """)

    @Option(name: .customLong("sigma-min"), help: "Smallest σ.") var sigmaMin = 0.5
    @Option(name: .customLong("sigma-max"), help: "Largest σ.") var sigmaMax = 2.0
    @Option(name: .customLong("sigma-steps"), help: "σ values, evenly spaced.") var sigmaSteps = 31
    @Option(name: .customLong("q0-min"), help: "Smallest q0.") var q0Min = 0.05
    @Option(name: .customLong("q0-max"), help: "Largest q0.") var q0Max = 4.0
    @Option(name: .customLong("q0-steps"), help: "q0 values, evenly spaced on a log scale.") var q0Steps = 31
    @Option(help: "Number of layers L.") var layers = 20
    @Option(help: "Width N.") var width = 794
    @Option(help: "hard-tanh, relu, tanh, erf or linear.") var activation: Activation = .hardTanh
    @Option(help: "Input samples per grid point.") var samples = 10
    @Option(help: "Random seed (point i uses seed + i).") var seed: UInt64 = 0
    @Option(help: "float or double.") var precision: Precision = .double
    @OptionGroup(title: "Grid") var gridOptions: GridOptions
    @OptionGroup var outputOptions: OutputOptions<SweepOutputFolder>
    var output: String { outputOptions.output }

    func validate() throws {
        try requirePositive(sigmaMin, "--sigma-min")
        try requirePositive(sigmaMax, "--sigma-max")
        try requirePositive(q0Min, "--q0-min")
        try requirePositive(q0Max, "--q0-max")
        guard sigmaMin <= sigmaMax else { throw ValidationError("--sigma-min \(sigmaMin) is above --sigma-max \(sigmaMax)") }
        guard q0Min <= q0Max else { throw ValidationError("--q0-min \(q0Min) is above --q0-max \(q0Max)") }
        try requireRange(sigmaSteps, 1 ... SpectrumSweep.maximumSteps, "--sigma-steps")
        try requireRange(q0Steps, 1 ... SpectrumSweep.maximumSteps, "--q0-steps")
        let layerLimit = SpectrumSweep.maximumLayers(activation)
        guard (1 ... layerLimit).contains(layers) else {
            throw ValidationError("--layers must be between 1 and \(layerLimit)\(layerLimit < SpectrumSweep.maximumLayers ? " for \(activation.rawValue) (its theory costs time in proportion to L)" : ""), got \(layers)")
        }
        try requireRange(width, 1 ... SpectrumSweep.maximumWidth, "--width")
        try requireRange(samples, 1 ... SpectrumSweep.maximumSamples, "--samples")
        try checkMemory(SpectrumConfiguration.estimatedBytes(width: width, layers: layers, samples: samples, initialization: .identity, precision: precision),
                        what: "--width \(width)")
        _ = try gridOptions.part(pointCount: sigmaSteps * q0Steps)
    }

    func run() throws {
        let sweep = SpectrumSweep(
            sigma: sigmaMin ... sigmaMax, sigmaSteps: sigmaSteps, q0: q0Min ... q0Max, q0Steps: q0Steps,
            activation: activation, layers: layers, width: width, samples: samples, seed: seed, precision: precision)
        let part = try gridOptions.part()
        // The shards of one sweep write into one folder at the same time: they share the lock.
        let folder = try prepareOutputFolder(output, files: part.isWhole ? ["sweep.csv", "sweep.svg", "sweep-column.svg"]
            : [part.fileName(stem: "sweep", extension: "csv")], shared: !part.isWhole)
        // Every finished point is in the file at once: a killed run resumes where it stopped.
        let writer = try openGridOutput(format: SpectrumSweep.fileFormat, grid: sweep, shard: part, program: "spectrum",
                                        folder: folder, stem: "sweep", fresh: gridOptions.fresh)
        let indices = writer.pending(sweep.indices(part))
        let bar = ProgressBar(label: "sweep")
        let start = Date()
        for (done, index) in indices.enumerated() {
            let point: SpectrumSweep.Point
            do { point = try sweep.evaluate(index) } catch { throw UserError(message: "sweep: \(error.description)") }
            do { try writer.append(point) } catch { throw UserError(message: error.description) }
            bar.update(done + 1, indices.count)
        }
        let seconds = Date().timeIntervalSince(start)
        let points = writer.rows
        let resumed = writer.resumedCount > 0 ? " (\(writer.resumedCount) already done)" : ""
        if part.isWhole {
            let csv = writer.url.path
            let svg = folder.appendingPathComponent("sweep.svg").path
            try writeAtomically(sweep.heatMap(points).render(), to: svg, flag: "sweep")
            try writeAtomically(sweep.heatMap(points, width: .singleColumn).render(), to: folder.appendingPathComponent("sweep-column.svg").path, flag: "sweep")
            print("swept \(points.count) points\(resumed) in \(String(format: "%.1f", seconds)) s: \(csv), \(svg)")
        } else {
            print("swept \(points.count) of \(sweep.pointCount) points\(resumed) (shard \(part)) in \(String(format: "%.1f", seconds)) s: \(writer.url.path)")
        }
    }
}

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Join the shards of a sweep into sweep.csv and the heat maps sweep.svg and sweep-column.svg.")

    @Argument(help: "The shard files (sweep-part-k-of-n.csv).") var parts: [String]
    @OptionGroup var outputOptions: OutputOptions<SweepOutputFolder>
    var output: String { outputOptions.output }

    func validate() throws {
        if parts.isEmpty { throw ValidationError("merge needs the shard files, e.g. out/sweep/sweep-part-*.csv") }
    }

    func run() throws {
        let sweep: SpectrumSweep, points: [SpectrumSweep.Point]
        do { (sweep, points) = try SpectrumSweep.merge(try readGridFiles(parts)) } catch let error as SpectrumError {
            throw UserError(message: "merge: \(error.description)")
        }
        let folder = try prepareOutputFolder(output, files: ["sweep.csv", "sweep.svg", "sweep-column.svg"])
        let csv = folder.appendingPathComponent("sweep.csv").path
        let svg = folder.appendingPathComponent("sweep.svg").path
        let staging: OutputStaging
        do {
            staging = try OutputStaging(into: folder)
            try staging.write(sweep.csv(points), to: "sweep.csv")
            try staging.write(sweep.heatMap(points).render(), to: "sweep.svg")
            try staging.write(sweep.heatMap(points, width: .singleColumn).render(), to: "sweep-column.svg")
        } catch { throw UserError(message: "merge: \(error.description)") }
        try commit(staging, flag: "merge")
        print("merged \(parts.count) shards, \(points.count) points: \(csv), \(svg)")
    }
}
