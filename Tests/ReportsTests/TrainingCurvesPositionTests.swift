import Foundation
import Reports
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

    @Test func theFigureDrawsTrainAtMidEpochAndTestAtTheEnd() {
        let history = [record(1), record(2)]
        let svg = trainingCurvesFigure(history: history, stepLosses: [(1, 1.0), (20, 0.5)], stepsPerEpoch: 10, title: "t").render()
        // Both panels map epochs 0…2 linearly to 340 px starting at 80 (loss) and 530 (accuracy):
        // x = left + epoch · 170, written with two decimals.
        for (series, left) in [("train-loss", 80.0), ("test-loss", 80), ("train-accuracy", 530), ("test-accuracy", 530)] {
            let found = markers(svg, series)
            let expected = series.hasPrefix("train") ? [0.5, 1.5] : [1.0, 2.0]
            #expect(found.map(\.epoch) == expected, "\(series)")
            for (marker, epoch) in zip(found, expected) { #expect(abs(marker.x - (left + epoch * 170)) < 0.006, "\(series) \(marker)") }
        }
        // The legend says what the train figures are.
        #expect(svg.contains(TrainingCurvesLegend.trainLoss))
        #expect(svg.contains("mean over the epoch") && svg.contains("at epoch end"))
    }

    @Test func theReportCaptionDescribesTheRunningMean() throws {
        let demo = try String(contentsOf: Self.root.appendingPathComponent("Scripts/demo.sh"), encoding: .utf8)
        let caption = try #require(demo.split(separator: "\n").first { $0.contains("$(figure 1 ") })
        #expect(!caption.contains("on all training"), "\(caption)")
        #expect(caption.contains("running mean over the epoch's mini-batches") && caption.contains("mid-epoch"))
        #expect(caption.contains("at the epoch's end"))
    }
}
