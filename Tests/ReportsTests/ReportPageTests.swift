import Datasets
import Figures
import Foundation
import Networks
import TestSupport
import Testing
import TensorAlgebra
import Interpretation
import Reports
import IsometrySupport

/// A report on 4 × 4 images: 16 features, 3 classes, 4 layers, 40 images, 3 shown.
func smallReport() throws -> InterpretationReport {
    let classifier = perturbedClassifier(.hardTanh, features: 16, classes: 3, layers: 4, seed: 11)
    var generator = SeededGenerator(seed: 12)
    let pixels = (0 ..< 40 * 16).map { _ in UInt8(generator.next() % 256) }
    let labels = (0 ..< 40).map { _ in Int(generator.next() % 3) }
    let data = LabeledImages(pixels: pixels, labels: labels, imageShape: [4, 4], classes: 3)
    return try InterpretationReport(classifier, data: data, samples: [3, 0, 17], batchSize: 16, source: "small")
}

/// The value at a dotted path of report.json ("samples.0.logits.2"); `*` takes the largest
/// element of an array.
func jsonValue(_ object: Any, _ path: String) -> Double? {
    var current: [Any] = [object]
    for key in path.split(separator: ".").map(String.init) {
        current = current.flatMap { node -> [Any] in
            if key == "*", let array = node as? [Any] { return array }
            if let index = Int(key), let array = node as? [Any], index < array.count { return [array[index]] }
            if let dictionary = node as? [String: Any], let value = dictionary[key] { return [value] }
            return []
        }
    }
    let numbers = current.compactMap { ($0 as? NSNumber)?.doubleValue }
    return numbers.count == current.count ? numbers.max() : nil
}

/// The last number printed in `text` ("layer 4: 61.25" → 61.25) and half a unit of its last
/// digit: how far the printed number may be from the exact one.
func printedNumber(_ text: String) -> (value: Double, tolerance: Double)? {
    let plain = text.replacingOccurrences(of: "−", with: "-")
    let pattern = try! NSRegularExpression(pattern: "[-+]?[0-9]+(\\.([0-9]+))?(e([-+]?[0-9]+))?")
    guard let match = pattern.matches(in: plain, range: NSRange(plain.startIndex..., in: plain)).last,
          let range = Range(match.range, in: plain), let value = Double(plain[range]) else { return nil }
    let decimals = Range(match.range(at: 2), in: plain).map { plain[$0].count } ?? 0
    let exponent = Range(match.range(at: 4), in: plain).flatMap { Int(plain[$0]) } ?? 0
    return (value, 0.5 * pow(10, Double(exponent - decimals)) * (1 + 1e-9))
}

/// Every element of `html` that carries `attribute`: its attributes' text and its content.
func marked(_ html: String, _ attribute: String) -> [(tag: String, content: String)] {
    let pattern = try! NSRegularExpression(pattern: "<(span|text)([^>]*\\b\(attribute)=\"[^\"]*\"[^>]*)>([^<]*)</(span|text)>")
    return pattern.matches(in: html, range: NSRange(html.startIndex..., in: html)).map {
        (String(html[Range($0.range(at: 2), in: html)!]), String(html[Range($0.range(at: 3), in: html)!]))
    }
}

func attributeValue(_ tag: String, _ name: String) -> String? {
    guard let range = tag.range(of: " \(name)=\"") else { return nil }
    return String(tag[range.upperBound...].prefix { $0 != "\"" })
}

@Suite struct ReportPageTests {
    @Test func thePageHoldsOneImagePerMap() throws {
        let report = try smallReport()
        let html = report.html()
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.contains("<svg"))
        // PNG maps for s = 3 images, L = 4 layers, C = 3 classes: inputs and layers s × (L + 1),
        // increments s × L, templates L × C, linearisation rows s × (C + 1).
        #expect(html.components(separatedBy: "data:image/png;base64,").count - 1 == 15 + 12 + 12 + 12)
    }

    @Test func everyPrintedNumberEqualsReportJson() throws {
        let report = try smallReport()
        let html = report.html() + report.figureFiles.map(\.svg).joined()
        let json = try JSONSerialization.jsonObject(with: Data(try report.json().utf8))
        let numbers = marked(html, "data-json")
        // The meta line, three per-layer annotations, 9 confusion counts (page and SVG), and per
        // sample 3 × 3 logits, pixel sums and bias shares plus the Insens unit count.
        #expect(numbers.count >= 4 + 3 + 9 * 2 + 3 * (9 + 1))
        for (tag, content) in numbers {
            let path = try #require(attributeValue(tag, "data-json"))
            var expected = try #require(jsonValue(json, path), "report.json has no number at \(path)")
            if let minus = attributeValue(tag, "data-json-minus") { expected -= try #require(jsonValue(json, minus)) }
            expected *= Double(attributeValue(tag, "data-scale") ?? "1")!
            let (shown, tolerance) = try #require(printedNumber(content), "no number in \(content)")
            #expect(abs(shown - expected) <= max(tolerance, abs(expected) * 1e-12), "\(path): page shows \(content), report.json has \(expected)")
        }
        // Colour-scale limits: the largest |value| of the maps they scale (maps/*.npy).
        let maps = Dictionary(uniqueKeysWithValues: report.maps.map { ($0.name, $0) })
        let limits = marked(html, "data-maxabs")
        #expect(limits.count >= 1 + 3 * 4 + 4 + 3 * 3)
        for (tag, content) in limits {
            let slices = try #require(attributeValue(tag, "data-maxabs")).split(separator: "|")
            var expected = 0.0
            for slice in slices {
                let parts = slice.split(separator: ":", omittingEmptySubsequences: false)
                let map = try #require(maps[String(parts[0])])
                let leading = parts[1].split(separator: ",").map { Int($0)! }
                let size = map.shape.dropFirst(leading.count).reduce(1, *)
                var offset = 0
                for (k, index) in leading.enumerated() { offset = offset * map.shape[k] + index }
                expected = max(expected, map.values[(offset * size) ..< ((offset + 1) * size)].map(abs).max()!)
            }
            let (shown, _) = try #require(printedNumber(content))
            #expect(abs(abs(shown) - expected) <= expected * 5e-3, "\(slices): shows \(content), maps have \(expected)")
        }
    }

    @Test func pageIsNumberedCaptionedAndFitsAPhone() throws {
        let report = try smallReport()
        let html = report.html(indexLink: "../report.html", figureFolder: "figures", png: true)
        #expect(html.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"))
        for n in 1 ... 8 { #expect(html.contains("<figure id=\"fig\(n)\">") && html.contains("<b>Figure \(n).</b>")) }
        #expect(html.contains("<a href=\"../report.html\">") && html.contains("href=\"report.json\"") && html.contains("href=\"maps/\""))
        #expect(html.contains("figures/fig4-confusion-matrix.png"))
        // Inline SVGs scale with the page.
        #expect(html.contains("svg.fig { display: block; max-width: 100%; height: auto; }"))
        #expect(!html.contains("<svg xmlns"), "every inline SVG has a class")
        // No "+ -3.77", no "−0.00", layers named ℓ, the sign of Ω explained, shared scales said.
        #expect(!html.contains("+ -") && !html.contains("−0.00<") && !html.contains(">-0.00<"))
        #expect(!html.contains("layer l "))
        #expect(html.contains("red (positive)") && html.contains("deeper into their inactive state"))
        #expect(html.contains("share one symmetric scale") && html.contains("each map has its own scale"))
        #expect(!html.contains("Each map has its own symmetric scale, given under it"))
        #expect(report.figureFiles.count == 8 && report.figureFiles.allSatisfy { $0.svg.hasPrefix("<svg xmlns") })
    }

    @Test func numbersPrintWithARealMinusAndNoNegativeZero() {
        #expect(formatFixed(-0.001, decimals: 2) == "0.00")
        #expect(formatFixed(-3.774, decimals: 2) == "−3.77")
        #expect(formatFixed(3.776, decimals: 2) == "3.78")
        #expect(formatScientific(3.6e-6) == "3.6e−6")
        #expect(formatLimit(0.08253) == "0.0825" && formatLimit(12.34) == "12.3" && formatLimit(2e-5) == "2.00e−5")
    }

    @Test func pngExportAtPrintResolution() throws {
        #expect(FigureExportError.rasteriserMissing.description.contains("librsvg2-bin"))
        guard FigureExport.rasteriser() != nil else { return }  // the check-report script installs it
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("isometry-png-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var canvas = SVGCanvas(width: 96, height: 48)
        canvas.rect(x: 0, y: 0, width: 48, height: 48, fill: "#d95f0e")
        let png = folder.appendingPathComponent("figure.png")
        try FigureExport.png(fromSVG: canvas.render(), to: png)
        let bytes = [UInt8](try Data(contentsOf: png))
        #expect(Array(bytes[0 ..< 8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let width = bytes[16 ..< 20].reduce(0) { $0 << 8 | Int($1) }, height = bytes[20 ..< 24].reduce(0) { $0 << 8 | Int($1) }
        #expect(width == 300 && height == 150, "1 inch × 0.5 inch at 300 dpi: \(width) × \(height)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["figure.png"], "no temporary files left")
        #expect(throws: FigureExportError.self) { try FigureExport.png(fromSVG: "<svg", to: folder.appendingPathComponent("bad.png")) }
    }
}
