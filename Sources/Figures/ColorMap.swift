import Foundation
import IsometrySupport

/// Colour maps for heat maps and image maps, as piecewise-linear interpolation between stops.
public struct ColorMap: Sendable {
    public let stops: [(Double, Double, Double)]

    /// Perceptually uniform, colour-blind safe, prints in grey: for magnitudes.
    public static let viridis = ColorMap(stops: [
        (0.267, 0.005, 0.329), (0.283, 0.141, 0.458), (0.254, 0.265, 0.530), (0.207, 0.372, 0.553),
        (0.164, 0.471, 0.558), (0.128, 0.567, 0.551), (0.135, 0.659, 0.518), (0.267, 0.749, 0.441),
        (0.478, 0.821, 0.318), (0.741, 0.873, 0.150), (0.993, 0.906, 0.144),
    ])

    /// Blue–white–red with white at 0.5: for signed maps with zero at the centre.
    public static let diverging = ColorMap(stops: [
        (0.020, 0.188, 0.380), (0.129, 0.400, 0.675), (0.263, 0.576, 0.765), (0.573, 0.773, 0.871),
        (0.820, 0.898, 0.941), (0.969, 0.969, 0.969), (0.992, 0.859, 0.780), (0.957, 0.647, 0.510),
        (0.839, 0.376, 0.302), (0.698, 0.094, 0.169), (0.404, 0.000, 0.122),
    ])

    /// RGB in [0, 1] at t ∈ [0, 1] (clamped).
    public func rgb(_ t: Double) -> (Double, Double, Double) {
        let clamped = t.isFinite ? min(max(t, 0), 1) : 0
        let position = clamped * Double(stops.count - 1)
        let index = min(Int(position), stops.count - 2)
        let f = position - Double(index)
        let (a, b) = (stops[index], stops[index + 1])
        return (a.0 + f * (b.0 - a.0), a.1 + f * (b.1 - a.1), a.2 + f * (b.2 - a.2))
    }

    /// A CSS colour at t.
    public func hex(_ t: Double) -> String {
        let (r, g, b) = rgb(t)
        return String(format: "#%02x%02x%02x", Int((r * 255).rounded()), Int((g * 255).rounded()), Int((b * 255).rounded()))
    }
}

/// A colour scale: how values become colours, and what its colour bar says.
///
/// Three kinds:
/// * ``ColorScale/sequential(_:domain:label:logarithmic:note:)``: `map` runs from `domain`'s lower end to its
///   upper end (linearly, or in log10 for counts spanning decades);
/// * ``ColorScale/diverging(_:domain:center:label:note:)``: `center` (usually 0) is the map's middle (white
///   for ``ColorMap/diverging``) and equal distances from it get equal colour depth on both
///   sides; the domain (what the bar shows) may be lopsided, e.g. −12 … +7;
/// * ``fitted(to:label:center:sequential:diverging:)`` chooses from the data: diverging and
///   symmetric about `center` only when values lie on both sides of it, sequential otherwise.
///
/// ``note`` says which was chosen, in words for the colour bar ("symmetric about 0").
/// ``color(_:)`` gives a CSS colour, ``missingColor`` for values that are NaN or infinite.
public struct ColorScale: Sendable {
    public var map: ColorMap
    /// The values the colour bar spans: the data's range, or a natural one such as 0 … 1.
    public var domain: ClosedRange<Double>
    /// For diverging scales: the value at the map's midpoint.
    public var center: Double?
    /// For diverging scales: the distance from `center` at which the map reaches its ends.
    package var halfRange: Double
    /// log10 spacing (sequential scales of positive values only).
    public var logarithmic: Bool
    /// What the values are, for the bar's title.
    public var label: String
    /// How the scale was chosen, in a few words (shown under the bar); nil for none.
    public var note: String?
    /// The colour of values that are NaN or infinite.
    package var missingColor = "#bbbbbb"

    /// `map` from `domain.lowerBound` (t = 0) to `domain.upperBound` (t = 1). A logarithmic
    /// scale needs a positive lower end; values at or below it get the map's first colour.
    public static func sequential(_ map: ColorMap = .viridis, domain: ClosedRange<Double>, label: String,
                                  logarithmic: Bool = false, note: String? = nil) -> ColorScale {
        ColorScale(map: map, domain: domain, center: nil, halfRange: 0, logarithmic: logarithmic && domain.lowerBound > 0,
                   label: label, note: note)
    }

    /// `center` at the map's midpoint, and `max(|domain − center|)` at its ends: colours are
    /// symmetric about `center`, the bar spans `domain` only.
    public static func diverging(_ map: ColorMap = .diverging, domain: ClosedRange<Double>, center: Double = 0,
                                 label: String, note: String? = nil) -> ColorScale {
        let half = max(abs(domain.lowerBound - center), abs(domain.upperBound - center))
        return ColorScale(map: map, domain: domain, center: center, halfRange: half > 0 && half.isFinite ? half : 1,
                          logarithmic: false, label: label, note: note ?? "symmetric about \(tickLabel(center, logarithmic: false))")
    }

    /// A scale chosen from the data (NaN and infinite values ignored): diverging and symmetric
    /// about `center` when values lie on both sides of it, otherwise `sequential` over the
    /// data's range. The bar spans the data's range either way. No finite values: 0 … 1.
    public static func fitted(to values: [Double], label: String, center: Double = 0,
                              sequential: ColorMap = .viridis, diverging: ColorMap = .diverging) -> ColorScale {
        let finite = values.filter(\.isFinite)
        guard let low = finite.min(), let high = finite.max() else {
            return .sequential(sequential, domain: 0 ... 1, label: label, note: "no finite values")
        }
        if low < center && high > center {
            return .diverging(diverging, domain: low ... high, center: center, label: label,
                              note: "symmetric about \(tickLabel(center, logarithmic: false))")
        }
        let domain = low < high ? low ... high : (low - 0.5) ... (high + 0.5)
        return .sequential(sequential, domain: domain, label: label, note: "data range")
    }

    /// The position in the map, 0 … 1, of `value` (clamped); nil for NaN and infinities.
    public func position(_ value: Double) -> Double? {
        guard value.isFinite else { return nil }
        let t: Double
        if let center {
            t = 0.5 + 0.5 * (value - center) / halfRange
        } else if logarithmic {
            let (a, b) = (log10(domain.lowerBound), log10(domain.upperBound))
            t = value <= 0 ? 0 : (b == a ? 0.5 : (log10(value) - a) / (b - a))
        } else {
            let span = domain.upperBound - domain.lowerBound
            t = span == 0 ? 0.5 : (value - domain.lowerBound) / span
        }
        return min(max(t, 0), 1)
    }

    /// The CSS colour of `value`; ``missingColor`` for NaN and infinities.
    public func color(_ value: Double) -> String {
        position(value).map(map.hex) ?? missingColor
    }
}

/// Where a colour bar stands beside its plot.
public enum ColorBarOrientation: Sendable { case vertical, horizontal }

extension SVGCanvas {
    /// The thickness of a colour bar's coloured strip, in pixels.
    package static let colorBarThickness = 14.0

    /// The room a colour bar takes across its length (strip, ticks, tick labels, title), for
    /// callers that place it: about 80 px beside a vertical bar, 50 px under a horizontal one.
    package static func colorBarBreadth(_ orientation: ColorBarOrientation) -> Double {
        orientation == .vertical ? 80 : 50
    }

    /// A colour legend for `scale`: a strip of its colours over `scale.domain`, ticks with
    /// labels, the scale's label as title and its note (how the scale was chosen) beside it.
    ///
    /// `(x, y)` is the strip's top-left corner; `length` its extent along the values (upward
    /// for a vertical bar, rightward for a horizontal one). Ticks: about `ticks` of them, 1-2-5
    /// steps (powers of ten on a log scale), plus the domain's ends when `labelEnds`. The strip
    /// is drawn as abutting one-pixel cells with `shape-rendering="crispEdges"`: no seams and
    /// no gradient definitions (whose ids would clash between SVGs inlined in one HTML page).
    ///
    /// ```swift
    /// let scale = ColorScale.fitted(to: values, label: "log10 mean λ")
    /// canvas.colorBar(scale, x: 400, y: 60, length: 300)
    /// ```
    public mutating func colorBar(_ scale: ColorScale, x: Double, y: Double, length: Double,
                                  orientation: ColorBarOrientation = .vertical, ticks: Int = 5, labelEnds: Bool = true) {
        let thickness = Self.colorBarThickness
        let steps = max(2, min(256, Int(length.rounded())))
        // The values along the strip, in the scale's own spacing.
        let axis = Scale(domain: scale.domain, pixels: orientation == .vertical ? (y + length, y) : (x, x + length),
                         logarithmic: scale.logarithmic)
        func value(atFraction f: Double) -> Double {
            let (a, b) = (scale.domain.lowerBound, scale.domain.upperBound)
            return scale.logarithmic ? pow(10, log10(a) + f * (log10(b) - log10(a))) : a + f * (b - a)
        }
        group("shape-rendering=\"crispEdges\"") { canvas in
            for k in 0 ..< steps {
                let f0 = Double(k) / Double(steps), f1 = Double(k + 1) / Double(steps)
                let color = scale.color(value(atFraction: (f0 + f1) / 2))
                // Each cell reaches one pixel into the next, which is drawn over it.
                let extra = k == steps - 1 ? 0 : 1.0
                switch orientation {
                case .vertical:
                    let top = y + length * (1 - f1)
                    canvas.rect(x: x, y: top - extra, width: thickness, height: length * (f1 - f0) + extra, fill: color)
                case .horizontal:
                    canvas.rect(x: x + length * f0, y: y, width: length * (f1 - f0) + extra, height: thickness, fill: color)
                }
            }
        }
        rect(x: x, y: y, width: orientation == .vertical ? thickness : length, height: orientation == .vertical ? length : thickness,
             fill: "none", stroke: "#444")
        var values = axis.ticks(count: ticks)
        if labelEnds {
            // The ends, unless a tick already sits within a label's height of them.
            let minimumGap = orientation == .vertical ? 12.0 : 30.0
            for end in [scale.domain.lowerBound, scale.domain.upperBound]
            where !values.contains(where: { abs(axis($0) - axis(end)) < minimumGap }) {
                values.append(end)
            }
        }
        if let center = scale.center, scale.domain.contains(center), !values.contains(center) { values.append(center) }
        values.sort()
        // Screen figures keep their 10 px labels; print figures use the canvas's tick size.
        let size = printWidth == nil ? 10.0 : typography.tick
        for value in values {
            let p = axis(value)
            let label = colorBarLabel(value, scale: scale)
            switch orientation {
            case .vertical:
                line(x + thickness, p, x + thickness + 4, p, stroke: "#444")
                text(label, x: x + thickness + 6, y: p + 3.5, size: size)
            case .horizontal:
                line(p, y + thickness, p, y + thickness + 4, stroke: "#444")
                text(label, x: p, y: y + thickness + 15, size: size, anchor: .middle)
            }
        }
        let title = scale.note.map { "\(scale.label) (\($0))" } ?? scale.label
        switch orientation {
        case .vertical:
            let widest = values.map { Self.estimatedTextWidth(colorBarLabel($0, scale: scale), size: size) }.max() ?? 0
            text(title, x: x + thickness + 12 + widest + 6, y: y + length / 2, size: typography.tick, anchor: .middle, rotate: 90)
        case .horizontal:
            text(title, x: x + length / 2, y: y + thickness + 30, size: typography.tick, anchor: .middle)
        }
    }

    /// A vertical colour bar for `map` from `low` to `high`, linear, with ticks: the
    /// ``colorBar(_:x:y:length:orientation:ticks:labelEnds:)`` of a sequential scale.
    public mutating func colorBar(_ map: ColorMap, x: Double, y: Double, height: Double, low: Double, high: Double, label: String) {
        colorBar(.sequential(map, domain: min(low, high) ... max(low, high), label: label), x: x, y: y, length: height)
    }

    private func colorBarLabel(_ value: Double, scale: ColorScale) -> String {
        // Ends from data get three significant digits, not seventeen.
        let rounded = abs(value) >= 1e-3 && abs(value) < 1e5 ? Double(String(format: "%.3g", value)) ?? value : value
        return signedZeroFree(tickLabel(rounded, logarithmic: false))
    }
}
