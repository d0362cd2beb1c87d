import Datasets
import Foundation
import Networks
import Testing
import TensorAlgebra
import TestSupport
@testable import Interpretation

/// A metric with curves whose values are an exact function of the attributions (the running sum
/// of the attributions in descending order, and its total as the score), so that the
/// comparison's mean curves can be checked against a direct average.
struct RunningSumCurve: AttributionMetric {
    var name: String { "running-sum" }
    var higherIsBetter: Bool { true }
    func scores(_ stack: LayerStack<Double>, method: any AttributionMethod<Double>, inputs: Tensor<Double>, targets: [Int],
                attributions: Tensor<Double>) throws(InterpretationError) -> AttributionScores {
        let count = inputs.shape[0], width = attributions.count / count
        var values: [Double] = [], curves: [[Double]] = []
        for i in 0 ..< count {
            let sorted = Array(attributions.scalars[i * width ..< (i + 1) * width]).sorted(by: >)
            var sum = 0.0
            curves.append([0] + sorted.map { sum += $0; return sum })
            values.append(sum)
        }
        return AttributionScores(values: values, curves: curves)
    }
}

/// The comparison against its metrics' own scores: every cell is the mean of what the metric
/// returns for the same attributions over the same images (the comparison only batches and
/// collects), its interval mean ± 1.959964 s.e. The metric is called here on all images in one
/// batch, the comparison in batches of 7: the per-image numbers agree to rounding (1e-12
/// relative; the GEMMs of other batch sizes may round differently in the last bits).
@Suite struct AttributionComparisonTests {
    let classifier = perturbedClassifier(.hardTanh, features: 16, classes: 3, layers: 4, seed: 5)
    let data = tinyData(train: 3, test: 40, seed: 3).test
    let images = Array(3 ..< 33)

    func compare(targets: AttributionComparison.TargetChoice = .prediction, batchSize: Int = 7) throws -> AttributionComparison {
        try AttributionComparison(classifier.stack, data: data, images: images, methods: [Gradient(), GradientTimesInput()],
                                  metrics: [CompletenessResidual(), RunningSumCurve()], targets: targets, examples: 3,
                                  batchSize: batchSize, source: "test")
    }

    @Test func cellsAreTheMeansOfTheMetricsOwnScores() throws {
        let comparison = try compare()
        let stack = classifier.stack
        let inputs = stack.batch(data, images[...])
        // The predicted class, independently: argmax of the classifier's logits.
        let logits = classifier.logits(inputs)
        let predicted = (0 ..< images.count).map { i in (0 ..< 3).max { logits[i, $0] < logits[i, $1] }! }
        #expect(comparison.targets == predicted)
        #expect(comparison.labels == images.map { data.labels[$0] })
        for (m, method) in [Gradient<Double>() as any AttributionMethod<Double>, GradientTimesInput<Double>()].enumerated() {
            let maps = try method.attributions(stack, inputs: inputs, targets: predicted)
            for (k, metric) in [CompletenessResidual<Double>() as any AttributionMetric<Double>, RunningSumCurve()].enumerated() {
                let scores = try metric.scores(stack, method: method, inputs: inputs, targets: predicted, attributions: maps)
                let cell = try #require(comparison.cell(method: method.name, metric: metric.name))
                let scale = max(1, scores.values.map(abs).max()!)
                for (a, b) in zip(comparison.perSample[m][k], scores.values) { #expect(abs(a - b) <= 1e-12 * scale) }
                #expect(abs(cell.mean - scores.mean) <= 1e-12 * scale)
                #expect(abs(cell.standardError - scores.standardError) <= 1e-12 * scale)
                // 30 images: Student's t with 29 degrees of freedom, scipy.stats.t.ppf(0.975, 29), and the
                // standard error recomputed here (sample standard deviation / √n).
                let n = Double(scores.values.count), mean = scores.values.reduce(0, +) / n
                let se = (scores.values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1) / n).squareRoot()
                #expect(abs(cell.standardError - se) <= 1e-12 * scale)
                #expect(abs(cell.lower - (mean - 2.045229642132703 * se)) <= 1e-12 * scale)
                #expect(abs(cell.upper - (mean + 2.045229642132703 * se)) <= 1e-12 * scale)
                #expect(cell.count == images.count && cell.higherIsBetter == metric.higherIsBetter)
                if let curves = scores.curves {
                    let mean = try #require(comparison.curves(metric: metric.name).first { $0.method == method.name })
                    for s in mean.values.indices {
                        #expect(abs(mean.values[s] - curves.map { $0[s] }.reduce(0, +) / Double(curves.count)) <= 1e-12 * scale)
                    }
                }
            }
        }
        #expect(comparison.curveMetrics == ["running-sum"])
        // Examples: the first three images' attributions, as the method gives them.
        let firstMaps = try GradientTimesInput<Double>().attributions(stack, inputs: inputs.rows(0 ..< 3), targets: Array(predicted[0 ..< 3]))
        for e in 0 ..< 3 {
            #expect(comparison.exampleMaps[1][e].count == 19)
            for j in 0 ..< 19 { #expect(abs(comparison.exampleMaps[1][e][j] - firstMaps[e, j]) <= 1e-12) }
        }
    }

    @Test func ranksFollowTheMeansAndTheMetricsDirection() throws {
        let comparison = try compare()
        for metric in comparison.metrics {
            let cells = comparison.cells.filter { $0.metric == metric }
            let ordered = cells.sorted { $0.higherIsBetter ? $0.mean > $1.mean : $0.mean < $1.mean }
            #expect(comparison.ranking(metric: metric) == ordered.map(\.method))
            #expect(ordered.first!.rank == 1 && ordered.last!.rank == 2)
        }
    }

    @Test func labelsAsTargetsAndTheBatchSizeDoesNotMatter() throws {
        let byLabel = try compare(targets: .label, batchSize: 1000)
        #expect(byLabel.targets == byLabel.labels)
        let byLabelSmall = try compare(targets: .label, batchSize: 4)
        for (a, b) in zip(byLabel.perSample.joined().joined(), byLabelSmall.perSample.joined().joined()) {
            #expect(abs(a - b) <= 1e-12 * max(1, abs(a)))
        }
    }

    /// An undefined score (NaN: a faithfulness correlation of a map that does not vary, as
    /// scipy's) is written as null and read back as NaN, and the cell's statistics leave it out;
    /// before, one such image among a thousand made report.json unwritable.
    @Test func anUndefinedScoreIsNullInTheReport() throws {
        var comparison = try compare()
        comparison.perSample[0][0][1] = .nan
        let json = try comparison.json()
        #expect(json.contains("null"))
        let decoded = try JSONDecoder().decode(AttributionComparison.self, from: Data(json.utf8))
        #expect(decoded.perSample[0][0][1].isNaN)
        #expect(decoded.perSample[0][0][0] == comparison.perSample[0][0][0])
        let cells = AttributionComparison.cells(methods: comparison.methods, metrics: comparison.metrics.map { ($0, true) },
                                                perSample: comparison.perSample,
                                                seconds: comparison.methods.map { _ in comparison.metrics.map { _ in 0 } })
        #expect(cells[0].count == images.count - 1 && cells[0].mean.isFinite)
    }

    @Test func jsonAndCSVRoundTrip() throws {
        let comparison = try compare()
        let decoded = try JSONDecoder().decode(AttributionComparison.self, from: Data(try comparison.json().utf8))
        #expect(decoded == comparison)
        // table.csv: one row a cell, every number exactly as in the table.
        let rows = comparison.tableCSV.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        #expect(rows[0] == ["method", "metric", "higher_is_better", "mean", "standard_error", "ci_lower", "ci_upper", "n", "rank", "seconds"])
        #expect(rows.count == 1 + comparison.cells.count)
        for (row, cell) in zip(rows.dropFirst(), comparison.cells) {
            #expect(row[0] == cell.method && row[1] == cell.metric && Bool(row[2]) == cell.higherIsBetter)
            #expect(Double(row[3]) == cell.mean && Double(row[4]) == cell.standardError && Double(row[5]) == cell.lower && Double(row[6]) == cell.upper)
            #expect(Int(row[7]) == cell.count && Int(row[8]) == cell.rank)
        }
        // scores.csv: one row a method × metric × image, in that order.
        let long = comparison.scoresCSV.split(separator: "\n").dropFirst().map { $0.split(separator: ",").map(String.init) }
        #expect(long.count == 2 * 2 * images.count)
        for (r, row) in long.enumerated() {
            let (m, k, i) = (r / (2 * images.count), (r / images.count) % 2, r % images.count)
            #expect(row[0] == comparison.methods[m] && row[1] == comparison.metrics[k] && Int(row[2]) == images[i])
            #expect(Int(row[3]) == comparison.labels[i] && Int(row[4]) == comparison.targets[i] && Double(row[5]) == comparison.perSample[m][k][i])
        }
    }

    @Test func anImageOutsideTheSplitThrowsBeforeAnyWork() throws {
        #expect(throws: InterpretationError.sampleOutOfRange(index: 40, count: 40)) {
            try AttributionComparison(classifier.stack, data: data, images: [0, 40], methods: [Gradient()], metrics: [CompletenessResidual()])
        }
    }

    @Test func theCatalogueBuildsByNameAndNamesTheUnknown() throws {
        #expect(try AttributionCatalogue.methods(["gradient-x-input", "gradient"], settings: AttributionSettings<Double>()).map(\.name) == ["gradient-x-input", "gradient"])
        #expect(throws: AttributionCatalogueError.unknownMetric("nope", known: AttributionCatalogue.metricNames)) {
            try AttributionCatalogue.metrics(["nope"], settings: AttributionSettings<Double>())
        }
    }
}

/// Samples a metric leaves undefined (NaN) are left out of a cell's mean and count, and a cell
/// with no defined sample ranks after every number (it must never be starred best).
@Suite struct AttributionComparisonUndefinedSampleTests {
    @Test func nanSamplesAreLeftOutAndRankLast() {
        let cells = AttributionComparison.cells(
            methods: ["a", "b", "c"], metrics: [(name: "faithfulness-correlation", higherIsBetter: true)],
            perSample: [[[0.5, .nan, 0.7]], [[.nan, .nan]], [[0.2, 0.4]]], seconds: [[0], [0], [0]])
        #expect(abs(cells[0].mean - 0.6) <= 1e-15 && cells[0].count == 2)
        #expect(cells[1].mean.isNaN && cells[1].count == 0)
        #expect(cells.map(\.rank) == [1, 3, 2])
    }
}

/// Student's 0.975 quantile against scipy.stats.t.ppf(0.975, ν), computed offline: the table's
/// end and the Cornish–Fisher expansion beyond it (1e-7 relative: the expansion's fourth-order
/// remainder at ν = 31 is about 1e-8).
@Suite struct StudentQuantileTests {
    @Test func matchesScipy() {
        let reference: [(Int, Double)] = [(1, 12.706204736174694), (29, 2.045229642132703), (30, 2.0422724563012378),
                                          (31, 2.039513446396408), (40, 2.021075390306273), (60, 2.0002978220142604),
                                          (100, 1.9839715185235518), (250, 1.9694983934211532), (1000, 1.9623390808264083)]
        for (ν, t) in reference {
            #expect(abs(AttributionComparison.studentQuantile(degreesOfFreedom: ν) - t) <= 1e-7 * t, "ν = \(ν)")
        }
    }
}
