import Foundation
import Testing

/// Reading a figure back: its panels' frames (where the axes put them and what they span) and
/// its text as a reader sees it, superscripts and subscripts included, wrapped lines joined.
enum SVGReading {
    /// Pixel positions are written to 1/100 px: a marker and the frame that maps it (its left
    /// and its width) carry three roundings of at most 0.005 px, so they agree to 0.015 px.
    static let pixelTolerance = 0.02

    /// A panel's frame as `axes(…data:)` marks it: its pixel box and the scales' domains.
    struct Frame {
        var left: Double, top: Double, width: Double, height: Double
        var xDomain: (Double, Double), yDomain: (Double, Double)
        var xLog: Bool, yLog: Bool
        var right: Double { left + width }
        var bottom: Double { top + height }

        /// The pixel x of a data value, as the panel's scale maps it.
        func x(_ value: Double) -> Double {
            let (a, b, v) = xLog ? (log10(xDomain.0), log10(xDomain.1), log10(value)) : (xDomain.0, xDomain.1, value)
            return left + width * (v - a) / (b - a)
        }

        /// The pixel y of a data value (y grows upward from the frame's bottom).
        func y(_ value: Double) -> Double {
            let (a, b, v) = yLog ? (log10(yDomain.0), log10(yDomain.1), log10(value)) : (yDomain.0, yDomain.1, value)
            return bottom - height * (v - a) / (b - a)
        }
    }

    /// The frame marked `data-panel="name"`.
    static func frame(_ svg: String, panel: String) throws -> Frame {
        let rect = try #require(svg.matches(of: /<rect ([^>]*data-panel="([a-z-]+)"[^>]*)\/>/).first { $0.output.2 == panel },
                                "no frame of panel \(panel)")
        var attributes: [String: String] = [:]
        for a in rect.output.1.matches(of: /([a-z-]+)="([^"]*)"/) { attributes[String(a.output.1)] = String(a.output.2) }
        func number(_ key: String) throws -> Double { try #require(attributes[key].flatMap(Double.init), "\(panel): \(key)") }
        func pair(_ key: String) throws -> (Double, Double) {
            let values = try #require(attributes[key], "\(panel): \(key)").split(separator: " ").compactMap { Double($0) }
            try #require(values.count == 2)
            return (values[0], values[1])
        }
        return Frame(left: try number("x"), top: try number("y"), width: try number("width"), height: try number("height"),
                     xDomain: attributes["data-x-domain"] == nil ? (0, 1) : try pair("data-x-domain"), yDomain: try pair("data-y-domain"),
                     xLog: attributes["data-x-log"] == "true", yLog: attributes["data-y-log"] == "true")
    }

    struct Label {
        var content: String
        var attributes: [String: String]
    }

    /// The `<text>` elements: their text as read (tspans' text inline, entities decoded) and
    /// the `<text>` element's attributes.
    static func labels(_ svg: String) -> [Label] {
        func decode(_ s: some StringProtocol) -> String {
            String(s).replacingOccurrences(of: "<[^>]+>", with: "", options: .regularExpression)
                .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
                .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
        }
        return svg.matches(of: /<text([^>]*)>(.*?)<\/text>/).map { match in
            var attributes: [String: String] = [:]
            for a in match.output.1.matches(of: /([a-z-]+)="([^"]*)"/) { attributes[String(a.output.1)] = decode(a.output.2) }
            return Label(content: decode(match.output.2), attributes: attributes)
        }
    }

    /// All the figure's text in document order, one space between elements: a wrapped caption
    /// reads as one sentence again.
    static func text(_ svg: String) -> String {
        labels(svg).map(\.content).joined(separator: " ")
    }

    /// Every font size of the document in points at its stated printed width (font-size ×
    /// inches × 72 / viewBox width).
    static func printedPoints(_ svg: String) throws -> [Double] {
        let root = try #require(svg.firstMatch(of: /<svg[^>]* width="([0-9.]+)in"[^>]* viewBox="0 0 ([0-9.]+) [0-9.]+"/))
        let pointsPerUnit = Double(root.output.1)! * 72 / Double(root.output.2)!
        return svg.matches(of: /<t(?:ext|span)[^>]* font-size="([0-9.]+)"/).map { Double($0.output.1)! * pointsPerUnit }
    }
}
