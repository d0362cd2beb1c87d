import Figures
import Foundation
import Interpretation

extension InterpretationReport {

    /// One figure of the page: its number, a file name for the standalone SVG, the drawing (nil
    /// for HTML-only content), the HTML and the caption.
    struct PageFigure {
        var number: Int
        var name: String
        var svg: SVGCanvas?
        var html: String
        var caption: String
    }

    /// The figures of the page, numbered, with their captions: the same drawings the page
    /// inlines and ``figureFiles`` writes.
    func pageFigures() -> [PageFigure] {
        let names = classNames
        let (w, h) = mapSize
        let s = analyses.count
        let last = layers - 1
        let testImages = "\(readout.samples) test images"
        var figures: [PageFigure] = []
        func add(_ name: String, svg: SVGCanvas?, html: String? = nil, caption: String) {
            figures.append(PageFigure(number: figures.count + 1, name: name, svg: svg, html: html ?? svg.map { inlineSVG($0) } ?? "", caption: caption))
        }

        // 1–3: per-layer curves, each its own figure so that each scales to a phone's width.
        let low = max(0, ((readout.accuracies.filter(\.isFinite).min() ?? 0) * 100 - 5).rounded(.down))
        add("fig1-readout-accuracy", svg: perLayerFigure(readout.accuracies, title: "Readout accuracy per layer", yLabel: "test accuracy of class dims (%)",
                                                         domain: low ... 100, color: "#2c7fb8", scale: 100, jsonPath: "readout.accuracies", decimals: 2),
            caption: "Test accuracy (%) when layer ℓ's class dimensions h<sup>ℓ</sup>[D..&lt;D+C] are read as class scores (argmax; no probe is trained), ℓ = 1 … \(layers), over \(readout.samples) test images.")
        add("fig2-true-class-likelihood", svg: trueClassLikelihoodFigure(readout.trueClassLikelihoods, title: "Likelihood of the true class per layer"),
            caption: "Mean softmax probability of the true class over layer ℓ's class dimensions, over \(testImages).")
        let largestDistance = readout.distanceFromIdentity.filter(\.isFinite).max() ?? 0
        add("fig3-distance-from-identity", svg: perLayerFigure(readout.distanceFromIdentity, title: "Distance of each layer from σI", yLabel: "‖Wˡ − σI‖ / ‖σI‖ (Frobenius)",
                                                              domain: 0 ... max(largestDistance * 1.15, 1e-3), color: "#d95f0e", bars: true,
                                                              jsonPath: "readout.distanceFromIdentity", decimals: 4),
            caption: "How far training moved each layer's weights from the identity initialisation σI (σ = \(sigma)): ‖W<sup>ℓ</sup> − σI‖<sub>F</sub> / ‖σI‖<sub>F</sub>, from the weights alone.")

        // 4: the confusion matrix of the last layer.
        add("fig4-confusion-matrix", svg: confusionMatrixFigure(readout.confusion.last ?? [], classNames: names, jsonPath: "readout.confusion.\(last)",
                                                                title: "Confusion matrix of layer \(layers) (the output)"),
            caption: "Rows: true class; columns: predicted class (indices as in the row labels). Each cell shows its count of the \(testImages); its colour is its share of the row (the true class's images, 0–100 %, colour bar on the right), so that the confusions stand out however large the diagonal.")

        // 5: contribution maps, one scale for the whole grid (compared across layers and images).
        let cumulative = largestMagnitude(analyses.flatMap(\.cumulativeChanges))
        let contributionGrid = MapGrid(width: w, height: h, columns: ["input"] + (1 ... layers).map { "layer \($0)" }, rows: analyses.map { a in
            MapRow(label: "#\(a.index)<br>\(escapeHTML(names[a.label]))",
                   panels: [MapPanel(values: a.input, grey: true, title: "test image \(a.index)")]
                       + (0 ..< layers).map { MapPanel(values: a.cumulativeChanges[$0], limit: cumulative, title: "image \(a.index), layer \($0 + 1)") })
        })
        let contributionLegend = colorBarLegend(limit: cumulative, limitSlices: ["cumulative_changes.npy:"],
                                                label: "x<sup>ℓ</sup> − x<sup>0</sup> on the feature dimensions; one scale for the whole figure")
        add("fig5-contribution-maps", svg: contributionGrid.svg(title: "Contribution maps: change of the image since the input", legend: (cumulative, "xˡ − x⁰, one scale for all maps")),
            html: contributionLegend + contributionGrid.html(),
            caption: "x<sup>ℓ</sup>[0..&lt;D] − x<sup>0</sup>[0..&lt;D], the change of the feature dimensions since the input, after each layer ℓ, for \(s) test images (grey: the input). One symmetric colour scale, ±\(limitNumber(cumulative, slices: ["cumulative_changes.npy:"])), for the whole figure, so that layers and images compare; white is no change.")

        // 6: class increments of the predicted class, each map on its own scale (compared within itself).
        let incrementGrid = MapGrid(width: w, height: h, columns: (1 ... layers).map { "layer \($0)" }, rows: analyses.enumerated().map { i, a in
            MapRow(label: "#\(a.index)<br>→ \(escapeHTML(names[a.prediction]))", panels: (0 ..< layers).map { l in
                let limit = largestMagnitude([a.increments[l][a.prediction]])
                return MapPanel(values: a.increments[l][a.prediction], limit: limit, title: "image \(a.index), layer \(l + 1)",
                                caption: "±" + limitNumber(limit, slices: ["class_increments.npy:\(i),\(l),\(a.prediction)"]))
            })
        })
        add("fig6-class-increments", svg: incrementGrid.svg(title: "What each layer adds to the predicted class", legend: (nil, "m: each map's own scale, printed under it")),
            html: colorBarLegend(limit: nil, label: "per-pixel contribution to the predicted class's score; <b>each map has its own scale ±m</b>, printed under it") + incrementGrid.html(),
            caption: "W<sup>ℓ</sup>[D+c, j]·x<sup>ℓ−1</sup>[j]: the exact per-pixel split of what layer ℓ's feature dimensions add to the score of the predicted class c, for \(s) test images. Each map has its own symmetric colour scale (±m under it), to show which pixels a layer uses; compare sizes across layers by the printed m. The sums match the increments to \(jsonScientific(incrementError, path: "samples.*.incrementError")) (relative).")

        // 7: class templates, one scale per layer (classes compared within a layer).
        let templateGrid = MapGrid(width: w, height: h, columns: names, rows: classTemplateRows(templates.values, names: names))
        add("fig7-class-templates", svg: templateGrid.svg(title: "Class templates", legend: (nil, "m: one scale per layer, printed beside it")),
            html: colorBarLegend(limit: nil, label: "template weight; <b>one scale ±m per layer</b> (row), printed beside it") + templateGrid.html(),
            caption: "W<sup>ℓ</sup>[D+c, 0..&lt;D]: the weights with which layer ℓ writes the pixels into class c's score, for every layer and class. The \(classes) templates of a layer share one symmetric scale, printed beside the row, so that classes compare within a layer; each layer has its own, because the last layer's weights are many times larger than the earlier layers' changes.")

        // 8: exact linearisation and Insens per image.
        var linearRows: [MapRow] = [], numberTables: [String] = []
        for (i, (a, l)) in zip(analyses, linearisation.samples).enumerated() {
            let trueMap = l.attributions[a.label], predictedMap = l.attributions[a.prediction]
            let verdict = a.label == a.prediction ? "correct" : "wrong"
            linearRows.append(MapRow(
                label: "#\(a.index)<br>true: \(escapeHTML(names[a.label]))<br>predicted: \(escapeHTML(names[a.prediction])) (\(verdict))",
                panels: linearisationPanels(sample: i, index: a.index, input: a.input, trueClass: a.label, trueMap: trueMap,
                                            predictedClass: a.prediction, predictedMap: predictedMap, insens: a.insens)))
            var table = "<div class=\"scroll\"><table class=\"numbers\"><tr><th>class</th><th>logit</th><th>= Σ pixels</th><th>+ bias</th></tr>"
            for c in 0 ..< classes {
                let marker = c == a.prediction ? " class=\"predicted\"" : ""
                table += "<tr\(marker)><td>\(c == a.prediction ? "▶ " : "")\(escapeHTML(names[c]))</td>"
                table += "<td>\(jsonNumber(l.logits[c], path: "samples.\(i).logits.\(c)", decimals: 2))</td>"
                table += "<td>\(jsonNumber(l.logits[c] - l.biasShares[c], path: "samples.\(i).logits.\(c)", decimals: 2, minus: "samples.\(i).biasShares.\(c)"))</td>"
                table += "<td>\(jsonNumber(l.biasShares[c], path: "samples.\(i).biasShares.\(c)", decimals: 2))</td></tr>"
            }
            numberTables.append(table + "</table><div class=\"cap\">\(jsonNumber(Double(a.insensUnits), path: "samples.\(i).insensUnits", decimals: 0)) inactive units enter Ω</div></div>")
        }
        let linearGrid = MapGrid(width: w, height: h, columns: ["input", "true class", "predicted class", "Insens Ω(x)"], rows: linearRows, extras: numberTables)
        add("fig8-linearisation-and-insens", svg: linearGrid.svg(title: "Exact linearisation and Insens, per image", legend: (nil, "m: printed under each map")),
            html: colorBarLegend(limit: nil, label: "blue negative, white zero, red positive; the true- and predicted-class maps of an image <b>share one scale</b>, Ω(x) has its own; ±m printed under each map") + linearGrid.html(),
            caption: "For each of \(s) test images the network is exactly linear on its activation region: logits = W(x)·x + b(x). "
                + "<b>True class</b> and <b>predicted class</b>: W(x)<sub>c</sub> ⊙ x, each pixel's exact share of the logit; the two maps of an image share one symmetric scale, so that they compare. "
                + "The table: each logit = Σ pixel shares + the bias share b(x)<sub>c</sub> that no pixel owns (▶ the prediction). "
                + "<b>Insens Ω(x)</b>: the mean, over the inactive hidden units, of ω<sub>i</sub>, the displacement from unit i's switching hyperplane to x (docs/theory.md §3), on its own symmetric scale. "
                + "Its sign: a <b>red (positive)</b> pixel means that raising the pixel pushes the inactive units, on average, deeper into their inactive state; a <b>blue (negative)</b> pixel means that raising it brings them toward switching. "
                + "Completeness over all \(jsonNumber(Double(linearisation.count), path: "linearisedImages", decimals: 0)) linearised images: \(jsonScientific(linearisation.completenessError, path: "completenessError")) (relative, float32).")
        return figures
    }

    /// The page's figures as standalone SVG documents, by file name (e.g. "fig4-confusion-matrix.svg"),
    /// for print and slides; `interpret --png` rasterises each beside it.
    public var figureFiles: [(name: String, svg: String)] {
        pageFigures().compactMap { figure in figure.svg.map { ("\(figure.name).svg", $0.render()) } }
    }

    /// The report as one self-contained HTML page: PNG maps and SVG plots inlined, no external
    /// resources, so it opens offline in any browser, and it fits a phone's width.
    ///
    /// - Parameters:
    ///   - indexLink: a relative link to the page this report belongs to (e.g. "../report.html"),
    ///     shown at the top; none when nil.
    ///   - figureFolder: the folder (relative to the page) where ``figureFiles`` were written;
    ///     each caption then links its SVG (and PNG when `png`).
    public func html(indexLink: String? = nil, figureFolder: String? = nil, png: Bool = false) -> String {
        let finalAccuracy = readout.accuracies.last ?? 0
        let figures = pageFigures()
        var body = ""
        if let indexLink { body += "<nav><a href=\"\(escapeHTML(indexLink))\">← back to the full report</a></nav>" }
        body += "<h1>Layer-wise interpretation</h1>"
        body += "<p class=\"meta\">\(escapeHTML(source)): \(layers) layers × width \(width) (\(inputFeatures) features + \(classes) classes), \(activation.rawValue), σ = \(sigma). "
        body += "Test accuracy \(jsonNumber(finalAccuracy, path: "readout.accuracies.\(layers - 1)", decimals: 2, scale: 100)) % over \(jsonNumber(Double(readout.samples), path: "readout.samples", decimals: 0)) images. "
        body += "Exact linearisation of \(jsonNumber(Double(linearisation.count), path: "linearisedImages", decimals: 0)) images: completeness error \(jsonScientific(linearisation.completenessError, path: "completenessError")) (relative, float32). "
        body += "Layers are numbered ℓ = 1 … \(layers); D = \(inputFeatures) feature and C = \(classes) class dimensions.</p>"
        body += "<p class=\"meta\">Numbers: <a href=\"report.json\">report.json</a>; maps as numpy arrays: <a href=\"maps/\">maps/</a> (layer_changes, cumulative_changes, class_increments, insens, linearisation, templates .npy).</p>"

        let sections: [(String, String, ClosedRange<Int>)] = [
            ("How well each layer already classifies", "Each layer's class dimensions read as class scores, no probe trained.", 1 ... 4),
            ("Contribution maps: how each layer changes the image", "", 5 ... 5),
            ("What each layer adds to the predicted class, pixel by pixel", "", 6 ... 6),
            ("Class templates", "", 7 ... 7),
            ("Exact linearisation and Insens, per image", "", 8 ... 8),
        ]
        for (heading, intro, range) in sections {
            body += "<h2>\(heading)</h2>"
            if !intro.isEmpty { body += "<p>\(intro)</p>" }
            let group = figures.filter { range.contains($0.number) }
            if group.count > 1 { body += "<div class=\"row\">" }
            for figure in group {
                var links = ""
                if let figureFolder, figure.svg != nil {
                    links = " <span class=\"files\">[<a href=\"\(figureFolder)/\(figure.name).svg\">SVG</a>"
                        + (png ? ", <a href=\"\(figureFolder)/\(figure.name).png\">PNG</a>" : "") + "]</span>"
                }
                body += "<figure id=\"fig\(figure.number)\">\(figure.html)<figcaption><b>Figure \(figure.number).</b> \(figure.caption)\(links)</figcaption></figure>"
            }
            if group.count > 1 { body += "</div>" }
        }

        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Isometry: layer-wise interpretation</title>
        <style>
        \(interpretationPageStyle)
        </style></head><body>
        \(body)
        <p class="meta">Written by <code>interpret</code> (Isometry). Numbers: <a href="report.json">report.json</a>; maps: <a href="maps/">maps/*.npy</a> (numpy.load).</p>
        </body></html>

        """
    }
}

/// The style sheet of the interpretation pages (the identity classifier's and a layer stack's).
let interpretationPageStyle = """
body { font-family: Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1250px; padding: 0 12px; color: #222; }
h1 { font-size: 26px; } h2 { font-size: 19px; margin-top: 34px; border-bottom: 1px solid #ddd; }
.meta { color: #555; } p, figcaption { max-width: 950px; line-height: 1.45; }
figure { margin: 12px 0 22px; min-width: 0; } figcaption { font-size: 13px; color: #333; margin-top: 6px; }
.row { display: flex; flex-wrap: wrap; gap: 8px 20px; } .row figure { flex: 1 1 380px; max-width: 560px; }
svg.fig { display: block; max-width: 100%; height: auto; }
svg.bar { display: block; width: 320px; max-width: 60vw; height: auto; flex: none; }
.legend { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 10px; font-size: 12px; color: #444; margin: 4px 0 8px; }
.maprow { display: flex; flex-wrap: wrap; align-items: flex-start; gap: 4px 10px; padding: 6px 0; border-top: 1px solid #eee; }
.rowlabel { width: 110px; font-size: 12px; color: #333; } .maps { display: flex; flex-wrap: wrap; gap: 4px; flex: 1 1 300px; min-width: 0; } .maps.fixed { flex: 0 1 auto; }
.cell { text-align: center; width: 86px; } .colhead { font-size: 11px; color: #555; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
img.map { width: 84px; height: 84px; image-rendering: pixelated; border: 1px solid #ccc; display: block; }
.cap { font-size: 11px; color: #555; } .files { font-size: 12px; white-space: nowrap; }
.scroll { overflow-x: auto; max-width: 100%; } table.numbers { border-collapse: collapse; font-size: 12px; font-variant-numeric: tabular-nums; }
table.numbers td, table.numbers th { padding: 1px 6px; text-align: right; white-space: nowrap; } table.numbers td:first-child, table.numbers th:first-child { text-align: left; }
table.numbers tr.predicted { font-weight: bold; background: #f3f3f3; }
nav { font-size: 14px; margin-bottom: 8px; }
@media (max-width: 600px) {
  body { margin: 12px auto; } h1 { font-size: 22px; }
  .cell { width: 66px; } img.map { width: 64px; height: 64px; } .rowlabel { width: 100%; }
}
"""
