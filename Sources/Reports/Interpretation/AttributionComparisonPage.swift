import Figures
import Foundation
import Interpretation
import IsometrySupport

// The page of an attribution comparison (`interpret --evaluate`): the methods × metrics table
// with 95 % intervals and the best method per metric marked, the mean deletion/insertion curves
// of every method (print-sized, double column and -column), and the attributions of a few
// images side by side. Numbers carry data-json paths into report.json, as on the other
// interpretation pages.

extension AttributionComparison {
    /// A colour per method: Okabe and Ito's colour-blind-safe palette, its yellow last (it
    /// reads poorly on white).
    static let methodColors = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999933", "#882255", "#F0E442"]

    func color(method m: Int) -> String { Self.methodColors[m % Self.methodColors.count] }

    /// The mean curves of every metric that has them, one panel per metric (side by side at
    /// double-column width, stacked in a single column), one line per method; x is the step's
    /// place from the first to the last (the fraction of the perturbation done), y the mean
    /// target score. Nil when no chosen metric has curves. Each line carries `data-method` and
    /// `data-metric`, each panel frame its domains.
    public func curvesFigure(width: FigureWidth = .doubleColumn) -> SVGCanvas? {
        let metrics = curveMetrics
        guard !metrics.isEmpty else { return nil }
        var canvas = SVGCanvas(printWidth: width, height: 0)
        let type = canvas.typography
        let top = canvas.figureTitle("Mean curves over \(images.count) test images")
        let domains: [ClosedRange<Double>] = metrics.map { metric in
            let values = curves(metric: metric).flatMap(\.values).filter(\.isFinite)
            let (low, high) = (values.min() ?? 0, values.max() ?? 1)
            let pad = max((high - low) * 0.05, 1e-9)
            return (low - pad) ... (high + pad)
        }
        let plots = panelPlots(canvas, top: top, height: width == .singleColumn ? 150 : 170,
                               yScales: domains.map { Scale(domain: $0, pixels: (1, 0)) })
        for (p, metric) in metrics.enumerated() {
            let plot = plots[p]
            let x = Scale(domain: 0 ... 1, pixels: (plot.left, plot.right))
            let y = Scale(domain: domains[p], pixels: (plot.bottom, plot.top))
            canvas.axes(x: x, y: y, xLabel: "\(metric): fraction of the steps", yLabel: "mean target score", xTicks: 5, data: ["panel": metric])
            for curve in curves(metric: metric) {
                let m = methods.firstIndex(of: curve.method) ?? 0
                let steps = max(curve.values.count - 1, 1)
                let points = curve.values.enumerated().map { (x(Double($0.offset) / Double(steps)), y($0.element.isFinite ? $0.element : domains[p].lowerBound)) }
                canvas.polyline(points, stroke: color(method: m), width: 1.6, data: ["method": curve.method, "metric": metric])
            }
            canvas.frame(x: x, y: y)
        }
        let legendTop = plots.map(\.bottom).max()! + type.xTitleOffset + 8
        canvas.height = canvas.legendRows(methods.enumerated().map { (color(method: $0.offset), $0.element, LegendStyle.line) },
                                          x: plots[0].left - 30, y: legendTop, width: canvas.width - plots[0].left + 24) + 6
        return canvas
    }

    /// The part of a flattened input that is the image (the identity classifier's class units
    /// after it are left out).
    func imagePart(_ values: [Double]) -> [Double] { Array(values.prefix(imageShape.reduce(1, *))) }

    var mapSize: (width: Int, height: Int) { imageShape.count == 2 ? (imageShape[1], imageShape[0]) : (imageShape.reduce(1, *), 1) }

    /// The attributions of the example images side by side: a row per image, the image and
    /// then one column per method, each map on its own symmetric diverging scale ±m (methods
    /// differ in units: a gradient against gradient × input).
    func attributionGrid() -> MapGrid {
        let (w, h) = mapSize
        let rows = exampleInputs.indices.map { e in
            MapRow(label: "#\(images[e])<br>label \(labels[e])<br>target \(targets[e])",
                   panels: [MapPanel(values: imagePart(exampleInputs[e]), grey: true, title: "test image \(images[e])")]
                       + methods.indices.map { m in
                           let map = imagePart(exampleMaps[m][e])
                           let limit = largestMagnitude([map])
                           return MapPanel(values: map, limit: limit, title: "\(methods[m]), image \(images[e])",
                                           caption: "±" + formatLimit(limit))
                       })
        }
        return MapGrid(width: w, height: h, columns: ["input"] + methods, rows: rows)
    }

    /// The figures as standalone SVG documents, by file name: curves.svg and curves-column.svg
    /// (when a metric has curves), attributions.svg.
    public var figureFiles: [(name: String, svg: String)] {
        var files: [(String, String)] = []
        for width in FigureWidth.allCases.reversed() {
            if let canvas = curvesFigure(width: width) { files.append((width.fileName("curves.svg"), canvas.render())) }
        }
        if !exampleInputs.isEmpty {
            files.append(("attributions.svg", attributionGrid().svg(title: "Attributions side by side", legend: (nil, "m: printed under each map")).render()))
        }
        return files
    }

    /// The table as HTML: a row per method, a column per metric, each cell the mean and its 95 %
    /// interval, the best per metric in bold with ★.
    func tableHTML() -> String {
        var html = "<div class=\"scroll\"><table class=\"numbers\"><tr><th>method</th>"
        for (k, metric) in metrics.enumerated() {
            let better = cells[k].higherIsBetter ? "↑ higher is better" : "↓ lower is better"
            html += "<th>\(escapeHTML(metric))<br><span class=\"cap\">\(better)</span></th>"
        }
        html += "<th>attribution time</th></tr>"
        for (m, method) in methods.enumerated() {
            html += "<tr><td><span style=\"color:\(color(method: m))\">■</span> \(escapeHTML(method))</td>"
            for k in metrics.indices {
                let i = m * metrics.count + k, cell = cells[i]
                let best = cell.rank == 1 && !cell.mean.isNaN
                html += "<td\(best ? " class=\"best\"" : "")>\(best ? "★ " : "")\(jsonSignificant(cell.mean, path: "cells.\(i).mean"))"
                    + "<br><span class=\"cap\">[\(jsonSignificant(cell.lower, path: "cells.\(i).lower")), \(jsonSignificant(cell.upper, path: "cells.\(i).upper"))]</span></td>"
            }
            html += "<td>\(jsonNumber(attributionSeconds[m], path: "attributionSeconds.\(m)", decimals: 3)) s</td></tr>"
        }
        return html + "</table></div>"
    }

    /// The comparison as one self-contained HTML page; `figureFolder` links each figure's SVG.
    public func html(indexLink: String? = nil, figureFolder: String? = "figures") -> String {
        var body = ""
        if let indexLink { body += "<nav><a href=\"\(escapeHTML(indexLink))\">← back to the full report</a></nav>" }
        body += "<h1>Attribution methods compared</h1>"
        body += "<p class=\"meta\">\(escapeHTML(source)): \(jsonNumber(Double(images.count), path: "cells.0.count", decimals: 0)) test images "
            + "(indices \(images.first!)–\(images.max()!)), each method explaining the \(targetChoice == .prediction ? "predicted class" : "label") of each image. "
            + "Methods: \(methods.map(escapeHTML).joined(separator: ", ")). Metrics: \(metrics.map(escapeHTML).joined(separator: ", ")) "
            + "(conventions: docs/interpretation.md).</p>"
        body += "<h2 id=\"table\">Methods × metrics</h2>" + tableHTML()
        body += "<p class=\"meta\">Each cell: the mean over the images and its 95 % confidence interval, normal from the standard error "
            + "(mean ± t·s.e., t Student's 0.975 quantile with n − 1 degrees of freedom, about 1.96 for hundreds of images; s.e. = sample standard deviation / √n). ★: the best mean by that metric; "
            + "an interval that overlaps the best one's does not separate the two. Per-image scores: <a href=\"scores.csv\">scores.csv</a>; "
            + "the table: <a href=\"table.csv\">table.csv</a>.</p>"
        var number = 0
        func figureHTML(_ content: String, name: String?, caption: String) -> String {
            number += 1
            let links = figureFolder.flatMap { folder in name.map { " <span class=\"files\">[<a href=\"\(folder)/\($0)\">SVG</a>]</span>" } } ?? ""
            return "<figure id=\"fig\(number)\">\(content)<figcaption><b>Figure \(number).</b> \(caption)\(links)</figcaption></figure>"
        }
        if let wide = curvesFigure(width: .doubleColumn), let narrow = curvesFigure(width: .singleColumn) {
            // The single-column drawing on a phone, the double-column one otherwise.
            let content = "<div class=\"wide-only\">\(inlineSVG(wide))</div><div class=\"narrow-only\">\(inlineSVG(narrow))</div>"
            body += "<h2 id=\"curves\">Curves</h2>" + figureHTML(content, name: "curves.svg",
                caption: "The target's score as the features are perturbed in the order of each method's attributions, averaged over the images, one line per method "
                    + "(the metric's own conventions: docs/interpretation.md). Single-column version: curves-column.svg.")
        } else {
            body += "<h2 id=\"curves\">Curves</h2><p>None of the chosen metrics has curves (deletion and insertion do).</p>"
        }
        if !exampleInputs.isEmpty {
            let grid = attributionGrid()
            body += "<h2 id=\"maps\">Attributions side by side</h2>"
            body += figureHTML(colorBarLegend(limit: nil, label: "blue negative, white zero, red positive; <b>one scale ±m per map</b>, printed under it") + grid.html(),
                               name: "attributions.svg",
                               caption: "The first \(exampleInputs.count) compared test images and each method's attributions of their target (label and target under the index).")
        }
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Isometry: attribution methods compared</title>
        <style>
        \(interpretationPageStyle)
        td.best { font-weight: bold; background: #eef6ee; }
        .narrow-only { display: none; }
        @media (max-width: 600px) { .wide-only { display: none; } .narrow-only { display: block; } }
        </style></head><body>
        \(body)
        <p class="meta">Written by <code>interpret --evaluate</code> (Isometry). Numbers: <a href="report.json">report.json</a>, <a href="table.csv">table.csv</a>, <a href="scores.csv">scores.csv</a>.</p>
        </body></html>

        """
    }
}

/// Four significant digits in fixed notation for the magnitudes metrics have (0.5428, 37.36,
/// 1234), scientific outside 1e−3 … 1e5: a table of scores reads across methods at a glance.
func significantFigures(_ value: Double) -> String {
    guard value.isFinite, value != 0 else { return value == 0 ? "0" : formatFixed(value, decimals: 0) }
    if abs(value) < 1e-3 || abs(value) >= 1e5 { return formatScientific(value, digits: 4) }
    return formatFixed(value, decimals: max(0, 3 - Int(floor(log10(abs(value))))))
}

/// A number report.json holds, to four significant digits (``significantFigures(_:)``).
func jsonSignificant(_ value: Double, path: String) -> String {
    "<span class=\"num\" data-json=\"\(path)\">\(significantFigures(value))</span>"
}
