import Foundation
import IsometrySupport

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

/// The tick labels of one axis, in one format: on a log axis either all as decimals or, when
/// any tick needs an exponent (below 0.001 or above 10,000), all as powers of ten with the
/// exponent as a superscript ("10^{5}", "2×10^{-7}"); on a linear axis with the same number of
/// decimals, those of the step ("0.0, 0.5, 1.0").
public func tickLabels(_ values: [Double], logarithmic: Bool) -> [String] {
    if logarithmic {
        let decades = values.filter { $0 > 0 && $0.isFinite }.map { Int(floor(log10($0) + 1e-9)) }
        guard decades.contains(where: { $0 < -3 || $0 > 4 }) else { return values.map { tickLabel($0, logarithmic: true) } }
        return values.map { value in
            guard value > 0, value.isFinite else { return tickLabel(value, logarithmic: false) }
            // tickLabel's own mantissa and exponent, which handle subnormal values.
            let parts = tickLabel(value, logarithmic: true).split(separator: "e")
            guard parts.count == 2 else {
                let exponent = Int(floor(log10(value) + 1e-9))
                let mantissa = (value / pow(10, Double(exponent))).rounded()
                return (mantissa == 1 ? "" : "\(Int(mantissa))×") + "10^{\(minusSign(exponent))}"
            }
            return (parts[0] == "1" ? "" : "\(parts[0])×") + "10^{\(minusSign(Int(parts[1]) ?? 0))}"
        }
    }
    let finite = values.filter(\.isFinite)
    guard finite.count > 1, let step = zip(finite, finite.dropFirst()).map({ abs($1 - $0) }).filter({ $0 > 0 }).min(),
          finite.allSatisfy({ abs($0) < 1e6 }), step >= 1e-6 else {
        return values.map { tickLabel($0, logarithmic: false) }
    }
    let decimals = max(0, Int(-floor(log10(step) + 1e-9)))
    return values.map { value in
        guard value.isFinite else { return tickLabel(value, logarithmic: false) }
        return signedZeroFree(String(format: "%.\(decimals)f", value))
    }
}

/// An exponent with a typographic minus: "−7".
private func minusSign(_ exponent: Int) -> String { exponent < 0 ? "−\(-exponent)" : "\(exponent)" }

extension SVGCanvas {
    /// Draws light grid lines, ticks, tick labels and axis titles for the two scales, and the
    /// frame last, so that no grid line lies over it.
    ///
    /// Grid lines stop half a pixel inside the frame and are skipped where a tick falls on the
    /// frame's top or bottom edge. Data drawn after `axes` may cover the frame's edges; call
    /// ``frame(x:y:data:)`` at the end to draw it again on top.
    ///
    /// `data` adds `data-…` attributes to the frame, e.g. `["panel": "loss"]`; the frame also
    /// carries the scales' domains (`data-x-domain="0 5"`, `data-y-domain`, and `data-x-log`/
    /// `data-y-log` for log scales), so that tests and tools can map what a panel draws back to
    /// data without knowing its layout.
    public mutating func axes(x: Scale, y: Scale, xLabel: String, yLabel: String?, xTicks: Int = 6, yTicks: Int = 5, gridLines: Bool = true,
                              data: [String: String] = [:]) {
        let (left, right) = (x.start, x.end)
        let (bottom, top) = (y.start, y.end)
        for tick in y.ticks(count: yTicks) {
            let py = y(tick)
            if gridLines && abs(py - top) > 1 && abs(py - bottom) > 1 {
                line(min(left, right) + 0.5, py, max(left, right) - 0.5, py, stroke: "#eee")
            }
        }
        let type = typography
        let xTickValues = x.ticks(count: xTicks)
        for (tick, label) in zip(xTickValues, tickLabels(xTickValues, logarithmic: x.logarithmic)) {
            let px = x(tick)
            line(px, bottom, px, bottom + 5, stroke: "#444")
            text(label, x: px, y: bottom + type.tickLabelOffset, size: type.tick, anchor: .middle)
        }
        // Without a y label the panel shares the y axis of its left neighbour.
        var widestTick = 0.0
        if yLabel != nil {
            let yTickValues = y.ticks(count: yTicks)
            for (tick, label) in zip(yTickValues, tickLabels(yTickValues, logarithmic: y.logarithmic)) {
                let py = y(tick)
                line(left - 5, py, left, py, stroke: "#444")
                text(label, x: left - 8, y: py + type.tick * 4 / 11, size: type.tick, anchor: .end)
                widestTick = max(widestTick, Self.estimatedTextWidth(label, size: type.tick))
            }
        }
        if !xLabel.isEmpty { text(xLabel, x: (left + right) / 2, y: bottom + type.xTitleOffset, size: type.label, anchor: .middle) }
        if let yLabel {
            // Rotated, the title's glyphs reach about 0.75 em left of its baseline.
            let offset = type.yTitleOffset ?? (8 + widestTick + 5 + type.label * 0.2)
            text(yLabel, x: left - offset, y: (top + bottom) / 2, size: type.label, anchor: .middle, rotate: -90)
        }
        frame(x: x, y: y, data: data)
    }

    /// How far left of its axis ``axes(x:y:xLabel:yLabel:xTicks:yTicks:gridLines:data:)`` reaches on
    /// this canvas with these y ticks: the tick labels and the rotated title, for layouts that
    /// place a panel beside its neighbour.
    public func leftMargin(y: Scale, yTicks: Int = 5) -> Double {
        let values = y.ticks(count: yTicks)
        let widest = tickLabels(values, logarithmic: y.logarithmic).map { Self.estimatedTextWidth($0, size: typography.tick) }.max() ?? 0
        return (typography.yTitleOffset ?? (8 + widest + 5 + typography.label * 0.2)) + typography.label * 0.8
    }

    /// The plot frame of two scales: a dark rectangle around their pixel ranges, unfilled.
    /// ``axes(x:y:xLabel:yLabel:xTicks:yTicks:gridLines:data:)`` draws it; draw it again after
    /// the data when bars or cells reach the frame's edges.
    ///
    /// With `data`, the frame carries it and the scales' domains as `data-…` attributes (see
    /// ``axes(x:y:xLabel:yLabel:xTicks:yTicks:gridLines:data:)``).
    public mutating func frame(x: Scale, y: Scale, data: [String: String] = [:]) {
        var attributes = data
        if !data.isEmpty {
            attributes["x-domain"] = "\(x.domain.lowerBound) \(x.domain.upperBound)"
            attributes["y-domain"] = "\(y.domain.lowerBound) \(y.domain.upperBound)"
            if x.logarithmic { attributes["x-log"] = "true" }
            if y.logarithmic { attributes["y-log"] = "true" }
        }
        rect(x: min(x.start, x.end), y: min(y.start, y.end), width: abs(x.end - x.start), height: abs(y.end - y.start),
             fill: "none", stroke: "#444", data: attributes)
    }

    /// The height of one legend entry.
    package static let legendRowHeight = 18.0

    /// The size of the box `legend` draws for these entries on a canvas of ``Typography/screen``
    /// sizes, for callers that place it (``legendBoxSize(_:)`` for this canvas's sizes).
    public static func legendSize(_ entries: [(color: String, label: String, style: LegendStyle)]) -> (width: Double, height: Double) {
        let widest = entries.map { Double($0.label.count) * 6.6 }.max() ?? 0
        return (widest + 40, legendRowHeight * Double(entries.count) + 8)
    }

    /// The size of the box `legend` draws for these entries on this canvas.
    public func legendBoxSize(_ entries: [(color: String, label: String, style: LegendStyle)]) -> (width: Double, height: Double) {
        let size = typography.tick
        let widest = entries.map { Self.estimatedTextWidth($0.label, size: size) * 0.6 / 0.55 }.max() ?? 0
        return (widest + 40, size * 18 / 11 * Double(entries.count) + 8)
    }

    /// A legend box: one entry per (colour, label, style).
    public mutating func legend(_ entries: [(color: String, label: String, style: LegendStyle)], x: Double, y: Double) {
        let rowHeight = typography.tick * 18 / 11
        let size = legendBoxSize(entries)
        rect(x: x, y: y, width: size.width, height: size.height, fill: "white", stroke: "#bbb", opacity: 0.9)
        for (index, entry) in entries.enumerated() {
            let cy = y + 4 + rowHeight * (Double(index) + 0.5)
            legendKey(entry.style, color: entry.color, x: x + 6, y: cy)
            text(entry.label, x: x + 32, y: cy + typography.tick * 4 / 11, size: typography.tick)
        }
    }

    /// Legend entries side by side in rows no wider than `width`, from `(x, y)` (the top of the
    /// first row), no box around them: a legend under the panels that covers no data. A label
    /// too long for a row of its own wraps beside its key. Returns the y below the last row.
    @discardableResult
    public mutating func legendRows(_ entries: [(color: String, label: String, style: LegendStyle)], x: Double, y: Double,
                                    width: Double) -> Double {
        let size = typography.tick
        let rowHeight = size * 1.5, lineHeight = size * 1.25, keyWidth = 26.0, gap = size * 1.2
        var (cx, cy) = (x, y + rowHeight / 2)
        var rowExtra = 0.0  // how far the row's wrapped labels reach below its first line
        for entry in entries {
            let lines = Self.wrapped(entry.label, width: width - keyWidth, size: size)
            let entryWidth = keyWidth + (lines.map { Self.estimatedTextWidth($0, size: size) }.max() ?? 0)
            if cx > x && cx + entryWidth > x + width {
                (cx, cy) = (x, cy + rowHeight + rowExtra)
                rowExtra = 0
            }
            legendKey(entry.style, color: entry.color, x: cx, y: cy)
            for (index, line) in lines.enumerated() {
                text(line, x: cx + keyWidth, y: cy + size * 4 / 11 + lineHeight * Double(index), size: size)
            }
            rowExtra = max(rowExtra, lineHeight * Double(max(lines.count - 1, 0)))
            cx += entryWidth + gap
        }
        return cy + rowHeight / 2 + rowExtra
    }

    /// The key of a legend entry, 20 px wide from `x`, centred on `y`.
    private mutating func legendKey(_ style: LegendStyle, color: String, x: Double, y: Double) {
        switch style {
        case .box: rect(x: x + 2, y: y - 6, width: 16, height: 12, fill: color)
        case .outline: rect(x: x + 2, y: y - 6, width: 16, height: 12, fill: "none", stroke: color, strokeWidth: 2)
        case .line: line(x, y, x + 20, y, stroke: color, width: 2)
        case .dashed: line(x, y, x + 20, y, stroke: color, width: 2, dash: "5,3")
        case .marker:
            line(x, y, x + 20, y, stroke: color, width: 2)
            circle(x: x + 10, y: y, radius: 3.5, fill: color)
        case .point: circle(x: x + 10, y: y, radius: 3.5, fill: color)
        }
    }
}

/// How a legend draws an entry's key: a filled or outlined box, a solid or dashed line, a line
/// with a marker, or a marker alone.
public enum LegendStyle: Sendable { case box, outline, line, dashed, marker, point }
