import Figures
import Foundation
import Interpretation

// The page of a layer stack's interpretation (StackInterpretationReport): the figures that apply
// to any piecewise-linear network, the class-dimension figures when the stack has them, and a
// section that names what is left out and why. Numbers carry data-json paths into report.json
// and colour-scale limits data-maxabs slices of maps/, as on the identity classifier's page.

extension StackInterpretationReport {

    func pageFigures() -> [InterpretationReport.PageFigure] {
        let names = classNames
        let (w, h) = mapSize
        let s = analyses.count
        var figures: [InterpretationReport.PageFigure] = []
        func add(_ name: String, svg: SVGCanvas?, html: String? = nil, caption: String) {
            figures.append(.init(number: figures.count + 1, name: name, svg: svg, html: html ?? svg.map { inlineSVG($0) } ?? "", caption: caption))
        }
        let testImages = "\(evaluation.predictions.count) test images"

        add("fig1-confusion-matrix", svg: confusionMatrixFigure(evaluation.confusion, classNames: names, jsonPath: "confusion",
                                                                title: "Confusion matrix of the network's output"),
            caption: "Rows: true class; columns: the class of the largest output. Each cell shows its count of the \(testImages); its colour is its share of the row (0–100 %).")

        if let readout {
            let low = max(0, ((readout.accuracies.filter(\.isFinite).min() ?? 0) * 100 - 5).rounded(.down))
            add("fig2-readout-accuracy", svg: perLayerFigure(readout.accuracies, title: "Readout accuracy per layer", yLabel: "test accuracy of class dims (%)",
                                                             domain: low ... 100, color: "#2c7fb8", scale: 100, jsonPath: "readout.accuracies", decimals: 2),
                caption: "Test accuracy (%) when the class units of readout layer ℓ's output h<sup>ℓ</sup> (the dense layers \(readoutLayers) wide) are read as class scores, over \(testImages).")
        }
        if readout != nil {
            let cumulative = largestMagnitude(analyses.flatMap { $0.cumulativeChanges ?? [] })
            let grid = MapGrid(width: w, height: h, columns: ["input"] + (1 ... max(readoutLayers, 1)).map { "layer \($0)" }, rows: analyses.map { a in
                MapRow(label: "#\(a.index)<br>\(escapeHTML(names[a.label]))",
                       panels: [MapPanel(values: a.input, grey: true, title: "test image \(a.index)")]
                           + (a.cumulativeChanges ?? []).enumerated().map { MapPanel(values: $1, limit: cumulative, title: "image \(a.index), layer \($0 + 1)") })
            })
            add("fig\(figures.count + 1)-contribution-maps", svg: grid.svg(title: "Contribution maps", legend: (cumulative, "xˡ − x⁰, one scale for all maps")),
                html: colorBarLegend(limit: cumulative, limitSlices: ["cumulative_changes.npy:"], label: "x<sup>ℓ</sup> − x<sup>0</sup> on the feature units; one scale") + grid.html(),
                caption: "x<sup>ℓ</sup>[0..&lt;D] − x<sup>0</sup>[0..&lt;D] after each readout layer, for \(s) test images, on one symmetric scale ±\(limitNumber(cumulative, slices: ["cumulative_changes.npy:"])).")
        }
        if let templates {
            let grid = MapGrid(width: w, height: h, columns: names, rows: classTemplateRows(templates.values, names: names))
            add("fig\(figures.count + 1)-class-templates", svg: grid.svg(title: "Class templates", legend: (nil, "m: one scale per layer")),
                html: colorBarLegend(limit: nil, label: "template weight; <b>one scale ±m per layer</b>") + grid.html(),
                caption: "W<sup>ℓ</sup>[D+c, 0..&lt;D] of every readout layer and class; one symmetric scale per layer, printed beside it.")
        }

        var rows: [MapRow] = [], tables: [String] = []
        for (i, (a, l)) in zip(analyses, linearisation.samples).enumerated() {
            let trueMap = l.attributions[a.label], predictedMap = l.attributions[a.prediction]
            rows.append(MapRow(
                label: "#\(a.index)<br>true: \(escapeHTML(names[a.label]))<br>predicted: \(escapeHTML(names[a.prediction]))",
                panels: linearisationPanels(sample: i, index: a.index, input: a.input, trueClass: a.label, trueMap: trueMap,
                                            predictedClass: a.prediction, predictedMap: predictedMap, insens: a.insens)))
            var table = "<div class=\"scroll\"><table class=\"numbers\"><tr><th>class</th><th>output</th><th>= Σ pixels</th><th>+ bias</th></tr>"
            for c in 0 ..< classes {
                table += "<tr\(c == a.prediction ? " class=\"predicted\"" : "")><td>\(c == a.prediction ? "▶ " : "")\(escapeHTML(names[c]))</td>"
                table += "<td>\(jsonNumber(l.logits[c], path: "samples.\(i).logits.\(c)", decimals: 2))</td>"
                table += "<td>\(jsonNumber(l.logits[c] - l.biasShares[c], path: "samples.\(i).logits.\(c)", decimals: 2, minus: "samples.\(i).biasShares.\(c)"))</td>"
                table += "<td>\(jsonNumber(l.biasShares[c], path: "samples.\(i).biasShares.\(c)", decimals: 2))</td></tr>"
            }
            tables.append(table + "</table><div class=\"cap\">\(jsonNumber(Double(a.insensUnits), path: "samples.\(i).insensUnits", decimals: 0)) inactive units enter Ω</div></div>")
        }
        let grid = MapGrid(width: w, height: h, columns: ["input", "true class", "predicted class", "Insens Ω(x)"], rows: rows, extras: tables)
        add("fig\(figures.count + 1)-linearisation-and-insens", svg: grid.svg(title: "Exact linearisation and Insens, per image", legend: (nil, "m: printed under each map")),
            html: colorBarLegend(limit: nil, label: "blue negative, white zero, red positive; the two class maps of an image <b>share one scale</b>, Ω(x) has its own") + grid.html(),
            caption: "The network is exactly affine on each image's activation region: output = W(x)·x + b(x). The class maps are W(x)<sub>c</sub> ⊙ x, each pixel's exact share; "
                + "the table splits each output into Σ pixel shares + the bias share b(x)<sub>c</sub> (biases, and the ±1 of saturated hard-tanh units, carried to the output). "
                + "Insens Ω(x): the mean over the inactive units of the displacement from each unit's switching hyperplane to x (docs/theory.md §3). "
                + "Completeness over all \(jsonNumber(Double(linearisation.count), path: "linearisedImages", decimals: 0)) linearised images: \(jsonScientific(linearisation.completenessError, path: "completenessError")) (relative); "
                + "switched projections reproduce every unit to \(jsonScientific(projectionError, path: "projectionError")).")

        if classMeans.counts.contains(where: { $0 > 0 }) {
            let means = classMeans.means
            let limit = largestMagnitude(means)
            let grid = MapGrid(width: w, height: h, columns: names, rows: [MapRow(
                label: "mean W(x)<sub>c</sub><br>±" + limitNumber(limit, slices: ["class_mean_weights.npy:"]),
                panels: means.indices.map { c in
                    MapPanel(values: means[c], limit: limit, title: "mean W(x) of \(names[c])",
                             caption: "n = " + jsonNumber(Double(classMeans.counts[c]), path: "classMeanWeights.counts.\(c)", decimals: 0))
                })])
            add("fig\(figures.count + 1)-class-mean-weights", svg: grid.svg(title: "W(x) per class, averaged over the images of the class", legend: (limit, "W(x)_c, one scale")),
                html: colorBarLegend(limit: limit, limitSlices: ["class_mean_weights.npy:"], label: "W(x)<sub>c</sub>, one scale for all classes") + grid.html(),
                caption: "For each class c, W(x)<sub>c</sub> (the weights of output c in output = W(x)·x + b(x)) averaged over the linearised test images whose label is c "
                    + "(n of each class under its map): what the network weighs, pixel by pixel, when it scores an image of that class. "
                    + "A network with convolutions has no class templates; this is the map it has per class.")
        }

        if let first = channelMaps.first, !first.isEmpty, let a = analyses.first {
            let leading = 8
            for (k, layer) in first.enumerated() {
                let spatial = Array(layer.shape.dropFirst())
                let (lw, lh) = spatial.count == 2 ? (spatial[1], spatial[0]) : (spatial.reduce(1, *), 1)
                let slice = "channel_contributions_layer\(layer.layer).npy:0"
                let limit = largestMagnitude(layer.contributions)
                let chosen = layer.leadingChannels(leading)
                let totals = layer.channelTotals
                let grid = MapGrid(width: lw, height: lh, columns: chosen.map { "channel \($0)" }, rows: [MapRow(
                    label: "layer \(layer.layer) (\(escapeHTML(layer.kind)))<br>±" + limitNumber(limit, slices: [slice]),
                    panels: chosen.map { c in
                        MapPanel(values: layer.contributions[c], limit: limit, title: "layer \(layer.layer), channel \(c)",
                                 caption: "Σ " + jsonNumber(totals[c], path: "channelMaps.0.\(k).channelTotals.\(c)", decimals: 2))
                    })])
                add("fig\(figures.count + 1)-channel-contributions-layer\(layer.layer)",
                    svg: grid.svg(title: "Layer \(layer.layer): contributions of its \(layer.channels) channels, image \(a.index)", legend: (limit, "∂F/∂h ⊙ h, one scale")),
                    html: colorBarLegend(limit: limit, limitSlices: [slice], label: "∂F<sub>c</sub>/∂h ⊙ h over the layer's positions; one scale for the layer") + grid.html(),
                    caption: "Test image \(a.index) (true: \(escapeHTML(names[a.label])), predicted: \(escapeHTML(names[a.prediction]))): "
                        + "the \(chosen.count) of layer \(layer.layer)'s \(layer.channels) channels (output \(layer.shape.map(String.init).joined(separator: " × "))) whose units add the most to the predicted score, by |Σ|. "
                        + "Above the layer the network is affine at this image's pattern, so score = Σ over all channels' maps + the intercept the layers above collect: "
                        + "\(jsonNumber(layer.score, path: "channelMaps.0.\(k).score", decimals: 3)) = "
                        + "\(jsonNumber(layer.score - layer.downstreamBias, path: "channelMaps.0.\(k).score", decimals: 3, minus: "channelMaps.0.\(k).downstreamBias")) + "
                        + "\(jsonNumber(layer.downstreamBias, path: "channelMaps.0.\(k).downstreamBias", decimals: 3)) "
                        + "(error \(jsonScientific(layer.completenessError, path: "channelMaps.0.\(k).completenessError"))). Every channel of every image: maps/channel_contributions_layer\(layer.layer).npy.")
            }
            let rows = first.enumerated().map { k, layer in
                let slice = "channel_insens_layer\(layer.layer).npy:0"
                let limit = largestMagnitude(layer.insens)
                return MapRow(label: "layer \(layer.layer) (\(escapeHTML(layer.kind)))<br>±" + limitNumber(limit, slices: [slice]),
                              panels: layer.leadingChannels(leading).map { c in
                                  MapPanel(values: layer.insens[c], limit: limit, title: "layer \(layer.layer), channel \(c)",
                                           caption: "ch \(c): " + jsonNumber(Double(layer.insensUnits[c]), path: "channelMaps.0.\(k).insensUnits.\(c)", decimals: 0) + " units")
                              })
            }
            let grid = MapGrid(width: w, height: h, columns: (1 ... leading).map { "#\($0)" }, rows: rows)
            add("fig\(figures.count + 1)-channel-insens",
                svg: grid.svg(title: "Insens per channel, image \(a.index)", legend: (nil, "m: one scale per layer")),
                html: colorBarLegend(limit: nil, label: "Ω of one channel's inactive units over the input; <b>one scale ±m per layer</b>") + grid.html(),
                caption: "Test image \(a.index): for the channels of Figure \(figures.count - first.count + 1)\(first.count > 1 ? "–\(figures.count)" : "") (in the same order), Insens restricted to the channel's inactive units "
                    + "entering the activation after the layer: the mean over them of the displacement from each unit's switching hyperplane to x (docs/theory.md §4, \"Channel maps\"). "
                    + "Weighted by their unit counts and summed over the layers, they make the Insens map Ω(x) of the figure above. Every channel: maps/channel_insens_layer*.npy.")
        }
        return figures
    }

    /// The share of active units of every unit layer over the linearised images (theory.md §4,
    /// "Active units"), as a table; empty when the network has no unit layer.
    func activeUnitsTable() -> String {
        guard !activity.layers.isEmpty else { return "" }
        let means = activity.meanFractions
        var table = "<h2 id=\"active-units\">Active units</h2><div class=\"scroll\"><table class=\"numbers\">"
            + "<tr><th>layer</th><th>kind</th><th>units</th><th>active (mean over \(jsonNumber(Double(activity.instances), path: "activeUnits.images", decimals: 0)) images)</th></tr>"
        for k in activity.layers.indices {
            table += "<tr><td>\(activity.layers[k])</td><td>\(escapeHTML(activity.kinds[k]))</td>"
                + "<td>\(jsonNumber(Double(activity.units[k]), path: "activeUnits.layers.\(k).units", decimals: 0))</td>"
                + "<td>\(jsonNumber(means[k], path: "activeUnits.layers.\(k).meanActiveFraction", decimals: 1, scale: 100)) %</td></tr>"
        }
        table += "<tr><td colspan=\"3\">all unit layers</td><td>\(jsonNumber(activity.overallFraction, path: "activeUnits.overallActiveFraction", decimals: 1, scale: 100)) %</td></tr></table></div>"
        return table + "<p class=\"meta\">A unit (an entry of a dense, convolution or average-pool layer's output) is active when every activation after it "
            + "passes it on its identity piece and every max pool after it selects it; max-pool losers count as inactive (Szymanski et al.; docs/theory.md §4).</p>"
    }

    /// The page's figures as standalone SVG documents, by file name.
    public var figureFiles: [(name: String, svg: String)] {
        pageFigures().compactMap { figure in figure.svg.map { ("\(figure.name).svg", $0.render()) } }
    }

    /// The report as one self-contained HTML page (see ``InterpretationReport/html(indexLink:figureFolder:png:)``).
    public func html(indexLink: String? = nil, figureFolder: String? = nil, png: Bool = false) -> String {
        var body = ""
        if let indexLink { body += "<nav><a href=\"\(escapeHTML(indexLink))\">← back to the full report</a></nav>" }
        body += "<h1>Interpretation of a piecewise-linear network</h1>"
        body += "<p class=\"meta\">\(escapeHTML(source)): input \(inputShape), \(architecture.count) layers ("
            + architecture.map(escapeHTML).joined(separator: "; ") + "). "
        body += "Test accuracy \(jsonNumber(evaluation.accuracy, path: "accuracy", decimals: 2, scale: 100)) % "
            + "(\(jsonNumber(Double(evaluation.correct), path: "correct", decimals: 0)) of \(jsonNumber(Double(evaluation.predictions.count), path: "testImages", decimals: 0)) images). "
        body += "Exact linearisation of \(jsonNumber(Double(linearisation.count), path: "linearisedImages", decimals: 0)) images: completeness error \(jsonScientific(linearisation.completenessError, path: "completenessError")) (relative).</p>"
        body += "<p class=\"meta\">Numbers: <a href=\"report.json\">report.json</a>; maps as numpy arrays: <a href=\"maps/\">maps/</a> (\(maps.map { $0.name.replacingOccurrences(of: ".npy", with: "") }.joined(separator: ", ")) .npy).</p>"
        body += activeUnitsTable()
        for figure in pageFigures() {
            var links = ""
            if let figureFolder, figure.svg != nil {
                links = " <span class=\"files\">[<a href=\"\(figureFolder)/\(figure.name).svg\">SVG</a>"
                    + (png ? ", <a href=\"\(figureFolder)/\(figure.name).png\">PNG</a>" : "") + "]</span>"
            }
            body += "<figure id=\"fig\(figure.number)\">\(figure.html)<figcaption><b>Figure \(figure.number).</b> \(figure.caption)\(links)</figcaption></figure>"
        }
        if !notShown.isEmpty {
            body += "<h2 id=\"not-shown\">Not shown</h2><ul>"
            for reason in notShown.values.sorted() { body += "<li>\(escapeHTML(reason)).</li>" }
            body += "</ul><p>They read the class units of every layer (docs/theory.md §1), which the layers of an identity classifier, or of any stack saved with class dimensions, carry.</p>"
        }
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Isometry: interpretation</title>
        <style>
        \(interpretationPageStyle)
        </style></head><body>
        \(body)
        <p class="meta">Written by <code>interpret</code> (Isometry). Numbers: <a href="report.json">report.json</a>; maps: <a href="maps/">maps/*.npy</a> (numpy.load).</p>
        </body></html>

        """
    }
}
