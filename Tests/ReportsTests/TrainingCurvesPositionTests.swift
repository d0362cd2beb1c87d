import Foundation
import Reports
import Figures
import Testing
import Training

/// Issue 23 #1: the per-epoch train loss and accuracy are running means over the epoch's
/// mini-batches, so Figure 1 draws them at mid-epoch and says so; test figures stay at the
/// epoch's end.
@Suite struct TrainingCurvesPositionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A record as metrics.json holds it (EpochRecord has no public memberwise initialiser).
    func record(_ epoch: Int, from step: Int? = nil) -> EpochRecord {
        let from = step.map { ", \"trainFiguresFromStep\": \($0)" } ?? ""
        let json = """
            {"epoch": \(epoch), "trainLoss": \(0.7 / Double(epoch)), "trainAccuracy": \(0.7 + 0.05 * Double(epoch)),
             "testLoss": \(0.5 / Double(epoch)), "testAccuracy": \(0.8 + 0.02 * Double(epoch)), "learningRate": 0.01,
             "samplesPerSecond": 1, "seconds": 1, "distanceFromIdentity": []\(from)}
            """
        return try! JSONDecoder().decode(EpochRecord.self, from: Data(json.utf8))
    }

    /// The markers of one series: (data-epoch, cx).
    func markers(_ svg: String, _ series: String) -> [(epoch: Double, x: Double)] {
        svg.matches(of: /<circle cx="([0-9.]+)"[^>]*data-epoch="([0-9.]+)" data-series="([a-z-]+)"/)
            .filter { $0.output.3 == series }
            .map { (Double($0.output.2)!, Double($0.output.1)!) }
    }

    @Test func trainFiguresSitAtTheCentreOfTheStepsTheyAverage() {
        // A whole epoch of 10 steps averages steps 1…10: its centre is half an epoch back.
        #expect(trainFigurePosition(record(3), stepsPerEpoch: 10) == 2.5)
        // Resumed at step 7 of 10: steps 7…10 cover epoch fraction 0.6…1, centre 0.8.
        #expect(abs(trainFigurePosition(record(1, from: 7), stepsPerEpoch: 10) - 0.8) < 1e-12)
    }

    @Test func theFigureDrawsTrainAtMidEpochAndTestAtTheEnd() throws {
        let history = [record(1), record(2)]
        for width in FigureWidth.allCases {
            let svg = trainingCurvesFigure(history: history, stepLosses: [(1, 1.0), (20, 0.5)], stepsPerEpoch: 10, title: "t",
                                           width: width).render()
            // Both panels map epochs 0…2 linearly across their frames (written with two decimals).
            let loss = try SVGReading.frame(svg, panel: "loss"), accuracy = try SVGReading.frame(svg, panel: "accuracy")
            #expect(loss.xDomain == (0, 2) && accuracy.xDomain == (0, 2))
            for (series, frame) in [("train-loss", loss), ("test-loss", loss), ("train-accuracy", accuracy), ("test-accuracy", accuracy)] {
                let found = markers(svg, series)
                let expected = series.hasPrefix("train") ? [0.5, 1.5] : [1.0, 2.0]
                #expect(found.map(\.epoch) == expected, "\(series)")
                for (marker, epoch) in zip(found, expected) { #expect(abs(marker.x - frame.x(epoch)) < SVGReading.pixelTolerance, "\(series) \(marker)") }
            }
            // Side by side at double-column width, the accuracy panel under the loss panel in one column.
            if width == .doubleColumn { #expect(accuracy.left > loss.right && accuracy.top == loss.top) }
            else { #expect(accuracy.top > loss.bottom && accuracy.left == loss.left) }
            // The legend says what the train figures are.
            let text = SVGReading.text(svg)
            #expect(text.contains(TrainingCurvesLegend.train) && text.contains(TrainingCurvesLegend.test))
            #expect(text.contains("running mean over the epoch's mini-batches (at mid-epoch)") && text.contains("at the epoch's end"))
        }
    }

    @Test func theReportCaptionDescribesTheRunningMean() throws {
        let demo = try String(contentsOf: Self.root.appendingPathComponent("Scripts/demo.sh"), encoding: .utf8)
        let caption = try #require(demo.split(separator: "\n").first { $0.contains("$(figure 1 ") })
        #expect(!caption.contains("on all training"), "\(caption)")
        #expect(caption.contains("running mean over the epoch's mini-batches") && caption.contains("mid-epoch"))
        #expect(caption.contains("at the epoch's end"))
    }
}
