import Foundation

/// A map from data to pixels along one axis, linear or base-10 logarithmic.
public struct Scale: Sendable {
    public var domain: ClosedRange<Double>
    /// Pixel positions of the domain's lower and upper ends (upper may be the smaller, as on
    /// a y axis that grows upward).
    public var start: Double
    public var end: Double
    public var logarithmic: Bool

    public init(domain: ClosedRange<Double>, pixels: (Double, Double), logarithmic: Bool = false) {
        self.domain = domain
        (start, end) = pixels
        self.logarithmic = logarithmic
    }

    public func callAsFunction(_ x: Double) -> Double {
        // Values at or below 0 sit at the smallest normal double, or at the domain's lower end
        // when that is subnormal (a domain of 1e-323 … 1e-322 is drawn, not collapsed).
        let smallest = domain.lowerBound > 0 ? min(domain.lowerBound, .leastNormalMagnitude) : .leastNormalMagnitude
        let (a, b, v) = logarithmic
            ? (log10(domain.lowerBound), log10(domain.upperBound), log10(max(x, smallest)))
            : (domain.lowerBound, domain.upperBound, x)
        let t = b == a ? 0.5 : (v - a) / (b - a)
        return start + t * (end - start)
    }

    /// Tick positions: powers of ten on a log scale (thinned to about `count`), otherwise
    /// 1-2-5 steps.
    public func ticks(count: Int = 6) -> [Double] {
        // A domain from data that is not finite (a distance of infinity, a NaN loss) gets no
        // ticks rather than a stride over an infinite range.
        let (low, high) = (domain.lowerBound, domain.upperBound)
        guard low.isFinite, high.isFinite, !logarithmic || low > 0 else { return [] }
        if logarithmic {
            let lo = Int(floor(log10(domain.lowerBound))), hi = Int(ceil(log10(domain.upperBound)))
            // Short ranges get 1-2-5 ticks inside each decade as well.
            let mantissas: [Double] = domain.upperBound / domain.lowerBound < 100 ? [1, 2, 5] : [1]
            let step = max(1, (hi - lo) / max(count, 1))
            return stride(from: lo, through: hi, by: step).flatMap { k in mantissas.map { $0 * pow(10, Double(k)) } }
                .filter { domain.contains($0) }
        }
        let span = domain.upperBound - domain.lowerBound
        guard span > 0 else { return [domain.lowerBound] }
        let raw = span / Double(max(count, 1))
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        // Spans far below the data's magnitude (subnormal steps) round to nothing: one tick.
        guard step > 0, step.isNormal, span / step <= 1000 else { return [domain.lowerBound] }
        let first = ceil(domain.lowerBound / step) * step
        return stride(from: first, through: domain.upperBound + step * 1e-9, by: step).map { abs($0) < step * 1e-9 ? 0 : $0 }
    }
}

/// Tick labels: 10^k for logarithmic ticks, shortest decimal otherwise.
public func tickLabel(_ value: Double, logarithmic: Bool) -> String {
    if logarithmic {
        // 0, negatives, infinity and NaN have no exponent; they are written as numbers.
        guard value > 0, value.isFinite else { return tickLabel(value, logarithmic: false) }
        var exponent = Int(floor(log10(value) + 1e-9))
        let mantissa: Double
        if exponent >= -300 {
            mantissa = (value / pow(10, Double(exponent))).rounded()
        } else {
            // Near and below the smallest normal double, 10^k is subnormal or 0 and the
            // division above returns ∞: printf's own rounding gives mantissa and exponent.
            let parts = String(format: "%.0e", value).split(separator: "e")
            mantissa = Double(parts[0]) ?? 1
            exponent = Int(parts[1]) ?? exponent
        }
        if exponent >= -3 && exponent <= 4 {
            return tickLabel(mantissa * pow(10, Double(exponent)), logarithmic: false)
        }
        return mantissa == 1 ? "1e\(exponent)" : "\(Int(mantissa))e\(exponent)"
    }
    if value == value.rounded() && abs(value) < 1e6 { return String(Int(value)) }
    var text = String(format: "%.3g", value)
    if text.contains("e") { return text }
    while text.contains(".") && (text.hasSuffix("0") || text.hasSuffix(".")) { text.removeLast() }
    return text
}

extension SVGCanvas {
    /// Draws light grid lines, ticks, tick labels and axis titles for the two scales, and the
    /// frame last, so that no grid line lies over it.
    ///
    /// Grid lines stop half a pixel inside the frame and are skipped where a tick falls on the
    /// frame's top or bottom edge. Data drawn after `axes` may cover the frame's edges; call
    /// ``frame(x:y:)`` at the end to draw it again on top.
    public mutating func axes(x: Scale, y: Scale, xLabel: String, yLabel: String?, xTicks: Int = 6, yTicks: Int = 5, gridLines: Bool = true) {
        let (left, right) = (x.start, x.end)
        let (bottom, top) = (y.start, y.end)
        for tick in y.ticks(count: yTicks) {
            let py = y(tick)
            if gridLines && abs(py - top) > 1 && abs(py - bottom) > 1 {
                line(min(left, right) + 0.5, py, max(left, right) - 0.5, py, stroke: "#eee")
            }
        }
        for tick in x.ticks(count: xTicks) {
            let px = x(tick)
            line(px, bottom, px, bottom + 5, stroke: "#444")
            text(tickLabel(tick, logarithmic: x.logarithmic), x: px, y: bottom + 18, size: 11, anchor: .middle)
        }
        // Without a y label the panel shares the y axis of its left neighbour.
        if yLabel != nil {
            for tick in y.ticks(count: yTicks) {
                let py = y(tick)
                line(left - 5, py, left, py, stroke: "#444")
                text(tickLabel(tick, logarithmic: y.logarithmic), x: left - 8, y: py + 4, size: 11, anchor: .end)
            }
        }
        text(xLabel, x: (left + right) / 2, y: bottom + 38, size: 13, anchor: .middle)
        if let yLabel { text(yLabel, x: left - 48, y: (top + bottom) / 2, size: 13, anchor: .middle, rotate: -90) }
        frame(x: x, y: y)
    }

    /// The plot frame of two scales: a dark rectangle around their pixel ranges, unfilled.
    /// ``axes(x:y:xLabel:yLabel:xTicks:yTicks:gridLines:)`` draws it; draw it again after
    /// the data when bars or cells reach the frame's edges.
    public mutating func frame(x: Scale, y: Scale) {
        rect(x: min(x.start, x.end), y: min(y.start, y.end), width: abs(x.end - x.start), height: abs(y.end - y.start),
             fill: "none", stroke: "#444")
    }

    /// The height of one legend entry.
    package static let legendRowHeight = 18.0

    /// The size of the box `legend` draws for these entries, for callers that place it.
    public static func legendSize(_ entries: [(color: String, label: String, style: LegendStyle)]) -> (width: Double, height: Double) {
        let widest = entries.map { Double($0.label.count) * 6.6 }.max() ?? 0
        return (widest + 40, legendRowHeight * Double(entries.count) + 8)
    }

    /// A legend box: one entry per (colour, label, style).
    public mutating func legend(_ entries: [(color: String, label: String, style: LegendStyle)], x: Double, y: Double) {
        let rowHeight = Self.legendRowHeight
        let size = Self.legendSize(entries)
        rect(x: x, y: y, width: size.width, height: size.height, fill: "white", stroke: "#bbb", opacity: 0.9)
        for (index, entry) in entries.enumerated() {
            let cy = y + 4 + rowHeight * (Double(index) + 0.5)
            switch entry.style {
            case .box: rect(x: x + 8, y: cy - 6, width: 16, height: 12, fill: entry.color)
            case .outline: rect(x: x + 8, y: cy - 6, width: 16, height: 12, fill: "none", stroke: entry.color, strokeWidth: 2)
            case .line: line(x + 6, cy, x + 26, cy, stroke: entry.color, width: 2)
            case .dashed: line(x + 6, cy, x + 26, cy, stroke: entry.color, width: 2, dash: "5,3")
            }
            text(entry.label, x: x + 32, y: cy + 4, size: 11)
        }
    }
}

public enum LegendStyle: Sendable { case box, outline, line, dashed }
