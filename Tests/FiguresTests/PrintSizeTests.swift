import Foundation
import Testing
@testable import Figures

/// Figures for print (issue 23 #8, #10, #11): a canvas at a stated printed width, text at 7–9 pt
/// there, real superscripts and subscripts, one tick format per axis, PNGs at the printed size.
@Suite struct PrintSizeTests {
    /// Every font size of a document (text and tspan), in points at its stated printed width:
    /// font-size × (inches × 72) / viewBox width, read back from the SVG.
    static func printedPoints(_ svg: String) throws -> [Double] {
        let root = try #require(svg.firstMatch(of: /<svg[^>]* width="([0-9.]+)in"[^>]* viewBox="0 0 ([0-9.]+) [0-9.]+"/))
        let pointsPerUnit = Double(root.output.1)! * 72 / Double(root.output.2)!
        return svg.matches(of: /<t(?:ext|span)[^>]* font-size="([0-9.]+)"/).map { Double($0.output.1)! * pointsPerUnit }
    }

    @Test func aPrintCanvasStatesItsWidthInInches() {
        let double = SVGCanvas(printWidth: .doubleColumn, height: 300).render()
        #expect(double.contains("width=\"6.75in\" height=\"3.125in\" viewBox=\"0 0 648.00 300.00\""))
        let single = SVGCanvas(printWidth: .singleColumn, height: 200).render()
        #expect(single.contains("width=\"3.25in\" height=\"2.0833in\" viewBox=\"0 0 312.00 200.00\""))
        // A canvas in pixels stays as it was.
        #expect(SVGCanvas(width: 900, height: 400).render().contains("width=\"900.00\" height=\"400.00\" viewBox=\"0 0 900.00 400.00\""))
        #expect(FigureWidth.singleColumn.fileName("curves.svg") == "curves-column.svg")
        #expect(FigureWidth.singleColumn.fileName("out/a.b/relu.svg") == "out/a.b/relu-column.svg")
        #expect(FigureWidth.singleColumn.fileName("plot") == "plot-column")
        #expect(FigureWidth.doubleColumn.fileName("curves.svg") == "curves.svg")
    }

    @Test func axesLegendsAndColourBarsOfAPrintCanvasPrintAtSevenToNinePoints() throws {
        for width in FigureWidth.allCases {
            var canvas = SVGCanvas(printWidth: width, height: 300)
            let x = Scale(domain: 1 ... 1e6, pixels: (60, canvas.width - 90), logarithmic: true)
            let y = Scale(domain: 0 ... 1, pixels: (220, 30))
            canvas.axes(x: x, y: y, xLabel: "λ_{max} (log scale)", yLabel: "fraction", data: ["panel": "p"])
            canvas.legendRows([("#000", "σ^{2L} = 1", .dashed), ("#f00", "measured", .marker)], x: 10, y: 260, width: canvas.width - 20)
            canvas.colorBar(.sequential(domain: 0 ... 1, label: "fraction"), x: canvas.width - 80, y: 30, length: 190)
            let points = try Self.printedPoints(canvas.render())
            #expect(points.count > 10)
            // 7.5 pt ticks, legends and colour-bar labels, 8 pt axis titles; scripts no smaller than 7 pt.
            for size in points { #expect(size >= 7 - 1e-9 && size <= 9 + 1e-9, "\(width): \(size) pt") }
            #expect(points.contains { abs($0 - 7.5) < 0.01 } && points.contains { abs($0 - 8) < 0.01 } && points.contains { abs($0 - 7) < 0.01 })
        }
        #expect(Typography.print.title * 0.75 == 9 && Typography.print.tick * 0.75 == 7.5)
    }

    @Test func scriptsAreRaisedAndLoweredTspans() {
        var canvas = SVGCanvas(width: 300, height: 100)
        canvas.text("σ^{2L} and λ_{max}", x: 10, y: 50, size: 12)
        // Raised by 0.38 em at 72 % size, back to the baseline, lowered by 0.22 em; 12 px text.
        // Spaces are preserved (librsvg drops the one that starts the tspan after a script).
        #expect(canvas.render().contains(
            " xml:space=\"preserve\">σ<tspan dy=\"-4.56\" font-size=\"8.64\">2L</tspan><tspan dy=\"4.56\"> and λ</tspan><tspan dy=\"2.64\" font-size=\"8.64\">max</tspan></text>"))
        var literal = SVGCanvas(width: 300, height: 100)
        literal.text("a^b, x_1, f^{ and W^{}", x: 10, y: 50)
        #expect(literal.render().contains(">a^b, x_1, f^{ and W^{}</text>"), "no braces, no script")
        #expect(SVGCanvas.plainText("‖W^{ℓ} − σI‖_{F}") == "‖Wℓ − σI‖F")
        #expect(SVGCanvas.estimatedTextWidth("σ^{2L}", size: 10) < SVGCanvas.estimatedTextWidth("σ2L", size: 10))
        // On a print canvas a script of 7.5 pt text stays at 7 pt, not 72 % of it.
        var print = SVGCanvas(printWidth: .singleColumn, height: 100)
        print.text("10^{5}", x: 10, y: 50, size: Typography.print.tick)
        #expect(print.render().contains("font-size=\"9.34\">5</tspan>"))
    }

    @Test func theTicksOfOneAxisShareAFormat() {
        // Issue 23 #11: "0.1, 10, 1000, 1e5 … 1e13" on one axis.
        #expect(tickLabels([0.1, 10, 1000, 1e5, 1e13], logarithmic: true) == ["10^{−1}", "10^{1}", "10^{3}", "10^{5}", "10^{13}"])
        #expect(tickLabels([0.01, 0.1, 1, 10, 100], logarithmic: true) == ["0.01", "0.1", "1", "10", "100"])
        #expect(tickLabels([2e-7, 5e-7, 1e-6], logarithmic: true) == ["2×10^{−7}", "5×10^{−7}", "10^{−6}"])
        #expect(tickLabels([1e-323, 2e-323], logarithmic: true) == ["10^{−323}", "2×10^{−323}"])
        #expect(tickLabels([0, 0.5, 1, 1.5], logarithmic: false) == ["0.0", "0.5", "1.0", "1.5"])
        #expect(tickLabels([-0.2, 0, 0.2], logarithmic: false) == ["-0.2", "0.0", "0.2"])
        #expect(tickLabels([0, 20, 40], logarithmic: false) == ["0", "20", "40"])
        #expect(tickLabels([0.25], logarithmic: false) == ["0.25"])
        // Axes write them so.
        var canvas = SVGCanvas(width: 400, height: 300)
        canvas.axes(x: Scale(domain: 0 ... 1.5, pixels: (60, 380)), y: Scale(domain: 0.1 ... 1e5, pixels: (250, 40), logarithmic: true),
                    xLabel: "x", yLabel: "y", yTicks: 6)
        let svg = canvas.render()
        #expect(svg.contains(">0.0</text>") && svg.contains(">1.5</text>") && !svg.contains(">1</text>"))
        #expect(svg.contains(" xml:space=\"preserve\">10<tspan dy=\"-4.18\" font-size=\"7.92\">5</tspan></text>"), "10⁵ with a superscript")
    }

    @Test func legendRowsWrapWithinTheirWidth() throws {
        var canvas = SVGCanvas(printWidth: .singleColumn, height: 200)
        let entries: [(color: String, label: String, style: LegendStyle)] = (1 ... 5).map { ("#000", "a label of some length \($0)", .line) }
        let bottom = canvas.legendRows(entries, x: 10, y: 20, width: 292)
        let labels = canvas.render().matches(of: /<text x="([0-9.]+)" y="([0-9.]+)" font-size="([0-9.]+)"[^>]*>a label/)
            .map { (Double($0.output.1)!, Double($0.output.2)!, Double($0.output.3)!) }
        #expect(labels.count == 5)
        for (x, _, size) in labels { #expect(x + SVGCanvas.estimatedTextWidth("a label of some length 1", size: size) <= 302 + 1e-9) }
        #expect(Set(labels.map(\.1)).count >= 3, "three or more rows in one column")
        #expect(bottom > labels.map(\.1).max()!)
    }

    @Test func aPrintFigureRasterisesAtItsPrintedSize() throws {
        guard FigureExport.rasteriser() != nil else { return }  // rsvg-convert missing: Scripts/test.sh installs it
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("print-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func pixels(_ url: URL) throws -> (Int, Int) {
            let bytes = [UInt8](try Data(contentsOf: url))
            func int(_ at: Int) -> Int { bytes[at ..< at + 4].reduce(0) { $0 << 8 | Int($1) } }
            return (int(16), int(20))
        }
        // 6.75 in × 2 in at 300 dpi: 2025 × 600, and 648 × 192 px zoomed from 96 to 300 dpi: the same.
        let inches = folder.appendingPathComponent("inches.png"), pixelled = folder.appendingPathComponent("pixels.png")
        try FigureExport.png(fromSVG: SVGCanvas(printWidth: .doubleColumn, height: 192).render(), to: inches)
        try FigureExport.png(fromSVG: SVGCanvas(width: 648, height: 192).render(), to: pixelled)
        #expect(try pixels(inches) == (2025, 600) && pixels(pixelled) == (2025, 600))
        let file = folder.appendingPathComponent("column.svg")
        try SVGCanvas(printWidth: .singleColumn, height: 96).write(to: file)
        try FigureExport.png(fromSVGFile: file, to: FigureExport.pngURL(besides: file))
        #expect(try pixels(folder.appendingPathComponent("column.png")) == (975, 300))
        #expect(FigureExport.statesPrintSize("<svg xmlns=\"x\" width=\"3.25in\" height=\"1in\">") && !FigureExport.statesPrintSize("<svg width=\"900\">"))
    }
}
