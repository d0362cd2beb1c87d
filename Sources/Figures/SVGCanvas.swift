import Foundation
import IsometrySupport

/// A minimal SVG writer: shapes and text in pixel coordinates, rendered as one standalone
/// document that browsers, Inkscape and LaTeX (via svg → pdf) all read.
///
/// Text may carry superscripts and subscripts: `^{…}` and `_{…}` around one word (no space or
/// brace inside) are set as raised or lowered `<tspan>`s at 72 % of the size (on a print canvas
/// no smaller than 7 pt), so that "σ^{2L}" and "λ_{max}" read as mathematics. Any other `^` or
/// `_` is written as it is.
public struct SVGCanvas {
    public let width: Double
    /// The height, which a figure may set once its content is laid out.
    public var height: Double
    /// The printed width the canvas is laid out at (stated in the document in inches); nil for
    /// a figure in pixels for the screen.
    public let printWidth: FigureWidth?
    /// The text sizes of the canvas's axes, legends and colour bars.
    public var typography: Typography
    private var elements: [String] = []

    /// A canvas in pixels with no stated print width (``Typography/screen`` text sizes).
    public init(width: Double, height: Double) {
        self.width = width
        self.height = height
        printWidth = nil
        typography = .screen
    }

    /// A canvas laid out at its printed width, `printWidth.pixels` wide (one pixel is 1/96 in),
    /// with ``Typography/print`` text sizes; its document states the width and height in inches.
    public init(printWidth: FigureWidth, height: Double) {
        width = printWidth.pixels
        self.height = height
        self.printWidth = printWidth
        typography = .print
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
        // With scripts, spaces are preserved: librsvg drops the space at the start of the tspan
        // that follows a script ("σ_{w} = 1" would print "σw= 1"), even a no-break one.
        let preserve = Self.scriptRuns(content).contains { $0.shift != 0 } ? " xml:space=\"preserve\"" : ""
        elements.append("<text x=\"\(n(x))\" y=\"\(n(y))\" font-size=\"\(n(size))\" text-anchor=\"\(anchor.rawValue)\" font-weight=\"\(weight)\" fill=\"\(fill)\"\(outline)\(transform)\(dataAttributes(data))\(preserve)>\(scripted(content, size: size))</text>")
    }

    /// The pieces of text with `^{…}` and `_{…}` markup: plain runs (shift 0) and scripts
    /// (shift +1 raised, −1 lowered).
    static func scriptRuns(_ content: String) -> [(text: String, shift: Int)] {
        var runs: [(text: String, shift: Int)] = []
        var plain = ""
        var rest = Substring(content)
        while let index = rest.firstIndex(where: { $0 == "^" || $0 == "_" }) {
            let afterMark = rest.index(after: index)
            // A script is braces around one word: no space, no brace inside.
            guard afterMark < rest.endIndex, rest[afterMark] == "{", let close = rest[afterMark...].firstIndex(of: "}"),
                  case let script = rest[rest.index(after: afterMark) ..< close],
                  !script.isEmpty, !script.contains(" "), !script.contains("{") else {
                plain += rest[...index]
                rest = rest[afterMark...]
                continue
            }
            plain += rest[..<index]
            if !plain.isEmpty { runs.append((plain, 0)) }
            plain = ""
            runs.append((String(script), rest[index] == "^" ? 1 : -1))
            rest = rest[rest.index(after: close)...]
        }
        plain += rest
        if !plain.isEmpty { runs.append((plain, 0)) }
        return runs
    }

    /// The size of a superscript or subscript of text at `size`.
    func scriptSize(_ size: Double) -> Double {
        let floor = min(typography.smallestScript, size)
        guard size * 0.72 < floor else { return size * 0.72 }
        // Up to the written precision (1/100 px), so that the floor survives the rounding.
        return (floor * 100).rounded(.up) / 100
    }

    /// Escaped text, its scripts as `<tspan>`s shifted by `dy` and back.
    private func scripted(_ content: String, size: Double) -> String {
        let runs = Self.scriptRuns(content)
        guard runs.contains(where: { $0.shift != 0 }) else { return escape(content) }
        var result = ""
        var offset = 0.0  // the baseline shift in force, to return from
        for run in runs {
            let shift = run.shift > 0 ? -0.38 * size : run.shift < 0 ? 0.22 * size : 0
            let dy = shift - offset
            offset = shift
            if run.shift == 0 {
                result += dy == 0 ? escape(run.text) : "<tspan dy=\"\(n(dy))\">\(escape(run.text))</tspan>"
            } else {
                result += "<tspan dy=\"\(n(dy))\" font-size=\"\(n(scriptSize(size)))\">\(escape(run.text))</tspan>"
            }
        }
        return result
    }

    /// An approximate text width in pixels for Helvetica/Arial at `size` (0.55 em per
    /// character, scripts at their smaller size), for layout: wrapping captions and placing
    /// legends.
    package static func estimatedTextWidth(_ content: String, size: Double) -> Double {
        scriptRuns(content).reduce(0) { $0 + Double($1.text.count) * ($1.shift == 0 ? 1 : 0.8) } * size * 0.55
    }

    /// The plain text of a string with `^{…}`/`_{…}` markup: what a reader of the figure sees
    /// ("σ^{2L}" → "σ2L"), for tests and tools that read labels back.
    public static func plainText(_ content: String) -> String {
        scriptRuns(content).map(\.text).joined()
    }

    /// Text wrapped at word boundaries to lines no wider than `width` (estimated), starting
    /// with its first baseline at `y`; returns the y just below the last line. For captions:
    /// what a figure plots, from how many samples.
    @discardableResult
    public mutating func paragraph(_ content: String, x: Double, y: Double, width: Double, size: Double = 11,
                                   lineHeight: Double? = nil, fill: String = "#444", anchor: Anchor = .start,
                                   weight: String = "normal") -> Double {
        let step = lineHeight ?? size * 1.35
        let lines = Self.wrapped(content, width: width, size: size)
        for (index, line) in lines.enumerated() {
            text(line, x: x, y: y + step * Double(index), size: size, anchor: anchor, weight: weight, fill: fill)
        }
        return y + step * Double(max(lines.count - 1, 0)) + step * 0.5
    }

    /// The lines ``paragraph(_:x:y:width:size:lineHeight:fill:anchor:weight:)`` breaks
    /// `content` into (at spaces, each line no wider than `width` as estimated, a single word
    /// longer than that on a line of its own), for layouts that need the height first.
    public static func wrapped(_ content: String, width: Double, size: Double) -> [String] {
        var lines: [String] = []
        var current = ""
        for word in content.split(separator: " ", omittingEmptySubsequences: true) {
            let candidate = current.isEmpty ? String(word) : current + " " + word
            if !current.isEmpty && estimatedTextWidth(candidate, size: size) > width {
                lines.append(current)
                current = String(word)
            } else {
                current = candidate
            }
        }
        if !current.isEmpty { lines.append(current) }
        return lines
    }

    /// The height a paragraph of `content` takes from its first baseline to the y it returns.
    public static func paragraphHeight(_ content: String, width: Double, size: Double, lineHeight: Double? = nil) -> Double {
        let step = lineHeight ?? size * 1.35
        return step * Double(max(wrapped(content, width: width, size: size).count - 1, 0)) + step * 0.5
    }

    /// A figure's title at the top of the canvas, bold, centred and wrapped to its width;
    /// returns the y below it.
    @discardableResult
    public mutating func figureTitle(_ title: String) -> Double {
        let size = typography.title
        return paragraph(title, x: width / 2, y: 4 + size, width: width - 12, size: size, fill: "#222", anchor: .middle, weight: "bold") + 6
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

    /// The standalone document. A canvas with a print width states its size in inches
    /// (`width="6.75in"`), which browsers show at 96 pixels an inch, as before, and Inkscape,
    /// LaTeX and rsvg-convert take as the printed size.
    public func render() -> String {
        let size = printWidth.map { _ in "width=\"\(inches(width))in\" height=\"\(inches(height))in\"" }
            ?? "width=\"\(n(width))\" height=\"\(n(height))\""
        return """
        <svg xmlns="http://www.w3.org/2000/svg" \(size) viewBox="0 0 \(n(width)) \(n(height))" font-family="Helvetica, Arial, sans-serif">
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

    /// Pixels in inches, to 1/10,000 in (1/100 px).
    private func inches(_ pixels: Double) -> String {
        var text = String(format: "%.4f", pixels / 96)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    private func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
