import Datasets
import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// Attribution methods side by side: every ``AttributionMethod`` × every ``AttributionMetric``
/// over chosen test images, each cell the metric's mean with a 95 % confidence interval, the
/// methods ranked per metric (docs/interpretation.md, "Comparing attribution methods").
///
/// Each method's attributions of a batch are computed once and handed to every metric. The
/// images go through in batches of `batchSize`, so that a metric that perturbs every image many
/// times (a deletion curve) holds one batch's perturbations at a time; per-sample values and
/// curves are concatenated in image order, so the cells do not depend on the batch size.
///
/// ```swift
/// let comparison = try AttributionComparison(stack, data: test, images: Array(0 ..< 100),
///                                            methods: [Gradient(), GradientTimesInput()],
///                                            metrics: [CompletenessResidual()])
/// print(comparison.cell(method: "gradient", metric: "completeness-residual")!.mean)
/// ```
public struct AttributionComparison: Sendable, Codable, Equatable {
    /// Which output each image's attributions explain.
    public enum TargetChoice: String, Sendable, Codable, CaseIterable {
        /// The class the network predicts (the argmax of its score units), as Quantus and
        /// Captum tutorials explain.
        case prediction
        /// The image's label.
        case label
    }

    /// One method × metric cell of the table.
    public struct Cell: Sendable, Codable, Equatable {
        public var method: String
        public var metric: String
        public var higherIsBetter: Bool
        /// The mean of the metric's per-sample scores (``AttributionScores/mean``).
        public var mean: Double
        /// The standard error of that mean (``AttributionScores/standardError``).
        public var standardError: Double
        /// The 95 % confidence interval from the standard error: mean ± t·s.e., t Student's
        /// 0.975 quantile with n − 1 degrees of freedom (``AttributionComparison/studentQuantile(degreesOfFreedom:)``;
        /// close to the normal 1.96 for hundreds of images). With fewer than two samples it has no width.
        public var lower: Double
        public var upper: Double
        /// Samples the mean is over.
        public var count: Int
        /// 1 for the best method by this metric (largest mean when higher is better, smallest
        /// otherwise), ties sharing the better rank.
        public var rank: Int
        /// Seconds the metric took over all batches of this method.
        public var seconds: Double
    }

    /// The mean curve of one method under a metric that has curves (deletion, insertion): the
    /// per-step mean over the images.
    public struct MeanCurve: Sendable, Codable, Equatable {
        public var method: String
        public var metric: String
        public var values: [Double]
    }

    /// The 0.975 quantile of the standard normal.
    public static let normalQuantile = 1.959963984540054

    /// Student's t 0.975 quantile for `degreesOfFreedom` ≥ 1: the 95 % interval of a mean of
    /// n = ν + 1 samples is mean ± t·s.e. Exact values (scipy.stats.t.ppf) to ν = 30, then the
    /// Cornish–Fisher expansion in 1/ν about the normal quantile (Abramowitz & Stegun 26.7.5),
    /// within 1e-7 of scipy from ν = 31 on (tested).
    public static func studentQuantile(degreesOfFreedom ν: Int) -> Double {
        precondition(ν >= 1, "studentQuantile: degrees of freedom \(ν) < 1")
        let table = [
            12.706204736174694, 4.302652729749462, 3.1824463052837078, 2.7764451051977934, 2.5705818356363146,
            2.4469118511449786, 2.364624251592784, 2.306004135204166, 2.262157162798205, 2.228138851986274,
            2.200985160091639, 2.1788128296672284, 2.1603686564627913, 2.144786687917804, 2.131449545559776,
            2.1199052992212546, 2.1098155778333156, 2.1009220402410382, 2.0930240544083087, 2.085963447265864,
            2.0796138447276795, 2.0738730679040254, 2.0686576104190486, 2.0638985616280245, 2.0595385527532972,
            2.0555294386428735, 2.0518305164802846, 2.0484071417952454, 2.045229642132703, 2.0422724563012378,
        ]
        if ν <= table.count { return table[ν - 1] }
        let z = normalQuantile, n = Double(ν)
        let z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z, z9 = z7 * z * z
        return z + (z3 + z) / (4 * n) + (5 * z5 + 16 * z3 + 3 * z) / (96 * n * n)
            + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * n * n * n)
            + (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / (92160 * n * n * n * n)
    }

    /// Where the network came from (a path), as the report shows it.
    public var source: String
    /// The shape of one image, e.g. [28, 28].
    public var imageShape: [Int]
    /// The test images compared, by index in the split.
    public var images: [Int]
    public var labels: [Int]
    public var predictions: [Int]
    public var targetChoice: TargetChoice
    /// The explained class of each image (among ``LayerStack/scoreUnits``).
    public var targets: [Int]
    public var methods: [String]
    public var metrics: [String]
    /// methods.count × metrics.count cells, method-major.
    public var cells: [Cell]
    /// perSample[m][k][i]: metric k's score of method m's attributions of image i; NaN where
    /// the score is undefined for that image (a faithfulness correlation of a map that does not
    /// vary over the subsets, as scipy's `pearsonr`), left out of the cell's statistics and
    /// written as `null` in report.json.
    @UndefinedAsNull public var perSample: [[[Double]]]
    public var meanCurves: [MeanCurve]
    /// Seconds each method took to attribute all images.
    public var attributionSeconds: [Double]
    /// The first few images (pixels, as the network reads them) and every method's
    /// attributions of them: exampleMaps[m][e], of the input's shape flattened.
    public var exampleInputs: [[Double]]
    public var exampleMaps: [[[Double]]]

    /// The stages of `init`, for progress.
    public enum Stage: String, Sendable, CaseIterable {
        case predictions
        case attributions
        case metrics
    }

    /// Compares `methods` by `metrics` on the test images `images` of `data`: explaining the
    /// predicted class (or the label), `batchSize` images at a time, keeping the attributions of
    /// the first `examples` images for the report's figure. `progress` gets the stage and the
    /// (method, metric) steps done of all.
    ///
    /// Throws before any work when the stack cannot be read exactly or the data does not fit it
    /// (``LayerStack/check(data:samples:)``), and what a method or metric throws.
    public init<Scalar: BLASScalar>(
        _ stack: LayerStack<Scalar>, data: LabeledImages, images: [Int], methods: [any AttributionMethod<Scalar>],
        metrics: [any AttributionMetric<Scalar>], targets choice: TargetChoice = .prediction, examples: Int = 4,
        batchSize: Int = 250, source: String = "network",
        progress: (_ stage: Stage, _ done: Int, _ total: Int) -> Void = { _, _, _ in }
    ) throws(InterpretationError) {
        require(!methods.isEmpty && !metrics.isEmpty, "AttributionComparison: needs at least one method and one metric")
        require(batchSize >= 1, "AttributionComparison: batch size must be at least 1, got \(batchSize)")
        require(!images.isEmpty, "AttributionComparison: no images to compare")
        try stack.check(data: data, samples: images)
        self.source = source
        imageShape = data.imageShape
        self.images = images
        labels = images.map { data.labels[$0] }
        targetChoice = choice
        self.methods = methods.map(\.name)
        self.metrics = metrics.map(\.name)

        progress(.predictions, 0, 1)
        let units = stack.scoreUnits, outputs = stack.outputShape.reduce(1, *)
        var predictions: [Int] = []
        predictions.reserveCapacity(images.count)
        var workspace: LayerStackWorkspace<Scalar>?
        for start in stride(from: 0, to: images.count, by: batchSize) {
            let chunk = images[start ..< min(start + batchSize, images.count)]
            // One workspace for the batches of one size: allocating and zeroing it costs about
            // as much as the forward pass itself.
            if workspace?.batchSize != chunk.count { workspace = stack.makeWorkspace(batchSize: chunk.count) }
            stack.forward(stack.batch(data, chunk), in: workspace!)
            workspace!.output.withUnsafeBufferPointer { f in
                for i in 0 ..< chunk.count {
                    // The first of equal maxima, as PyTorch's argmax (and StackEvaluation).
                    var best = 0
                    for k in 1 ..< units.count where f[i * outputs + units.lowerBound + k] > f[i * outputs + units.lowerBound + best] { best = k }
                    predictions.append(best)
                }
            }
        }
        self.predictions = predictions
        let targets = choice == .prediction ? predictions : labels
        self.targets = targets

        let exampleCount = min(max(examples, 0), images.count)
        let width = stack.inputShape.reduce(1, *)
        var perSample = [[[Double]]](repeating: [[Double]](repeating: [], count: metrics.count), count: methods.count)
        var curveSums = [[[Double]?]](repeating: [[Double]?](repeating: nil, count: metrics.count), count: methods.count)
        var metricSeconds = [[Double]](repeating: [Double](repeating: 0, count: metrics.count), count: methods.count)
        var attributionSeconds = [Double](repeating: 0, count: methods.count)
        var exampleMaps = [[[Double]]](repeating: [], count: methods.count)
        let exampleBatch = stack.batch(data, images[0 ..< exampleCount])
        exampleInputs = (0 ..< exampleCount).map { e in exampleBatch.withUnsafeBufferPointer { Array($0[e * width ..< (e + 1) * width]).map(Double.init) } }

        let steps = methods.count * metrics.count
        let batches = (images.count + batchSize - 1) / batchSize
        for (b, start) in stride(from: 0, to: images.count, by: batchSize).enumerated() {
            let rows = start ..< min(start + batchSize, images.count)
            let inputs = stack.batch(data, images[rows])
            let chunkTargets = Array(targets[rows])
            for (m, method) in methods.enumerated() {
                progress(.attributions, (b * methods.count + m) * metrics.count, steps * batches)
                let clock = Date()
                let maps = try method.attributions(stack, inputs: inputs, targets: chunkTargets)
                attributionSeconds[m] += Date().timeIntervalSince(clock)
                require(maps.count == inputs.count, "AttributionComparison: \(method.name) returned shape \(maps.shape) for inputs \(inputs.shape)")
                if exampleMaps[m].count < exampleCount {
                    maps.withUnsafeBufferPointer { a in
                        for e in exampleMaps[m].count ..< min(exampleCount, start + rows.count) where e >= start {
                            exampleMaps[m].append(Array(a[(e - start) * width ..< (e - start + 1) * width]).map(Double.init))
                        }
                    }
                }
                for (k, metric) in metrics.enumerated() {
                    progress(.metrics, (b * methods.count + m) * metrics.count + k, steps * batches)
                    let clock = Date()
                    // A metric keyed by dataset index (its draws) gets the images' indices, so a
                    // batch's images are not taken for the first ones of the split.
                    let scores = if let indexed = metric as? any DatasetIndexedAttributionMetric<Scalar> {
                        try indexed.scores(stack, method: method, inputs: inputs, targets: chunkTargets, attributions: maps, indices: Array(images[rows]))
                    } else {
                        try metric.scores(stack, method: method, inputs: inputs, targets: chunkTargets, attributions: maps)
                    }
                    metricSeconds[m][k] += Date().timeIntervalSince(clock)
                    require(scores.values.count == rows.count,
                            "AttributionComparison: \(metric.name) gave \(scores.values.count) scores for \(rows.count) images")
                    perSample[m][k] += scores.values
                    if let curves = scores.curves {
                        require(curves.count == rows.count, "AttributionComparison: \(metric.name) gave \(curves.count) curves for \(rows.count) images")
                        var sum = curveSums[m][k] ?? [Double](repeating: 0, count: curves.first?.count ?? 0)
                        for curve in curves {
                            require(curve.count == sum.count, "AttributionComparison: \(metric.name)'s curves differ in length (\(curve.count), \(sum.count))")
                            for s in curve.indices { sum[s] += curve[s] }
                        }
                        curveSums[m][k] = sum
                    }
                }
            }
        }
        progress(.metrics, steps * batches, steps * batches)
        self.perSample = perSample
        self.attributionSeconds = attributionSeconds
        self.exampleMaps = exampleMaps
        meanCurves = methods.indices.flatMap { m in
            metrics.indices.compactMap { k in
                curveSums[m][k].map { MeanCurve(method: methods[m].name, metric: metrics[k].name, values: $0.map { $0 / Double(images.count) }) }
            }
        }
        cells = Self.cells(methods: self.methods, metrics: metrics.map { ($0.name, $0.higherIsBetter) }, perSample: perSample, seconds: metricSeconds)
    }

    /// The table's cells from per-sample scores: mean, standard error and normal 95 % interval
    /// of each, ranked within each metric.
    static func cells(methods: [String], metrics: [(name: String, higherIsBetter: Bool)], perSample: [[[Double]]],
                      seconds: [[Double]]) -> [Cell] {
        var cells: [Cell] = []
        for (m, method) in methods.enumerated() {
            for (k, metric) in metrics.enumerated() {
                // Samples a metric leaves undefined (NaN: a faithfulness correlation whose sums or drops
                // do not vary) are left out of the mean and counted out of `count`, as Quantus's nanmean does.
                let scores = AttributionScores(values: perSample[m][k].filter { !$0.isNaN })
                let (mean, se) = (scores.mean, scores.standardError)
                let quantile = scores.values.count >= 2 ? studentQuantile(degreesOfFreedom: scores.values.count - 1) : 0
                cells.append(Cell(method: method, metric: metric.name, higherIsBetter: metric.higherIsBetter, mean: mean, standardError: se,
                                  lower: mean - quantile * se, upper: mean + quantile * se, count: scores.values.count,
                                  rank: 0, seconds: seconds[m][k]))
            }
        }
        for (k, metric) in metrics.enumerated() {
            // A NaN mean (a faithfulness correlation with a constant sample) ranks after every number.
            let column = methods.indices.map { cells[$0 * metrics.count + k].mean }
            let numbers = column.filter { !$0.isNaN }.count
            for m in methods.indices {
                let better = column.filter { metric.higherIsBetter ? $0 > column[m] : $0 < column[m] }.count
                cells[m * metrics.count + k].rank = column[m].isNaN ? numbers + 1 : better + 1
            }
        }
        return cells
    }

    /// The cell of `method` under `metric`, if both were compared.
    public func cell(method: String, metric: String) -> Cell? {
        cells.first { $0.method == method && $0.metric == metric }
    }

    /// The methods in order of rank under `metric` (best first).
    public func ranking(metric: String) -> [String] {
        cells.filter { $0.metric == metric }.sorted { ($0.rank, methods.firstIndex(of: $0.method)!) < ($1.rank, methods.firstIndex(of: $1.method)!) }
            .map(\.method)
    }

    /// The mean curves of `metric`, one per method (empty for a metric without curves).
    public func curves(metric: String) -> [MeanCurve] { meanCurves.filter { $0.metric == metric } }

    /// The metrics that have curves, in table order.
    public var curveMetrics: [String] { metrics.filter { !curves(metric: $0).isEmpty } }

    /// The lines the command prints: the table with intervals, best per metric starred.
    public var summary: String {
        var lines = ["\(images.count) test images, targets: the \(targetChoice == .prediction ? "predicted class" : "label"); mean [95 % CI]; * best"]
        for metric in metrics {
            let cells = self.cells.filter { $0.metric == metric }
            lines.append("\(metric) (\(cells.first?.higherIsBetter == true ? "higher" : "lower") is better)")
            for cell in cells {
                lines.append((cell.rank == 1 ? "  * " : "    ") + cell.method.padding(toLength: max(24, cell.method.count), withPad: " ", startingAt: 0)
                             + String(format: " %12.6g [%.6g, %.6g]", cell.mean, cell.lower, cell.upper))
            }
        }
        return lines.joined(separator: "\n")
    }

    // MARK: Files

    /// `report.json`'s text (sorted keys, pretty-printed); a NaN or infinite number is refused,
    /// naming its place.
    public func json() throws(InterpretationError) -> String { try reportJSON(self) }

    /// The table as CSV, one row a method × metric: method, metric, higher_is_better, mean,
    /// standard_error, ci_lower, ci_upper, n, rank, seconds. Numbers in Swift's shortest
    /// round-tripping form.
    public var tableCSV: String {
        var lines = ["method,metric,higher_is_better,mean,standard_error,ci_lower,ci_upper,n,rank,seconds"]
        for c in cells {
            lines.append([csvField(c.method), csvField(c.metric), "\(c.higherIsBetter)", "\(c.mean)", "\(c.standardError)", "\(c.lower)", "\(c.upper)",
                          "\(c.count)", "\(c.rank)", "\(c.seconds)"].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Every score as CSV in long form, one row a method × metric × image: method, metric,
    /// image (its index in the split), label, target, value.
    public var scoresCSV: String {
        var lines = ["method,metric,image,label,target,value"]
        for (m, method) in methods.enumerated() {
            for (k, metric) in metrics.enumerated() {
                for (i, value) in perSample[m][k].enumerated() {
                    lines.append("\(csvField(method)),\(csvField(metric)),\(images[i]),\(labels[i]),\(targets[i]),\(value)")
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// A CSV field: quoted when it holds a comma, a quote or a line break (RFC 4180).
func csvField(_ text: String) -> String {
    guard text.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return text }
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

/// Scores that may be undefined (NaN) as JSON can hold them: `null`, read back as NaN. Without
/// it one undefined score among a thousand images made the whole report unwritable.
@propertyWrapper
public struct UndefinedAsNull: Sendable, Codable, Equatable {
    public var wrappedValue: [[[Double]]]

    public init(wrappedValue: [[[Double]]]) { self.wrappedValue = wrappedValue }

    public init(from decoder: any Decoder) throws {
        let stored = try decoder.singleValueContainer().decode([[[Double?]]].self)
        wrappedValue = stored.map { $0.map { $0.map { $0 ?? .nan } } }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(wrappedValue.map { $0.map { $0.map { $0.isNaN ? nil : $0 } } })
    }
}
