import Foundation
import Testing
@testable import Figures
import IsometrySupport

/// The shared drawing primitives: axes and frame, colour scales and bars, captions, numbers.
@Suite struct FigurePrimitiveTests {
    /// The (x1, y1, x2, y2, stroke) of every `<line>` and the order of elements.
    static func lines(_ svg: String) -> [(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String)] {
        svg.matches(of: /<line x1="([-0-9.]+)" y1="([-0-9.]+)" x2="([-0-9.]+)" y2="([-0-9.]+)" stroke="([^"]+)"/).map {
            (Double($0.output.1)!, Double($0.output.2)!, Double($0.output.3)!, Double($0.output.4)!, String($0.output.5))
        }
    }

    @Test func gridLinesStayInsideTheFrameAndTheFrameIsDrawnLast() {
        var canvas = SVGCanvas(width: 400, height: 300)
        // y ticks 0, 0.2, …, 1: the first and last fall on the frame's bottom and top.
        let x = Scale(domain: 0 ... 10, pixels: (60, 380))
        let y = Scale(domain: 0 ... 1, pixels: (250, 40))
        canvas.axes(x: x, y: y, xLabel: "x", yLabel: "y")
        let svg = canvas.render()
        let grid = Self.lines(svg).filter { $0.stroke == "#eee" }
        #expect(grid.count == 4, "0.2 … 0.8 only: \(grid)")
        for line in grid {
            #expect(line.y1 > 41 && line.y1 < 249)
            #expect(line.x1 > 60 && line.x2 < 380, "inside the frame: \(line)")
        }
        // The frame is the last shape: nothing drawn by axes lies over it.
        let lastShape = svg.split(separator: "\n").last { $0.hasPrefix("<rect") || $0.hasPrefix("<line") }
        #expect(lastShape == "<rect x=\"60.00\" y=\"40.00\" width=\"320.00\" height=\"210.00\" fill=\"none\" stroke=\"#444\" stroke-width=\"1.00\"/>")
    }

    @Test func fittedScaleIsSymmetricOnlyWhenBothSignsOccur() throws {
        let both = ColorScale.fitted(to: [-12.2, -3, .nan, 0.5, 6.8, -.infinity], label: "log10 mean λ")
        let expectedDomain: ClosedRange<Double> = -12.2 ... 6.8
        #expect(both.center == 0)
        #expect(both.domain == expectedDomain, "the bar spans the data, not ±12.2")
        #expect(both.position(0) == 0.5)
        #expect(both.position(-12.2) == 0)
        let top: Double = try #require(both.position(6.8))
        let expectedTop: Double = 0.5 + 0.5 * 6.8 / 12.2
        #expect(abs(top - expectedTop) < 1e-12, "equal depth for equal |value|")
        #expect(both.color(.nan) == both.missingColor && both.note == "symmetric about 0")
        let positive = ColorScale.fitted(to: [0.5, 2, 6.8], label: "v")
        let positiveDomain: ClosedRange<Double> = 0.5 ... 6.8
        #expect(positive.center == nil && positive.note == "data range")
        #expect(positive.domain == positiveDomain)
        #expect(positive.position(0.5) == 0)
        #expect(positive.position(6.8) == 1)
        let constant = ColorScale.fitted(to: [3, 3], label: "v")
        #expect(constant.position(3) == 0.5)
        let counts = ColorScale.sequential(domain: 1 ... 1000, label: "count", logarithmic: true)
        let ten: Double = try #require(counts.position(10))
        #expect(abs(ten - 1.0 / 3) < 1e-12)
        #expect(counts.position(0) == 0)
    }

    @Test func colorBarHasTicksTitleAndSeamlessCells() throws {
        var canvas = SVGCanvas(width: 200, height: 400)
        let scale = ColorScale.fitted(to: [-12.2, 6.8], label: "log10 mean λ")
        canvas.colorBar(scale, x: 20, y: 50, length: 300)
        let svg = canvas.render()
        let texts = svg.matches(of: /<text[^>]*>([^<]*)<\/text>/).map { String($0.output.1) }
        #expect(texts.contains("log10 mean λ (symmetric about 0)"))
        #expect(texts.contains("-12.2") && texts.contains("6.8") && texts.contains("0"), "\(texts)")
        #expect(!texts.contains("12.2"), "no end beyond the data: \(texts)")
        // Tick labels lie within the domain and are numbers.
        for label in texts.dropLast() { #expect(Double(label).map { (-12.2 ... 6.8).contains($0) } == true, "\(label)") }
        // The strip: cells in a crispEdges group, each reaching into the next, covering the length.
        let group = try #require(svg.firstMatch(of: /<g shape-rendering="crispEdges">([\s\S]*?)<\/g>/))
        let cells = group.output.1.matches(of: /<rect x="[-0-9.]+" y="([-0-9.]+)" width="[-0-9.]+" height="([-0-9.]+)"/)
            .map { (Double($0.output.1)!, Double($0.output.2)!) }.sorted { $0.0 < $1.0 }
        #expect(cells.count >= 100)
        #expect(abs(cells.first!.0 - 50) < 0.01 && abs(cells.last!.0 + cells.last!.1 - 350) < 0.01)
        for (a, b) in zip(cells, cells.dropFirst()) { #expect(a.0 + a.1 >= b.0, "no gap between \(a) and \(b)") }
        // Horizontal bars draw too, and the old call still works.
        var other = SVGCanvas(width: 400, height: 100)
        other.colorBar(.sequential(domain: 0 ... 1, label: "fraction"), x: 20, y: 10, length: 300, orientation: .horizontal)
        other.colorBar(.viridis, x: 10, y: 10, height: 80, low: 0, high: 1, label: "old")
        #expect(other.render().contains(">fraction</text>") && other.render().contains(">old</text>"))
    }

    @Test func numbersPrintWithoutNegativeZeroOrPlusMinus() {
        #expect(fixedDecimal(-0.001) == "0.00" && fixedDecimal(-0.0) == "0.00" && fixedDecimal(-1.234) == "-1.23")
        #expect(fixedDecimal(.nan) == "nan")
        #expect(signedTerm(-3.77) == "− 3.77" && signedTerm(3.77) == "+ 3.77" && signedTerm(-0.001) == "+ 0.00")
        #expect(signedZeroFree("[-0.00, 0.01] %") == "[0.00, 0.01] %")
        #expect(signedZeroFree("-0") == "0" && signedZeroFree("−0.0") == "0.0")
        #expect(signedZeroFree("-0.01 and 1e-07 and x-0 and -0e5") == "-0.01 and 1e-07 and x-0 and -0e5")
    }

    @Test func paragraphWrapsAndLabelsCarryData() {
        var canvas = SVGCanvas(width: 300, height: 200)
        let bottom = canvas.paragraph(String(repeating: "word ", count: 40), x: 10, y: 20, width: 200, size: 10)
        let svg = canvas.render()
        let lines = svg.matches(of: /<text[^>]*>([^<]*)<\/text>/).map { String($0.output.1) }
        #expect(lines.count > 1 && bottom > 20)
        for line in lines { #expect(SVGCanvas.estimatedTextWidth(line, size: 10) <= 200) }
        var labelled = SVGCanvas(width: 100, height: 100)
        labelled.text("15.40 %", x: 1, y: 1, data: ["quantity": "atom at λ = 0", "kind": "measured"])
        #expect(labelled.render().contains("data-kind=\"measured\" data-quantity=\"atom at λ = 0\">15.40 %</text>"))
    }

    /// Issue: `spectrum --sigma 0.5 --layers 300 --plot` (and σ = 1e40 at L = 2) trapped in the
    /// histogram's log bins once lo·hi under- or overflowed; now every range gets finite bins.
    @Test func logBinsTakeAnyFiniteRangeAndKeepOrdinaryOnesUnchanged() throws {
        // An ordinary narrow range: the edges the histogram always computed, bit for bit.
        let (lo, hi) = (0.3, 2.0)
        let (oldLo, oldHi) = (sqrt(lo * hi) / 10, sqrt(lo * hi) * 10)
        let (oldLogLo, oldLogHi) = (log10(oldLo) - 0.02, log10(oldHi) + 0.02)
        let ordinary = LogBins(low: lo, high: hi, count: 60)
        #expect(ordinary.edges == (0 ... 60).map { pow(10, oldLogLo + (oldLogHi - oldLogLo) * Double($0) / 60) })
        #expect(ordinary.index(of: 1) == Int((log10(1) - oldLogLo) / (oldLogHi - oldLogLo) * 60))
        let wide = LogBins(low: 1e-3, high: 1e5, count: 60)
        #expect(wide.logLow == log10(1e-3) - 0.02 && wide.logHigh == log10(1e5) + 0.02)

        // lo·hi = 1e-330 underflows and 1e321 overflows: centred in log space instead.
        let tiny = LogBins(low: 1e-166, high: 1e-165, count: 60)
        #expect(abs(tiny.logLow + 166.52) < 1e-9 && abs(tiny.logHigh + 164.48) < 1e-9)
        #expect(tiny.index(of: 2e-165) == 53 && tiny.index(of: 1e-165) == 44 && tiny.index(of: 1e-300) == 0 && tiny.index(of: 1) == 59)
        let huge = LogBins(low: 1e160, high: 1e161, count: 60)
        #expect(abs(huge.logLow - 159.48) < 1e-9 && abs(huge.logHigh - 161.52) < 1e-9)
        #expect(huge.edges.allSatisfy { $0.isFinite && $0 > 0 } && huge.index(of: 3e160) == 29)

        // The extremes of the doubles: edges stay normal and finite, values clamp to the ends.
        let all = LogBins(low: .leastNonzeroMagnitude, high: .greatestFiniteMagnitude, count: 60)
        #expect(all.edges.count == 61 && all.edges.allSatisfy { $0.isNormal })
        #expect(zip(all.edges, all.edges.dropFirst()).allSatisfy { $0 < $1 })
        #expect(all.index(of: .leastNonzeroMagnitude) == 0 && all.index(of: .greatestFiniteMagnitude) == 59)
        let subnormal = LogBins(low: 5e-324, high: 5e-324, count: 60)
        #expect(subnormal.edges.allSatisfy { $0.isNormal } && abs(subnormal.logLow - log10(Double.leastNormalMagnitude)) < 1e-8)
        #expect(subnormal.index(of: 5e-324) == 0)
        let top = LogBins(low: .greatestFiniteMagnitude, high: .greatestFiniteMagnitude, count: 60)
        #expect(top.edges.allSatisfy { $0.isFinite } && top.index(of: .greatestFiniteMagnitude) == 59)
        // What has no place on a log axis has no bin; nonsense bounds fall back to a decade pair.
        for value: Double in [0, -1, .infinity, -.infinity, .nan] { #expect(all.index(of: value) == nil, "\(value)") }
        let fallback = LogBins(low: .nan, high: .infinity, count: 0)
        #expect(fallback.count == 1 && fallback.edges.count == 2 && fallback.edges.allSatisfy { $0.isFinite && $0 > 0 })
    }

    /// Issue: log tick labels trapped on subnormal values (`spectrum sweep --q0-min 1e-323
    /// --q0-max 1e-322`): 10^-324 is 0 and the mantissa came out infinite.
    @Test func logAxesLabelSubnormalAndExtremeDomains() {
        #expect(tickLabel(1e-323, logarithmic: true) == "1e-323")
        #expect(tickLabel(2e-323, logarithmic: true) == "2e-323")
        #expect(tickLabel(5e-324, logarithmic: true) == "5e-324")
        #expect(tickLabel(1e-310, logarithmic: true) == "1e-310")
        #expect(tickLabel(1e-300, logarithmic: true) == "1e-300")
        #expect(tickLabel(1e308, logarithmic: true) == "1e308")
        #expect(tickLabel(2e-5, logarithmic: true) == "2e-5" && tickLabel(0.002, logarithmic: true) == "0.002")
        #expect(tickLabel(0, logarithmic: true) == "0" && tickLabel(-5, logarithmic: true) == "-5")
        #expect(tickLabel(.infinity, logarithmic: true) == "inf" && tickLabel(.nan, logarithmic: true) == "nan")

        let denormal = Scale(domain: 1e-323 ... 1e-322, pixels: (100, 500), logarithmic: true)
        let ticks = denormal.ticks()
        #expect(ticks == [1e-323, 2e-323, 5e-323, 1e-322])
        #expect(ticks.map { tickLabel($0, logarithmic: true) } == ["1e-323", "2e-323", "5e-323", "1e-322"])
        #expect(denormal(1e-323) == 100 && denormal(1e-322) == 500)
        #expect(denormal(0) == 100, "below the domain: its lower end")

        let extreme = Scale(domain: 1e-323 ... 1e308, pixels: (100, 500), logarithmic: true)
        #expect(extreme.ticks().map { tickLabel($0, logarithmic: true) } == ["1e-219", "1e-114", "1e-9", "1e96", "1e201", "1e306"])
        #expect(extreme(1e-323) == 100 && extreme(1e308) == 500)
        var canvas = SVGCanvas(width: 600, height: 400)
        canvas.axes(x: extreme, y: Scale(domain: 5e-324 ... .greatestFiniteMagnitude, pixels: (350, 50), logarithmic: true),
                    xLabel: "x", yLabel: "y")
        let svg = canvas.render()
        // Written as powers of ten with a superscript exponent, like every tick of the axis.
        #expect(svg.contains(">10<tspan dy=\"-4.18\" font-size=\"7.92\">−219</tspan></text>") && !svg.contains("nan") && !svg.contains("inf"))
        // Ordinary log axes keep their labels.
        let ordinary = Scale(domain: 1e-3 ... 1e5, pixels: (0, 1), logarithmic: true)
        #expect(ordinary.ticks().map { tickLabel($0, logarithmic: true) } == ["0.001", "0.01", "0.1", "1", "10", "100", "1000", "10000", "1e5"])
    }
}
