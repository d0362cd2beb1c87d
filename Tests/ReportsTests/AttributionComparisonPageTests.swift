import Figures
import Foundation
import Interpretation
import IsometrySupport
import Networks
@testable import Reports
import Testing
import TensorAlgebra
import TestSupport

/// A metric with curves that are an exact function of the attributions (the running sum of the
/// attributions in descending order), standing in for deletion and insertion curves so that the
/// page's curve figure is drawn and can be read back.
private struct RunningSum: AttributionMetric {
    var name: String { "running-sum" }
    var higherIsBetter: Bool { true }
    func scores(_ stack: LayerStack<Double>, method: any AttributionMethod<Double>, inputs: Tensor<Double>, targets: [Int],
                attributions: Tensor<Double>) throws(InterpretationError) -> AttributionScores {
        let count = inputs.shape[0], width = attributions.count / count
        var values: [Double] = [], curves: [[Double]] = []
        for i in 0 ..< count {
            var sum = 0.0
            curves.append([0] + Array(attributions.scalars[i * width ..< (i + 1) * width]).sorted(by: >).map { sum += $0; return sum })
            values.append(sum)
        }
        return AttributionScores(values: values, curves: curves)
    }
}

/// The comparison page against the comparison's numbers: the curves drawn where the mean
/// curves put them (read back through each panel's frame, to the figure's 0.02 px rounding),
/// print sizes of at least 7 pt at both widths, the best cell of each metric starred, every
/// printed number marked with its report.json path. Set ISOMETRY_ATTRIBUTION_PAGE=FOLDER to
/// write the page and figures there, for a look in the browser (Scripts/check-report.sh FOLDER).
@Suite struct AttributionComparisonPageTests {
    let comparison: AttributionComparison

    init() throws {
        let classifier = perturbedClassifier(.hardTanh, features: 16, classes: 3, layers: 4, seed: 5)
        comparison = try AttributionComparison(classifier.stack, data: tinyData(train: 3, test: 30, seed: 3).test, images: Array(0 ..< 30),
                                               methods: [Gradient(), GradientTimesInput()], metrics: [CompletenessResidual(), RunningSum()],
                                               examples: 3, source: "test")
    }

    @Test func theCurvesAreDrawnWhereTheMeanCurvesPutThem() throws {
        for width in FigureWidth.allCases {
            let svg = try #require(comparison.curvesFigure(width: width)).render()
            #expect(svg.contains("width=\"\(width.inches)in\""), "\(width)")
            #expect(try SVGReading.printedPoints(svg).allSatisfy { $0 >= Typography.minimumPoints - 1e-9 })
            let frame = try SVGReading.frame(svg, panel: "running-sum")
            let lines = svg.matches(of: /<polyline points="([^"]+)"[^>]* data-method="([a-z-]+)" data-metric="running-sum"/)
            #expect(lines.count == comparison.methods.count)
            for line in lines {
                let curve = try #require(comparison.curves(metric: "running-sum").first { $0.method == String(line.output.2) })
                let points = line.output.1.split(separator: " ").map { $0.split(separator: ",").map { Double($0)! } }
                #expect(points.count == curve.values.count)
                for (s, point) in points.enumerated() {
                    #expect(abs(point[0] - frame.x(Double(s) / Double(curve.values.count - 1))) <= SVGReading.pixelTolerance)
                    #expect(abs(point[1] - frame.y(curve.values[s])) <= SVGReading.pixelTolerance)
                }
            }
        }
        #expect(comparison.figureFiles.map(\.name) == ["curves.svg", "curves-column.svg", "attributions.svg"])
    }

    @Test func theTableStarsTheBestAndMarksEveryNumber() throws {
        let html = comparison.html()
        #expect(html.components(separatedBy: "class=\"best\">★").count - 1 == comparison.metrics.count)
        for (i, cell) in comparison.cells.enumerated() {
            for (key, value) in [("mean", cell.mean), ("lower", cell.lower), ("upper", cell.upper)] {
                #expect(html.contains("data-json=\"cells.\(i).\(key)\">\(significantFigures(value))</span>"), "cells.\(i).\(key)")
            }
            // The star sits in the cell of the rank-1 method.
            let starred = html.contains("class=\"best\">★ <span class=\"num\" data-json=\"cells.\(i).mean\"")
            #expect(starred == (cell.rank == 1), "cells.\(i)")
        }
        if let folder = ProcessInfo.processInfo.environment["ISOMETRY_ATTRIBUTION_PAGE"] {
            let url = URL(fileURLWithPath: folder)
            try FileManager.default.createDirectory(at: url.appendingPathComponent("figures"), withIntermediateDirectories: true)
            try html.write(to: url.appendingPathComponent("report.html"), atomically: true, encoding: .utf8)
            for (name, text) in [("report.json", try comparison.json()), ("table.csv", comparison.tableCSV), ("scores.csv", comparison.scoresCSV)] {
                try text.write(to: url.appendingPathComponent(name), atomically: true, encoding: .utf8)
            }
            for file in comparison.figureFiles { try file.svg.write(to: url.appendingPathComponent("figures/\(file.name)"), atomically: true, encoding: .utf8) }
        }
    }
}

