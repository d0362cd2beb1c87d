import Figures
import Foundation
import IsometrySupport
import Interpretation
import Networks

// The interpreter's figures: per-layer plots and the confusion matrix as SVG, grids of PNG maps
// with their colour legends, as pieces of a self-contained HTML page (docs/interpretation.md).
// Each figure can also be written as a standalone SVG (and PNG) for print.
//
// Every number a figure or caption prints that report.json also holds is marked with
// `data-json="path.in.report.json"` (and `data-scale` when printed as a percentage), and every
// printed colour-scale limit with `data-maxabs="map.npy:i,j"` (the largest |value| of that slice
// of maps/map.npy), so that a test can check each against the report's numbers.

// MARK: Numbers


/// A number that report.json holds, printed and marked for the consistency test: `path` is its
/// dotted path in report.json (array indices as numbers), `scale` 100 for a percentage.
func jsonNumber(_ value: Double, path: String, decimals: Int, scale: Double = 1, minus: String? = nil) -> String {
    let minusAttribute = minus.map { " data-json-minus=\"\($0)\"" } ?? ""
    let scaleAttribute = scale == 1 ? "" : " data-scale=\"\(Int(scale))\""
    return "<span class=\"num\" data-json=\"\(path)\"\(minusAttribute)\(scaleAttribute)>\(formatFixed(value * scale, decimals: decimals))</span>"
}

/// A number that report.json holds, in scientific notation.
func jsonScientific(_ value: Double, path: String) -> String {
    "<span class=\"num\" data-json=\"\(path)\">\(formatScientific(value))</span>"
}

/// A colour-scale limit: the largest |value| of the maps `slices` ("name.npy:i,j"), printed.
func limitNumber(_ value: Double, slices: [String]) -> String {
    "<span class=\"num\" data-maxabs=\"\(slices.joined(separator: "|"))\">\(formatLimit(value))</span>"
}

/// The text of an HTML fragment, for SVG: tags removed, entities decoded.
func plainText(_ html: String) -> String {
    html.replacingOccurrences(of: "<br>", with: " ").replacingOccurrences(of: "<[^>]+>", with: "", options: .regularExpression)
        .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
        .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
}

// MARK: Per-layer plots

/// One per-layer plot (a value per layer ℓ = 1 … L) as a line with markers or as bars.
func perLayerFigure(_ values: [Double], title: String, yLabel: String, domain: ClosedRange<Double>, color: String,
                    bars: Bool = false, scale: Double = 1, jsonPath: String, decimals: Int) -> SVGCanvas {
    var canvas = SVGCanvas(width: 460, height: 330)
    let layers = Double(values.count)
    let x = Scale(domain: 0.5 ... (layers + 0.5), pixels: (80, 440))
    let y = Scale(domain: domain, pixels: (270, 46))
    canvas.text(title, x: 260, y: 22, size: 14, anchor: .middle, weight: "bold")
    // The frame drawn last, over the grid lines.
    canvas.axes(x: x, y: y, xLabel: "layer ℓ", yLabel: yLabel, xTicks: min(values.count, 10))
    let points = values.enumerated().map { (x(Double($0.offset + 1)), y(min(max($0.element * scale, domain.lowerBound), domain.upperBound))) }
    if bars {
        let width = min(24, 300 / layers)
        for p in points { canvas.rect(x: p.0 - width / 2, y: p.1, width: width, height: y(domain.lowerBound) - p.1, fill: color) }
    } else {
        canvas.polyline(points, stroke: color, width: 2)
        for p in points { canvas.circle(x: p.0, y: p.1, radius: 4, fill: color) }
    }
    canvas.rect(x: 80, y: 46, width: 360, height: 224, fill: "none", stroke: "#444")
    // The last layer's value, printed at its marker.
    if let last = values.last, let p = points.last {
        let text = formatFixed(last * scale, decimals: decimals)
        canvas.raw("<text x=\"\(String(format: "%.2f", p.0 - 8))\" y=\"\(String(format: "%.2f", max(p.1 - 10, 60)))\" font-size=\"11\" text-anchor=\"end\" fill=\"\(color)\" stroke=\"white\" stroke-width=\"3\" paint-order=\"stroke\" data-json=\"\(jsonPath).\(values.count - 1)\"\(scale == 1 ? "" : " data-scale=\"\(Int(scale))\"")>layer \(values.count): \(text)</text>")
    }
    return canvas
}

// MARK: Confusion matrix

/// A sequential white-to-blue scale for shares in [0, 1] (ColorBrewer Blues).
func blues(_ t: Double) -> (Double, Double, Double) {
    let stops: [(Double, Double, Double)] = [(0.969, 0.984, 1.000), (0.871, 0.922, 0.969), (0.776, 0.859, 0.937), (0.620, 0.792, 0.882),
                                             (0.420, 0.682, 0.839), (0.259, 0.573, 0.776), (0.129, 0.443, 0.710), (0.031, 0.318, 0.612),
                                             (0.031, 0.188, 0.420)]
    let clamped = t.isFinite ? min(max(t, 0), 1) : 0
    let position = clamped * Double(stops.count - 1)
    let i = min(Int(position), stops.count - 2), f = position - Double(i)
    let (a, b) = (stops[i], stops[i + 1])
    return (a.0 + f * (b.0 - a.0), a.1 + f * (b.1 - a.1), a.2 + f * (b.2 - a.2))
}

func bluesHex(_ t: Double) -> String {
    let (r, g, b) = blues(t)
    return String(format: "#%02x%02x%02x", Int((r * 255).rounded()), Int((g * 255).rounded()), Int((b * 255).rounded()))
}

/// The confusion matrix of one layer (`matrix[true][predicted]` counts) as an SVG heat map:
/// each cell coloured by its share of the row (the true class's images, linear 0–100 %) and
/// annotated with its count, with a colour bar. `jsonPath` is the matrix's path in report.json.
public func confusionMatrixFigure(_ matrix: [[Int]], classNames names: [String], jsonPath: String? = nil, title: String) -> SVGCanvas {
    let classes = matrix.count
    let cell = 38.0, left = 118.0, top = 74.0
    let width = left + cell * Double(classes) + 96
    var canvas = SVGCanvas(width: max(width, 420), height: top + cell * Double(classes) + 56)
    canvas.text(title, x: canvas.width / 2, y: 22, size: 14, anchor: .middle, weight: "bold")
    canvas.text("predicted class", x: left + cell * Double(classes) / 2, y: 44, size: 12, anchor: .middle)
    for p in 0 ..< classes {
        canvas.text("\(p)", x: left + cell * (Double(p) + 0.5), y: top - 8, size: 11, anchor: .middle)
    }
    for (t, row) in matrix.enumerated() {
        let total = max(row.reduce(0, +), 1)
        let y = top + cell * Double(t)
        canvas.text("\(t < names.count ? names[t] : "class \(t)") (\(t))", x: left - 6, y: y + cell / 2 + 4, size: 11, anchor: .end)
        for (p, count) in row.enumerated() {
            let share = Double(count) / Double(total)
            let x = left + cell * Double(p)
            canvas.rect(x: x, y: y, width: cell, height: cell, fill: bluesHex(share), stroke: "#fff", strokeWidth: 1)
            let ink = share > 0.45 ? "#fff" : (count == 0 ? "#aaa" : "#222")
            canvas.raw("<text x=\"\(String(format: "%.2f", x + cell / 2))\" y=\"\(String(format: "%.2f", y + cell / 2 + 4))\" font-size=\"11\" text-anchor=\"middle\" fill=\"\(ink)\"\(jsonPath.map { " data-json=\"\($0).\(t).\(p)\"" } ?? "")>\(count)</text>")
        }
    }
    canvas.rect(x: left, y: top, width: cell * Double(classes), height: cell * Double(classes), fill: "none", stroke: "#444")
    canvas.text("true class", x: 14, y: top + cell * Double(classes) / 2, size: 12, anchor: .middle, rotate: -90)
    // Colour bar: share of the row, 0–100 %.
    let barX = left + cell * Double(classes) + 18, barHeight = cell * Double(classes)
    for k in 0 ..< 50 {
        let t = Double(k) / 49
        canvas.rect(x: barX, y: top + barHeight * (1 - Double(k + 1) / 50), width: 14, height: barHeight / 50 + 0.5, fill: bluesHex(t))
    }
    canvas.rect(x: barX, y: top, width: 14, height: barHeight, fill: "none", stroke: "#444")
    for value in [0, 25, 50, 75, 100] {
        canvas.text("\(value) %", x: barX + 18, y: top + barHeight * (1 - Double(value) / 100) + 4, size: 10)
    }
    canvas.text("share of the true class's images", x: barX + 66, y: top + barHeight / 2, size: 11, anchor: .middle, rotate: 90)
    return canvas
}

// MARK: Map grids

/// One map of a grid: signed values on a diverging scale ±`limit` (white at zero), or grey
/// levels in [0, 1]; `caption` is HTML under the map (its scale, when it has its own).
/// The largest |value| of a list of maps (1e-12 at least, so that a blank map still has a scale).
func largestMagnitude(_ maps: [[Double]]) -> Double { max(maps.lazy.flatMap { $0 }.map(abs).max() ?? 0, 1e-12) }

/// One row per layer of class templates (`values[layer][class]`), the layer's templates on one
/// symmetric scale printed beside the row: both interpretation pages draw them so.
func classTemplateRows(_ values: [[[Double]]], names: [String]) -> [MapRow] {
    values.indices.map { l in
        let limit = largestMagnitude(values[l])
        return MapRow(label: "layer \(l + 1)<br>±" + limitNumber(limit, slices: ["templates.npy:\(l)"]),
                      panels: values[l].indices.map { MapPanel(values: values[l][$0], limit: limit, title: "layer \(l + 1), \(names[$0])") })
    }
}

/// The four maps of an image's exact linearisation row, as both pages draw them: the image, the
/// true and predicted classes' shares on one scale, Insens on its own. `sample` is its place in
/// linearisation.npy and insens.npy.
func linearisationPanels(sample i: Int, index: Int, input: [Double], trueClass: Int, trueMap: [Double],
                         predictedClass: Int, predictedMap: [Double], insens: [Double]) -> [MapPanel] {
    let shared = largestMagnitude([trueMap, predictedMap])
    let insensLimit = largestMagnitude([insens])
    let sharedSlices = ["linearisation.npy:\(i),\(trueClass)", "linearisation.npy:\(i),\(predictedClass)"]
    return [MapPanel(values: input, grey: true, title: "test image \(index)"),
            MapPanel(values: trueMap, limit: shared, title: "true class share", caption: "±" + limitNumber(shared, slices: sharedSlices)),
            MapPanel(values: predictedMap, limit: shared, title: "predicted class share", caption: "±" + limitNumber(shared, slices: sharedSlices) + " (same)"),
            MapPanel(values: insens, limit: insensLimit, title: "Insens", caption: "Ω ±" + limitNumber(insensLimit, slices: ["insens.npy:\(i)"]))]
}

struct MapPanel {
    var values: [Double]
    var limit: Double?
    var grey = false
    var title = ""
    var caption = ""
}

/// One row of a grid: a label (HTML lines) and its maps.
struct MapRow {
    var label: String
    var panels: [MapPanel]
}

/// A grid of maps: the page shows it as wrapping rows (so that a phone gets several lines of
/// maps per row), the standalone SVG as a fixed grid.
struct MapGrid {
    var width: Int
    var height: Int
    var columns: [String]
    var rows: [MapRow]
    /// Extra HTML after each row's maps (the linearisation's table of numbers).
    var extras: [String] = []

    func png(_ panel: MapPanel, magnify: Int = 1) -> PNGImage {
        var image = panel.grey ? PNGImage.grey(panel.values, width: width, height: height)
            : PNGImage.diverging(panel.values, width: width, height: height, limit: panel.limit)
        guard magnify > 1 else { return image }
        // Nearest-neighbour enlargement, so that print keeps the pixels sharp.
        var pixels: [UInt8] = []
        pixels.reserveCapacity(image.pixels.count * magnify * magnify)
        for row in 0 ..< height * magnify {
            for column in 0 ..< width * magnify {
                let source = ((row / magnify) * width + column / magnify) * 3
                pixels += image.pixels[source ..< source + 3]
            }
        }
        image = PNGImage(width: width * magnify, height: height * magnify, pixels: pixels)
        return image
    }

    func html() -> String {
        var html = "<div class=\"mapgrid\">"
        for (r, row) in rows.enumerated() {
            html += "<div class=\"maprow\"><div class=\"rowlabel\">\(row.label)</div><div class=\"maps\(extras.isEmpty ? "" : " fixed")\">"
            for (c, panel) in row.panels.enumerated() {
                let header = c < columns.count ? columns[c] : ""
                html += "<div class=\"cell\"><div class=\"colhead\">\(escapeHTML(header))</div>"
                html += "<img class=\"map\" src=\"\(png(panel).dataURI)\" title=\"\(escapeHTML(panel.title))\" alt=\"\(escapeHTML(panel.title))\">"
                if !panel.caption.isEmpty { html += "<div class=\"cap\">\(panel.caption)</div>" }
                html += "</div>"
            }
            html += "</div>"
            if r < extras.count { html += extras[r] }
            html += "</div>"
        }
        return html + "</div>"
    }

    /// The grid as one SVG with the maps embedded (enlarged 4× for print) and `legend` under it.
    func svg(title: String, legend: (limit: Double?, label: String)?) -> SVGCanvas {
        let map = 84.0, gap = 8.0, header = 18.0, caption = 16.0, labelSize = 11.0
        // Row labels wrap at words to the label column, 96 px estimated of its 110 so that a font
        // wider than the estimate still fits (issue 23 #7: "predicted: Pullover
        // (wrong)" ran under the first thumbnail); a single word wider than the column widens it.
        let labelLines = rows.map { row in
            row.label.components(separatedBy: "<br>").flatMap { wrapped(plainText($0), width: 96, size: labelSize) }
        }
        let widestWord = labelLines.joined().flatMap { $0.split(separator: " ") }
            .map { SVGCanvas.estimatedTextWidth(String($0), size: labelSize) }.max() ?? 0
        let labelWidth = max(120, widestWord + 24)
        let columnCount = max(columns.count, rows.map(\.panels.count).max() ?? 0)
        let rowHeight = header + map + caption + gap
        let totalWidth = labelWidth + Double(columnCount) * (map + gap) + 10
        let aspect = Double(height) / Double(width)
        var canvas = SVGCanvas(width: max(totalWidth, 420), height: 44 + Double(rows.count) * rowHeight + (legend == nil ? 10 : 60))
        canvas.text(title, x: 10, y: 24, size: 14, weight: "bold")
        for (r, row) in rows.enumerated() {
            let y = 40 + Double(r) * rowHeight
            for (k, line) in labelLines[r].enumerated() {
                canvas.text(line, x: 10, y: y + header + 14 + Double(k) * 14, size: labelSize)
            }
            for (c, panel) in row.panels.enumerated() {
                let x = labelWidth + Double(c) * (map + gap)
                if c < columns.count { canvas.text(columns[c], x: x + map / 2, y: y + 13, size: 11, anchor: .middle) }
                let scaled = map.rounded()
                canvas.raw("<image x=\"\(x)\" y=\"\(y + header)\" width=\"\(scaled)\" height=\"\(scaled * aspect)\" preserveAspectRatio=\"none\" style=\"image-rendering:pixelated\" href=\"\(png(panel, magnify: 4).dataURI)\"/>")
                canvas.rect(x: x, y: y + header, width: scaled, height: scaled * aspect, fill: "none", stroke: "#ccc")
                if !panel.caption.isEmpty { canvas.text(plainText(panel.caption), x: x + map / 2, y: y + header + map + 12, size: 10, anchor: .middle, fill: "#555") }
            }
        }
        if let legend {
            let y = 44 + Double(rows.count) * rowHeight
            drawDivergingBar(&canvas, x: 10, y: y, width: 300, limit: legend.limit)
            canvas.text(legend.label, x: 320, y: y + 12, size: 11)
        }
        return canvas
    }
}

/// `text` split at spaces into lines no wider than `width` (estimated at `size`); a word wider
/// than `width` gets a line of its own.
func wrapped(_ text: String, width: Double, size: Double) -> [String] {
    var lines: [String] = [], current = ""
    for word in text.split(separator: " ") {
        let candidate = current.isEmpty ? String(word) : current + " " + word
        if !current.isEmpty && SVGCanvas.estimatedTextWidth(candidate, size: size) > width {
            lines.append(current)
            current = String(word)
        } else {
            current = candidate
        }
    }
    if !current.isEmpty || lines.isEmpty { lines.append(current) }
    return lines
}

/// The diverging colour bar (blue negative, white zero, red positive) from −limit to +limit;
/// a nil limit labels the ends "−m" and "+m" (each map's own m, printed under it).
func drawDivergingBar(_ canvas: inout SVGCanvas, x: Double, y: Double, width: Double, limit: Double?) {
    for k in 0 ..< 100 {
        canvas.rect(x: x + Double(k) * width / 100, y: y, width: width / 100 + 0.2, height: 14, fill: ColorMap.diverging.hex(Double(k) / 99))
    }
    canvas.rect(x: x, y: y, width: width, height: 14, fill: "none", stroke: "#444")
    canvas.text(limit.map { "−" + formatLimit($0) } ?? "−m", x: x, y: y + 30, size: 11, anchor: .start)
    canvas.text("0", x: x + width / 2, y: y + 30, size: 11, anchor: .middle)
    canvas.text(limit.map { "+" + formatLimit($0) } ?? "+m", x: x + width, y: y + 30, size: 11, anchor: .end)
}

/// The diverging colour legend as HTML: the bar from −`limit` to +`limit` (or ±m per map when
/// `limit` is nil) and what it measures. `limitSlices` marks the printed limit for the test.
func colorBarLegend(limit: Double?, limitSlices: [String] = [], label: String) -> String {
    var canvas = SVGCanvas(width: 320, height: 40)
    drawDivergingBar(&canvas, x: 10, y: 4, width: 300, limit: limit)
    var svg = inlineSVG(canvas, cssClass: "bar")
    if let limit, !limitSlices.isEmpty {
        // Mark the end labels with the maps they come from.
        let text = formatLimit(limit)
        let mark = " data-maxabs=\"\(limitSlices.joined(separator: "|"))\""
        svg = svg.replacingOccurrences(of: ">−\(text)</text>", with: "\(mark)>−\(text)</text>")
            .replacingOccurrences(of: ">+\(text)</text>", with: "\(mark)>+\(text)</text>")
    }
    return "<div class=\"legend\">\(svg)<span>\(label)</span></div>"
}

/// An SVG canvas for inlining in HTML: without its white background, scaling to the width of
/// the page (CSS class `fig` unless given).
func inlineSVG(_ canvas: SVGCanvas, cssClass: String = "fig") -> String {
    canvas.render().replacingOccurrences(of: "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n", with: "")
        .replacingOccurrences(of: "<svg xmlns=", with: "<svg class=\"\(cssClass)\" xmlns=")
}

func escapeHTML(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}

// MARK: Kept for callers of the earlier API

/// The mean likelihood of the true class per layer (`LayerReadout.trueClassLikelihoods`), as a
/// line plot over the layers ℓ = 1 … L.
public func trueClassLikelihoodFigure(_ likelihoods: [Double], title: String = "Mean likelihood of the true class per layer") -> SVGCanvas {
    perLayerFigure(likelihoods, title: title, yLabel: "softmax of class dims, true class", domain: 0 ... 1, color: "#756bb1",
                   jsonPath: "readout.trueClassLikelihoods", decimals: 3)
}

/// A confusion matrix (`matrix[true][predicted]` counts) as an HTML figure: the SVG heat map of
/// ``confusionMatrixFigure(_:classNames:jsonPath:title:)`` under a heading.
public func confusionMatrixTable(_ matrix: [[Int]], classNames names: [String],
                                 heading: String = "Confusion matrix of the last layer (rows: true class, columns: predicted)") -> String {
    "<h3>\(escapeHTML(heading))</h3>" + inlineSVG(confusionMatrixFigure(matrix, classNames: names, title: ""))
}
