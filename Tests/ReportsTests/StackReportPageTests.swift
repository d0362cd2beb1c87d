import Datasets
import Foundation
import Interpretation
import Networks
import Reports
import Testing
import TensorAlgebra
import TestSupport

/// The page of a layer stack's report: every number it prints is report.json's, every printed
/// colour-scale limit the largest |value| of its maps, and what needs class dimensions is
/// named as left out (or shown, for a stack that has them).
@Suite struct StackReportPageTests {
    func data() -> LabeledImages {
        LabeledImages(pixels: (0 ..< 30 * 12).map { UInt8(($0 * 41) % 256) }, labels: (0 ..< 30).map { $0 % 3 }, imageShape: [3, 4], classes: 3)
    }

    func checkMarks(_ report: StackInterpretationReport) throws {
        let html = report.html() + report.figureFiles.map(\.svg).joined()
        let json = try JSONSerialization.jsonObject(with: Data(try report.json().utf8))
        let numbers = marked(html, "data-json")
        #expect(numbers.count >= 5 + 9 * 2 + report.analyses.count * 10)
        for (tag, content) in numbers {
            let path = try #require(attributeValue(tag, "data-json"))
            var expected = try #require(jsonValue(json, path), "report.json has no number at \(path)")
            if let minus = attributeValue(tag, "data-json-minus") { expected -= try #require(jsonValue(json, minus)) }
            expected *= Double(attributeValue(tag, "data-scale") ?? "1")!
            let (shown, tolerance) = try #require(printedNumber(content), "no number in \(content)")
            #expect(abs(shown - expected) <= max(tolerance, abs(expected) * 1e-12), "\(path): page shows \(content), report.json has \(expected)")
        }
        let maps = Dictionary(uniqueKeysWithValues: report.maps.map { ($0.name, $0) })
        let limits = marked(html, "data-maxabs")
        #expect(limits.count >= 3 * report.analyses.count)
        for (tag, content) in limits {
            var expected = 0.0
            for slice in try #require(attributeValue(tag, "data-maxabs")).split(separator: "|") {
                let parts = slice.split(separator: ":", omittingEmptySubsequences: false)
                let map = try #require(maps[String(parts[0])], "no map \(parts[0])")
                let leading = parts[1].split(separator: ",").map { Int($0)! }
                let size = map.shape.dropFirst(leading.count).reduce(1, *)
                var offset = 0
                for (k, index) in leading.enumerated() { offset = offset * map.shape[k] + index }
                expected = max(expected, map.values[(offset * size) ..< ((offset + 1) * size)].map(abs).max()!)
            }
            // A blank map (no inactive unit enters Ω) is drawn on the page's floor scale ±1e-12.
            expected = max(expected, 1e-12)
            let (shown, _) = try #require(printedNumber(content))
            #expect(abs(abs(shown) - expected) <= expected * 5e-3, "shows \(content), maps have \(expected)")
        }
    }

    @Test func withoutClassDimensionsThePageSaysWhatItLeavesOut() throws {
        var generator = SeededGenerator(seed: 3)
        let stack = LayerStack<Double>.multilayerPerceptron(widths: [12, 9, 3], activation: .hardTanh, using: &generator)
        let report = try StackInterpretationReport(stack, data: data(), samples: [0, 4, 9])
        try checkMarks(report)
        let html = report.html()
        #expect(html.contains("<h2 id=\"not-shown\">Not shown</h2>"))
        for reason in ["per-layer readout needs", "contribution maps need", "class templates need"] {
            #expect(html.contains(reason + " class dimensions; this network has none"), "\(reason)")
        }
        #expect(report.figureFiles.map(\.name) == ["fig1-confusion-matrix.svg", "fig2-linearisation-and-insens.svg", "fig3-class-mean-weights.svg"])
    }

    @Test func withClassDimensionsThePageShowsReadoutMapsAndTemplates() throws {
        let classifier = perturbedClassifier(.relu)
        let report = try StackInterpretationReport(classifier.stack, data: data(), samples: [1, 2])
        try checkMarks(report)
        #expect(!report.html().contains("Not shown"))
        #expect(report.figureFiles.map(\.name) == ["fig1-confusion-matrix.svg", "fig2-readout-accuracy.svg", "fig3-contribution-maps.svg",
                                                   "fig4-class-templates.svg", "fig5-linearisation-and-insens.svg",
                                                   "fig6-class-mean-weights.svg"])
    }

    /// A CNN's page: the maps of its convolutions per channel (the leading channels of the
    /// first image, every channel of every image in maps/), W(x) per class; every number the
    /// figures print is report.json's and every scale the maps' (checkMarks), and the maps are
    /// the library's ChannelMaps and ClassMeanWeights, unchanged.
    @Test func aCNNsPageDrawsItsChannelsAndClassMeans() throws {
        var generator = SeededGenerator(seed: 5)
        let stack = try LayerStack<Double>(architecture: "conv4k3p1,relu,maxpool2,conv6k3,relu,flatten,dense3", inputShape: [1, 6, 6],
                                           using: &generator)
        let pixels: [UInt8] = (0 ..< 30 * 36).map { (i: Int) -> UInt8 in UInt8((i * 37 + i / 36 * 11) % 256) }
        let labels: [Int] = (0 ..< 30).map { (i: Int) -> Int in i % 3 }
        let data = LabeledImages(pixels: pixels, labels: labels, imageShape: [6, 6], classes: 3)
        let report = try StackInterpretationReport(stack, data: data, samples: [2, 5], linearise: 20, batchSize: 7)
        try checkMarks(report)
        #expect(report.figureFiles.map(\.name) == ["fig1-confusion-matrix.svg", "fig2-linearisation-and-insens.svg", "fig3-class-mean-weights.svg",
                                                   "fig4-channel-contributions-layer0.svg", "fig5-channel-contributions-layer3.svg", "fig6-channel-insens.svg"])
        let maps = Dictionary(uniqueKeysWithValues: report.maps.map { ($0.name, $0) })
        for (k, l) in [0, 3].enumerated() {
            let expected = try [2, 5].map { try stack.channelMaps(data, index: $0)[k] }
            let contributions = try #require(maps["channel_contributions_layer\(l).npy"])
            #expect(contributions.shape == [2] + stack.shapes[l + 1])
            #expect(contributions.values == expected.flatMap { $0.contributions.flatMap { $0 } })
            let insens = try #require(maps["channel_insens_layer\(l).npy"])
            #expect(insens.shape == [2, stack.shapes[l + 1][0], 6, 6])
            #expect(insens.values == expected.flatMap { $0.insens.flatMap { $0 } })
        }
        let means = try #require(maps["class_mean_weights.npy"])
        #expect(means.shape == [3, 6, 6] && means.values == report.classMeans.means.flatMap { $0 })
        #expect(report.classMeans.counts.reduce(0, +) == 20)
    }
}
