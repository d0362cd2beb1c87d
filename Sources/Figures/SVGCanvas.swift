import Foundation
import IsometrySupport

/// A minimal SVG writer: shapes and text in pixel coordinates, rendered as one standalone
/// document that browsers, Inkscape and LaTeX (via svg → pdf) all read.
public struct SVGCanvas {
    public let width: Double
    public let height: Double
    private var elements: [String] = []

    public init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    /// `data` adds `data-…` attributes, as for ``text(_:x:y:size:anchor:rotate:weight:fill:halo:data:)``.
    public mutating func rect(x: Double, y: Double, width: Double, height: Double,
                              fill: String, stroke: String? = nil, strokeWidth: Double = 1, opacity: Double = 1, data: [String: String] = [:]) {
        var attributes = "x=\"\(n(x))\" y=\"\(n(y))\" width=\"\(n(max(0, width)))\" height=\"\(n(max(0, height)))\" fill=\"\(fill)\""
        if let stroke { attributes += " stroke=\"\(stroke)\" stroke-width=\"\(n(strokeWidth))\"" }
        if opacity < 1 { attributes += " fill-opacity=\"\(n(opacity))\"" }
        attributes += dataAttributes(data)
        elements.append("<rect \(attributes)/>")
    }

    public mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double,
                              stroke: String = "#000", width: Double = 1, dash: String? = nil) {
        let dashAttribute = dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
        elements.append("<line x1=\"\(n(x1))\" y1=\"\(n(y1))\" x2=\"\(n(x2))\" y2=\"\(n(y2))\" stroke=\"\(stroke)\" stroke-width=\"\(n(width))\"\(dashAttribute)/>")
    }

    public mutating func polyline(_ points: [(Double, Double)], stroke: String, width: Double = 1.5, dash: String? = nil,
                                  data: [String: String] = [:]) {
        guard points.count > 1 else { return }
        let text = points.map { "\(n($0.0)),\(n($0.1))" }.joined(separator: " ")
        let dashAttribute = dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
        elements.append("<polyline points=\"\(text)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(n(width))\" stroke-linejoin=\"round\"\(dashAttribute)\(dataAttributes(data))/>")
    }

    /// `data` adds `data-…` attributes as ``text(_:x:y:size:anchor:rotate:weight:fill:halo:data:)``
    /// does, so that tests can find which series and value a marker stands for.
    public mutating func circle(x: Double, y: Double, radius: Double, fill: String, stroke: String? = nil, data: [String: String] = [:]) {
        let strokeAttribute = stroke.map { " stroke=\"\($0)\"" } ?? ""
        elements.append("<circle cx=\"\(n(x))\" cy=\"\(n(y))\" r=\"\(n(radius))\" fill=\"\(fill)\"\(strokeAttribute)\(dataAttributes(data))/>")
    }

    public enum Anchor: String { case start, middle, end }

    /// With `halo`, the text gets a white outline so that it stays readable over plotted lines.
    ///
    /// `data` adds `data-…` attributes (sorted by key), for labels that show a number computed
    /// elsewhere: `["quantity": "mean"]` renders as `data-quantity="mean"`, so tests and tools
    /// can find which number a label shows without parsing its position.
    public mutating func text(_ content: String, x: Double, y: Double, size: Double = 12,
                              anchor: Anchor = .start, rotate: Double? = nil, weight: String = "normal", fill: String = "#222",
                              halo: Bool = false, data: [String: String] = [:]) {
        let transform = rotate.map { " transform=\"rotate(\(n($0)) \(n(x)) \(n(y)))\"" } ?? ""
        let outline = halo ? " stroke=\"white\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\"" : ""
        elements.append("<text x=\"\(n(x))\" y=\"\(n(y))\" font-size=\"\(n(size))\" text-anchor=\"\(anchor.rawValue)\" font-weight=\"\(weight)\" fill=\"\(fill)\"\(outline)\(transform)\(dataAttributes(data))>\(escape(content))</text>")
    }

    /// An approximate text width in pixels for Helvetica/Arial at `size` (0.55 em per
    /// character), for layout: wrapping captions and placing legends.
    package static func estimatedTextWidth(_ content: String, size: Double) -> Double {
        Double(content.count) * size * 0.55
    }

    /// Text wrapped at word boundaries to lines no wider than `width` (estimated), starting
    /// with its first baseline at `y`; returns the y just below the last line. For captions:
    /// what a figure plots, from how many samples.
    @discardableResult
    public mutating func paragraph(_ content: String, x: Double, y: Double, width: Double, size: Double = 11,
                                   lineHeight: Double? = nil, fill: String = "#444") -> Double {
        let step = lineHeight ?? size * 1.35
        var lines: [String] = []
        var current = ""
        for word in content.split(separator: " ", omittingEmptySubsequences: true) {
            let candidate = current.isEmpty ? String(word) : current + " " + word
            if !current.isEmpty && Self.estimatedTextWidth(candidate, size: size) > width {
                lines.append(current)
                current = String(word)
            } else {
                current = candidate
            }
        }
        if !current.isEmpty { lines.append(current) }
        for (index, line) in lines.enumerated() {
            text(line, x: x, y: y + step * Double(index), size: size, fill: fill)
        }
        return y + step * Double(max(lines.count - 1, 0)) + step * 0.5
    }

    /// Draws `body` inside a `<g>` element with the given attributes, e.g.
    /// `shape-rendering="crispEdges"` for heat-map cells that must meet without seams.
    public mutating func group(_ attributes: String, _ body: (inout SVGCanvas) -> Void) {
        elements.append("<g \(attributes)>")
        body(&self)
        elements.append("</g>")
    }

    /// Raw SVG, for what the helpers do not cover.
    public mutating func raw(_ element: String) { elements.append(element) }

    public func render() -> String {
        """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(n(width))" height="\(n(height))" viewBox="0 0 \(n(width)) \(n(height))" font-family="Helvetica, Arial, sans-serif">
        <rect width="100%" height="100%" fill="white"/>
        \(elements.joined(separator: "\n"))
        </svg>

        """
    }

    /// Writes the document durably (``AtomicFile``: temporary file, fsync, rename; a device,
    /// FIFO, folder or symbolic link at `url` is refused, never replaced).
    public func write(to url: URL) throws(FileWriteError) {
        try AtomicFile.write(render(), to: url)
    }

    private func dataAttributes(_ data: [String: String]) -> String {
        data.keys.sorted().map { " data-\($0)=\"\(escape(data[$0]!).replacingOccurrences(of: "\"", with: "&quot;"))\"" }.joined()
    }

    private func n(_ x: Double) -> String {
        x.isFinite ? String(format: "%.2f", x) : "0"
    }

    private func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
