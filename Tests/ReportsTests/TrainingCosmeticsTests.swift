import Figures
import Foundation
import Reports
import Testing

/// Issue 23 #11–12: Figure 3 marks chance; Figure 2's ordered layers get a sequential palette
/// whose every colour reads on white at 3:1 or better.
@Suite struct TrainingCosmeticsTests {
    /// WCAG 2 contrast ratio against white, from the sRGB hex colour (written out here).
    func contrastOnWhite(_ hex: String) -> Double {
        let digits = Array(hex.dropFirst())
        func channel(_ k: Int) -> Double {
            let c = Double(Int(String(digits[2 * k ..< 2 * k + 2]), radix: 16)!) / 255
            return c <= 0.03928 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4)
        }
        let luminance = 0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2)
        return 1.05 / (luminance + 0.05)
    }

    @Test func layerColoursAreOrderedAndReadable() {
        for count in [1, 2, 10] {
            let palette = layerPalette(count)
            #expect(Set(palette).count == count)
            for color in palette { #expect(contrastOnWhite(color) >= 3, "\(color): \(contrastOnWhite(color))") }
            // Sequential: luminance rises monotonically from the first layer to the last.
            let ratios = palette.map(contrastOnWhite)
            #expect(zip(ratios, ratios.dropFirst()).allSatisfy { $0 > $1 })
        }
        #expect(contrastOnWhite("#edc948") < 2)  // the old yellow, for the record
        let svg = distanceTrajectoryFigure(trace: [(0, [0, 0, 0]), (10, [0.1, 0.2, 0.3])], stepsPerEpoch: 10, title: "t").render()
        // Each line's label has the line's colour and its final distance (issue 23 #11: the layer
        // figure no longer draws the distances a second time).
        for (layer, color) in layerPalette(3).enumerated() {
            #expect(svg.contains("fill=\"\(color)\" data-layer=\"\(layer + 1)\">layer \(layer + 1): \(String(format: "%.4f", 0.1 * Double(layer + 1)))</text>"))
        }
    }

    @Test func theLayerFigureMarksChance() throws {
        // Accuracies 60–80 %: the axis reaches down to chance (10 %) and the line sits at 10 %.
        for width in FigureWidth.allCases {
            let svg = layerFigure(accuracies: [0.6, 0.7, 0.8], title: "t", classes: 10, width: width).render()
            let frame = try SVGReading.frame(svg, panel: "readout")
            // y axis low end: min(60, 10) − 5 = 5 … 100; the label sits 4 px above the line.
            #expect(frame.yDomain == (5, 100))
            let label = try #require(svg.firstMatch(of: /<text x="[0-9.]+" y="([0-9.]+)"[^>]*data-quantity="chance">chance \(10 %\)<\/text>/))
            let lineY = frame.y(10)
            #expect(abs(Double(label.output.1)! - (lineY - 4)) < SVGReading.pixelTolerance)
            let chanceLine = try #require(svg.firstMatch(of: /<line x1="[0-9.]+" y1="([0-9.]+)"[^>]*stroke-dasharray="4,3"/))
            #expect(abs(Double(chanceLine.output.1)! - lineY) < SVGReading.pixelTolerance)
            // One marker per layer at its accuracy.
            let markers = svg.matches(of: /<circle cx="([0-9.]+)" cy="([0-9.]+)"[^>]*data-layer="([0-9]+)"/)
            #expect(markers.count == 3)
            for marker in markers {
                let layer = Int(marker.output.3)!
                #expect(abs(Double(marker.output.1)! - frame.x(Double(layer))) < SVGReading.pixelTolerance)
                #expect(abs(Double(marker.output.2)! - frame.y([60.0, 70, 80][layer - 1])) < SVGReading.pixelTolerance)
            }
        }
    }
}
