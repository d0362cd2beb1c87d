import Foundation
import Networks
import Reports
import Testing
import TensorAlgebra
import Datasets
import Interpretation

@Suite struct NoisyBackgroundFigureTests {
    /// The figure draws one bar per row of the table at its accuracy, and one pixel grid per
    /// example and protocol, whose bright pixels are the example's non-zero pixels.
    @Test func barsAndExamplesAreTheTablesNumbers() throws {
        var generator = SeededGenerator(seed: 2)
        var pixels = [UInt8](repeating: 0, count: 20 * 36)
        for n in 0 ..< 20 { for j in [14, 15, 20, 21] { pixels[n * 36 + j] = UInt8.random(in: 50 ... 255, using: &generator) } }
        let data = LabeledImages(pixels: pixels, labels: (0 ..< 20).map { $0 % 2 }, imageShape: [6, 6], classes: 2)
        let stack = LayerStack<Double>(inputShape: [1, 6, 6]) { Flatten(); Dense(inputs: 36, outputs: 2, using: &generator) }
        let table = try NoisyBackgroundTable(stack, data: data, settings: .init(sigma: 0.3, outlineWidth: 1), examples: 2)
        let svg = table.figure().render()
        for row in table.rows {
            #expect(svg.contains("data-accuracy=\"\(row.accuracy)\" data-row=\"\(row.name)\""), "\(row.name)")
            #expect(svg.contains("data-share=\"\(try #require(row.objectShareOfContribution))\""), "\(row.name)")
        }
        for example in table.examples {
            for (p, row) in table.rows.enumerated() {
                let start = try #require(svg.range(of: "<g data-example=\"\(example.index)\" data-protocol=\"\(row.name)\" shape-rendering=\"crispEdges\">"))
                let end = try #require(svg.range(of: "</g>", range: start.upperBound ..< svg.endIndex))
                // The black square, then one rect per pixel above 0.
                let rects = svg[start.upperBound ..< end.lowerBound].components(separatedBy: "<rect").count - 1
                #expect(rects == 1 + example.images[p].filter { $0 > 0 }.count)
            }
        }
        #expect(table.markdown.contains("| object+frame |"))
    }

    /// The page (report.html) prints table.json's numbers: every marked number, the Insens
    /// column included, is the encoded table's at its path.
    @Test func pageNumbersAreTheTables() throws {
        var generator = SeededGenerator(seed: 3)
        var pixels = [UInt8](repeating: 0, count: 12 * 36)
        for n in 0 ..< 12 { for j in [14, 15, 20, 21] { pixels[n * 36 + j] = UInt8.random(in: 50 ... 255, using: &generator) } }
        let data = LabeledImages(pixels: pixels, labels: (0 ..< 12).map { $0 % 2 }, imageShape: [6, 6], classes: 2)
        let stack = LayerStack<Double>(inputShape: [1, 6, 6]) { Flatten(); Dense(inputs: 36, outputs: 4, using: &generator); ActivationLayer(.relu); Dense(inputs: 4, outputs: 2, using: &generator) }
        let table = try NoisyBackgroundTable(stack, data: data, settings: .init(sigma: 0.3, outlineWidth: 1), insensImages: 6)
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(table))
        let html = table.html()
        let numbers = marked(html, "data-json")
        #expect(numbers.count == 2 + 1 + 4 * 6, "\(numbers.count) numbers")
        for (tag, content) in numbers {
            let path = try #require(attributeValue(tag, "data-json"))
            let expected = try #require(jsonValue(json, path), "table.json has no number at \(path)") * Double(attributeValue(tag, "data-scale") ?? "1")!
            let (shown, tolerance) = try #require(printedNumber(content))
            #expect(abs(shown - expected) <= tolerance, "\(path): page shows \(content), table.json has \(expected)")
        }
        #expect(html.contains("<meta name=\"viewport\"") && html.contains("href=\"figure.svg\""))
    }
}
