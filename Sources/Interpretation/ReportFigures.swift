import Figures
import Foundation

// The interpreter's figures: PNG maps, the colour-bar legend, the per-layer likelihood plot and
// the confusion matrix, as pieces of a self-contained HTML page (docs/interpretation.md).

/// The mean likelihood of the true class per layer (`LayerReadout.trueClassLikelihoods`), as a
/// line plot over the layers.
public func trueClassLikelihoodFigure(_ likelihoods: [Double], title: String = "Mean likelihood of the true class per layer") -> SVGCanvas {
    var canvas = SVGCanvas(width: 450, height: 330)
    let layers = Double(likelihoods.count)
    let x = Scale(domain: 0.5 ... (layers + 0.5), pixels: (80, 420))
    let y = Scale(domain: 0 ... 1, pixels: (270, 40))
    canvas.text(title, x: 250, y: 22, size: 14, anchor: .middle, weight: "bold")
    canvas.axes(x: x, y: y, xLabel: "layer l", yLabel: "softmax of class dims, true class", xTicks: min(likelihoods.count, 10))
    let points = likelihoods.enumerated().map { (x(Double($0.offset + 1)), y($0.element)) }
    canvas.polyline(points, stroke: "#756bb1", width: 2)
    for p in points { canvas.circle(x: p.0, y: p.1, radius: 4, fill: "#756bb1") }
    return canvas
}

/// A confusion matrix (`matrix[true][predicted]` counts) as an HTML table coloured by viridis,
/// with a heading.
public func confusionMatrixTable(_ matrix: [[Int]], classNames names: [String],
                                 heading: String = "Confusion matrix of the last layer (rows: true class, columns: predicted)") -> String {
    let largest = Double(max(matrix.flatMap { $0 }.max() ?? 1, 1))
    var html = "<h3>\(escapeHTML(heading))</h3><table class=\"confusion\"><tr><th></th>"
    html += names.indices.map { "<th>\($0)</th>" }.joined() + "</tr>"
    for (t, row) in matrix.enumerated() {
        html += "<tr><th style=\"text-align:right\">\(escapeHTML(t < names.count ? names[t] : "class \(t)")) (\(t))</th>"
        for count in row {
            let color = ColorMap.viridis.hex(Double(count) / largest)
            let text = Double(count) / largest > 0.6 ? "#000" : "#fff"
            html += "<td style=\"background:\(color);color:\(text)\">\(count)</td>"
        }
        html += "</tr>"
    }
    return html + "</table>"
}

/// An `<img>` holding a map as an inline PNG: signed values on the diverging scale ±`limit`
/// (white at zero), or grey levels in [0, 1].
func mapImage(_ values: [Double], width: Int, height: Int, limit: Double? = nil, grey: Bool = false, title: String = "") -> String {
    let png = grey ? PNGImage.grey(values, width: width, height: height) : PNGImage.diverging(values, width: width, height: height, limit: limit)
    return "<img class=\"map\" src=\"\(png.dataURI)\" title=\"\(escapeHTML(title))\" alt=\"\(escapeHTML(title))\">"
}

/// The diverging colour bar from −`limit` to +`limit`, with a label, as inline SVG.
func colorBarLegend(limit: Double, label: String) -> String {
    var canvas = SVGCanvas(width: 320, height: 44)
    for k in 0 ..< 100 {
        canvas.rect(x: 10 + Double(k) * 3, y: 4, width: 3.2, height: 14, fill: ColorMap.diverging.hex(Double(k) / 99))
    }
    canvas.rect(x: 10, y: 4, width: 300, height: 14, fill: "none", stroke: "#444")
    canvas.text(String(format: "−%.3g", limit), x: 10, y: 34, size: 11, anchor: .start)
    canvas.text("0", x: 160, y: 34, size: 11, anchor: .middle)
    canvas.text(String(format: "+%.3g", limit), x: 310, y: 34, size: 11, anchor: .end)
    return "<div class=\"legend\">\(inlineSVG(canvas))<span>\(escapeHTML(label))</span></div>"
}

/// An SVG canvas for inlining in HTML (without its white background).
func inlineSVG(_ canvas: SVGCanvas) -> String {
    canvas.render().replacingOccurrences(of: "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n", with: "")
}

func escapeHTML(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
