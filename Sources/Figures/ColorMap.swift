import Foundation

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

extension SVGCanvas {
    /// A vertical colour bar with labelled ends and middle.
    public mutating func colorBar(_ map: ColorMap, x: Double, y: Double, height: Double, low: Double, high: Double, label: String) {
        let steps = 64
        for k in 0 ..< steps {
            let t = Double(k) / Double(steps - 1)
            rect(x: x, y: y + height * (1 - Double(k + 1) / Double(steps)), width: 14, height: height / Double(steps) + 0.5, fill: map.hex(t))
        }
        rect(x: x, y: y, width: 14, height: height, fill: "none", stroke: "#444")
        for (t, value) in [(0.0, low), (0.5, (low + high) / 2), (1.0, high)] {
            text(tickLabel(value, logarithmic: false), x: x + 18, y: y + height * (1 - t) + 4, size: 10)
        }
        text(label, x: x + 46, y: y + height / 2, size: 11, anchor: .middle, rotate: 90)
    }
}
