import Datasets
import Figures
import Foundation
import Networks
import Reports
import Testing
import TestSupport
import Training

@Suite struct TrainingFiguresTests {
    @Test func figuresOfNonFiniteDistancesFinish() {
        // σ = 1e-320 makes ‖W − σI‖/‖σI‖ infinite; the figures used to stride over 0…∞ forever.
        #expect(Scale(domain: 0 ... .infinity, pixels: (0, 100)).ticks() == [])
        #expect(Scale(domain: 0 ... 1e-320, pixels: (0, 100)).ticks() == [0])
        let figure = distanceTrajectoryFigure(trace: [(0, [.infinity, 1]), (10, [.infinity, 2])], stepsPerEpoch: 10, title: "t")
        #expect(figure.render().contains("<svg"))
        #expect(figure.render().contains("layer 1: ∞"))
        #expect(layerFigure(accuracies: [0.5, .nan], title: "t").render().contains("<svg"))
    }

    @Test func aSessionWithTheTrainingFiguresWritesThemBesideItsMetrics() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("figures-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let session = try TrainingSession<Double>(model: ClassifierConfiguration(layers: 2),
                                                  training: TrainingConfiguration(batchSize: 20, epochs: 1, learningRate: 0.05, threads: 1),
                                                  data: tinyData(), folder: folder)
        session.reportFiles = TrainingFigures.files
        var steps = 0
        _ = try session.run(shouldStop: { steps += 1; return steps > 3 })
        // Interrupted: curves and distances, no per-layer figure (that needs the final evaluation).
        for name in ["curves.svg", "distances.svg"] {
            let text = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
            #expect(text.hasPrefix("<svg") || text.contains("<svg"), "\(name)")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("layers.svg").path))
        let resumed = try TrainingSession<Double>(resuming: session.checkpointURL!, layers: 2, data: tinyData(), folder: folder)
        resumed.reportFiles = TrainingFigures.files
        _ = try resumed.run()
        // Every figure at both widths, each stating its printed width.
        #expect(TrainingFigures.names == ["curves", "distances", "layers", "curves-column", "distances-column", "layers-column"])
        for name in TrainingFigures.names {
            let text = try String(contentsOf: folder.appendingPathComponent("\(name).svg"), encoding: .utf8)
            #expect(text.contains(name.hasSuffix("-column") ? "width=\"3.25in\"" : "width=\"6.75in\""), "\(name)")
        }
    }
}
