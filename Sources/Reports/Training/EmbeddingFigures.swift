import Figures
import Foundation

/// The ten classes' colours of an embedding scatter: Tableau's categorical palette (matplotlib's
/// `tab10`), the palette t-SNE maps are usually drawn in, so a class reads the same here as in
/// a scikit-learn or openTSNE figure.
public let embeddingPalette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

/// A 2-D embedding as a scatter plot, one dot per point coloured by its class, a legend of the
/// classes under the panel; `x` and `y` are the embedding's two coordinates, drawn on one scale
/// (a unit is as long across as up). Every dot carries
/// `data-point` (its index), `data-label` and `data-x`/`data-y` (its coordinates), so tests and
/// tools can read the figure back.
public func embeddingScatter(x: [Double], y: [Double], labels: [Int], classNames: [String], title: String,
                             width: FigureWidth = .doubleColumn) -> SVGCanvas {
    precondition(x.count == y.count && x.count == labels.count, "embeddingScatter: \(x.count) x, \(y.count) y, \(labels.count) labels")
    let side = width == .doubleColumn ? 420.0 : 232.0
    var canvas = SVGCanvas(printWidth: width, height: side + 160)
    let t = canvas.typography
    canvas.text(title, x: 8, y: t.title + 4, size: t.title, weight: "bold")
    // One scale for both coordinates (the panel is square, so equal spans): t-SNE's distances
    // mean the same in every direction, and a stretched axis would misdraw clusters' shapes and gaps.
    let spans = [x, y].map { v in (low: v.min() ?? 0, high: v.max() ?? 1) }
    let half = max(spans.map { ($0.high - $0.low) / 2 }.max()! * 1.04, 1e-9)
    func domain(_ i: Int) -> ClosedRange<Double> {
        let middle = (spans[i].low + spans[i].high) / 2
        return (middle - half) ... (middle + half)
    }
    let left = (width.pixels - side) / 2 + 16, top = t.title + 16
    let xs = Scale(domain: domain(0), pixels: (left, left + side - 32))
    let ys = Scale(domain: domain(1), pixels: (top + side - 32, top))
    canvas.axes(x: xs, y: ys, xLabel: "t-SNE 1", yLabel: "t-SNE 2", data: ["panel": "embedding"])
    let radius = width == .doubleColumn ? 1.3 : 0.9
    for i in x.indices {
        canvas.circle(x: xs(x[i]), y: ys(y[i]), radius: radius, fill: embeddingPalette[labels[i] % embeddingPalette.count],
                      data: ["point": "\(i)", "label": "\(labels[i])", "x": "\(x[i])", "y": "\(y[i])"])
    }
    canvas.frame(x: xs, y: ys)
    let classes = (labels.max() ?? -1) + 1
    let entries = (0 ..< classes).map { c in
        (color: embeddingPalette[c % embeddingPalette.count], label: c < classNames.count ? classNames[c] : "class \(c)", style: LegendStyle.point)
    }
    let bottom = canvas.legendRows(entries, x: 16, y: top + side + 12, width: width.pixels - 32)
    canvas.height = bottom + 8
    return canvas
}

/// A few inputs (images of `imageShape`, [height, width]) beside their two linearised maps
/// W(x)_1 and W(x)_2 (the embedding's x- and y-direction maps, diverging colours, white at 0,
/// each image's own ±max), with its point y and bias share b(x) as the caption: y = W(x)·x + b(x)
/// exactly, so the maps show which pixels put the image where it is.
public func embeddingMapsFigure(images: [[Double]], maps: [[[Double]]], points: [[Double]], biases: [[Double]], captions: [String],
                                imageShape: [Int], title: String, width: FigureWidth = .doubleColumn) -> SVGCanvas {
    precondition(images.count == maps.count && maps.count == points.count && points.count == biases.count && biases.count == captions.count,
                 "embeddingMapsFigure: \(images.count) images, \(maps.count) maps, \(points.count) points, \(biases.count) biases")
    let (h, w) = (imageShape[0], imageShape.count > 1 ? imageShape[1] : 1)
    let columns = ["input x", "map of y₁: W(x)₁", "map of y₂: W(x)₂"]
    let gap = 10.0, labelWidth = width == .doubleColumn ? 150.0 : 0
    let panel = min(120.0, (width.pixels - labelWidth - 16 - 2 * gap) / 3)
    var canvas = SVGCanvas(printWidth: width, height: 100)
    let t = canvas.typography
    canvas.text(title, x: 8, y: t.title + 4, size: t.title, weight: "bold")
    var y = t.title + 16
    for c in 0 ..< 3 { canvas.text(columns[c], x: labelWidth + 8 + Double(c) * (panel + gap) + panel / 2, y: y + t.label, size: t.label, anchor: .middle) }
    y += t.label + 6
    for (r, image) in images.enumerated() {
        let limit = max(maps[r].lazy.flatMap { $0 }.map(abs).max() ?? 0, 1e-12)
        let pngs = [PNGImage.grey(image, width: w, height: h)] + maps[r].map { PNGImage.diverging($0, width: w, height: h, limit: limit) }
        for (c, png) in pngs.enumerated() {
            let x = labelWidth + 8 + Double(c) * (panel + gap)
            canvas.raw("<image x=\"\(x)\" y=\"\(y)\" width=\"\(panel)\" height=\"\(panel * Double(h) / Double(w))\" preserveAspectRatio=\"none\" style=\"image-rendering:pixelated\" data-row=\"\(r)\" data-column=\"\(c)\" href=\"\(png.dataURI)\"/>")
            canvas.rect(x: x, y: y, width: panel, height: panel * Double(h) / Double(w), fill: "none", stroke: "#ccc")
        }
        let text = String(format: "%@: y = (%.2f, %.2f), b(x) = (%.2f, %.2f), maps ±%.3g", captions[r], points[r][0], points[r][1], biases[r][0], biases[r][1], limit)
        if labelWidth > 0 {
            for (k, line) in SVGCanvas.wrapped(text, width: labelWidth - 12, size: t.caption).enumerated() {
                canvas.text(line, x: 8, y: y + t.caption + Double(k) * (t.caption + 2), size: t.caption)
            }
            y += panel * Double(h) / Double(w) + gap
        } else {
            y += panel * Double(h) / Double(w) + 4
            for line in SVGCanvas.wrapped(text, width: width.pixels - 16, size: t.caption) {
                canvas.text(line, x: 8, y: y + t.caption, size: t.caption)
                y += t.caption + 2
            }
            y += gap
        }
    }
    canvas.text("Red: W(x) > 0 (locally, a brighter pixel there moves the point toward + along that coordinate), blue: W(x) < 0, white: 0.",
                x: 8, y: y + t.caption, size: t.caption, fill: "#555")
    canvas.height = y + t.caption + 10
    return canvas
}
