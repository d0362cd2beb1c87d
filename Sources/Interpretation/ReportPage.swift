import Figures
import Foundation

extension InterpretationReport {
    /// Width and height of one map: images of [h, w] as they are, flat data as one row.
    var mapSize: (width: Int, height: Int) { imageShape.count == 2 ? (imageShape[1], imageShape[0]) : (inputFeatures, 1) }

    /// The report as one self-contained HTML page: PNG maps and SVG plots inlined, no external
    /// resources, so it opens offline in any browser.
    public func html() -> String {
        let names = classNames
        let (w, h) = mapSize
        func image(_ values: [Double], limit: Double? = nil, grey: Bool = false, title: String = "") -> String {
            mapImage(values, width: w, height: h, limit: limit, grey: grey, title: title)
        }
        let samples = linearisation.samples
        var body = ""
        let finalAccuracy = readout.accuracies.last ?? 0
        body += "<h1>Layer-wise interpretation</h1>"
        body += "<p class=\"meta\">\(escapeHTML(source)): \(layers) layers × width \(width) (\(inputFeatures) features + \(classes) classes), \(activation.rawValue), σ = \(sigma). "
        body += String(format: "Test accuracy %.2f %% over %d images. ", finalAccuracy * 100, readout.samples)
        body += String(format: "Exact linearisation of %d images: completeness error %.1e (relative, float32).</p>", linearisation.count, linearisation.completenessError)

        // Per-layer curves.
        body += "<h2>How well each layer already classifies</h2><p>Each layer's class dimensions h<sup>l</sup>[D..&lt;D+C] read as class scores: no probe is trained. Left: recognition accuracy on the test set; right: how far training moved each layer from σI.</p>"
        body += inlineSVG(layerFigure(accuracies: readout.accuracies, distances: readout.distanceFromIdentity, title: "Per layer: readout accuracy and distance from identity"))
        body += inlineSVG(trueClassLikelihoodFigure(readout.trueClassLikelihoods))
        body += confusionMatrixTable(readout.confusion.last ?? [], classNames: names)

        // Contribution maps.
        let cumulativeLimit = analyses.flatMap { $0.cumulativeChanges.flatMap { $0 } }.map(abs).max() ?? 1
        body += "<h2>Contribution maps: how each layer changes the image</h2><p>x<sup>l</sup>[0..&lt;D] − x<sup>0</sup>[0..&lt;D], the change of the feature dimensions since the input, layer by layer (one colour scale for the whole grid; white is no change).</p>"
        body += colorBarLegend(limit: cumulativeLimit, label: "xˡ − x⁰ (feature dimensions)")
        body += "<table class=\"grid\"><tr><th>input</th>" + (1 ... layers).map { "<th>layer \($0)</th>" }.joined() + "</tr>"
        for a in analyses {
            body += "<tr><td>\(image(a.input, grey: true, title: "test image \(a.index)"))<div class=\"cap\">#\(a.index) \(escapeHTML(names[a.label]))</div></td>"
            for l in 0 ..< layers { body += "<td>\(image(a.cumulativeChanges[l], limit: cumulativeLimit, title: "image \(a.index), layer \(l + 1)"))</td>" }
            body += "</tr>"
        }
        body += "</table>"

        // Class increments of every layer for each sample, predicted class.
        body += "<h2>What each layer adds to the predicted class, pixel by pixel</h2><p>W<sup>l</sup>[D+c, j]·x<sup>l−1</sup>[j]: the exact per-pixel split of what layer l's feature dimensions add to the score of the predicted class c. The sums match the increments to \(String(format: "%.1e", incrementError)) (relative).</p>"
        let incrementLimit = analyses.flatMap { a in a.increments.flatMap { $0[a.prediction] } }.map(abs).max() ?? 1
        body += colorBarLegend(limit: incrementLimit, label: "per-pixel contribution to the predicted class score")
        body += "<table class=\"grid\"><tr><th>sample</th>" + (1 ... layers).map { "<th>layer \($0)</th>" }.joined() + "</tr>"
        for a in analyses {
            body += "<tr><td class=\"cap\">#\(a.index)<br>→ \(escapeHTML(names[a.prediction]))</td>"
            for l in 0 ..< layers { body += "<td>\(image(a.increments[l][a.prediction], limit: incrementLimit, title: "layer \(l + 1)"))</td>" }
            body += "</tr>"
        }
        body += "</table>"

        // Templates.
        let templateLimit = templates.values.flatMap { $0.flatMap { $0 } }.map(abs).max() ?? 1
        body += "<h2>Class templates</h2><p>W<sup>l</sup>[D+c, 0..&lt;D]: the weights with which layer l writes the pixels into class c's score.</p>"
        body += colorBarLegend(limit: templateLimit, label: "template weight")
        body += "<table class=\"grid\"><tr><th></th>" + names.map { "<th>\(escapeHTML($0))</th>" }.joined() + "</tr>"
        for l in 0 ..< layers {
            body += "<tr><th>layer \(l + 1)</th>" + (0 ..< classes).map { "<td>\(image(templates.values[l][$0], limit: templateLimit, title: "layer \(l + 1), \(names[$0])"))</td>" }.joined() + "</tr>"
        }
        body += "</table>"

        // Linearisation and Insens.
        body += "<h2>Exact linearisation and Insens, per image</h2><p>For each image the network is exactly linear on its activation region: logits = W(x)·x + b(x). Shown: W(x)<sub>c</sub> ⊙ x for the true and the predicted class (each pixel's exact share of the logit), b(x)<sub>c</sub> (the share no pixel owns), and the Insens map Ω(x) (mean shortest step to the switching hyperplanes of the inactive hidden units). Each map has its own symmetric scale, given under it.</p>"
        body += "<table class=\"grid\"><tr><th>image</th><th>true class share</th><th>predicted class share</th><th>Insens Ω(x)</th><th>logits and bias shares</th></tr>"
        for (a, l) in zip(analyses, samples) {
            let trueMap = l.attributions[a.label], predictedMap = l.attributions[a.prediction]
            let limit = max(trueMap.map(abs).max() ?? 0, predictedMap.map(abs).max() ?? 0, 1e-12)
            let insensLimit = max(a.insens.map(abs).max() ?? 0, 1e-12)
            let verdict = a.label == a.prediction ? "correct" : "wrong"
            body += "<tr><td>\(image(a.input, grey: true))<div class=\"cap\">#\(a.index)<br>true: \(escapeHTML(names[a.label]))<br>predicted: \(escapeHTML(names[a.prediction])) (\(verdict))</div></td>"
            body += "<td>\(image(trueMap, limit: limit))<div class=\"cap\">±\(String(format: "%.3g", limit))</div></td>"
            body += "<td>\(image(predictedMap, limit: limit))<div class=\"cap\">±\(String(format: "%.3g", limit))</div></td>"
            body += "<td>\(image(a.insens, limit: insensLimit))<div class=\"cap\">±\(String(format: "%.3g", insensLimit)), \(a.insensUnits) units</div></td>"
            body += "<td class=\"numbers\">" + (0 ..< classes).map { c in
                String(format: "%@%@: %.2f = %.2f + %.2f", c == a.prediction ? "▶ " : "", escapeHTML(names[c]), l.logits[c], l.logits[c] - l.biasShares[c], l.biasShares[c])
            }.joined(separator: "<br>") + "<div class=\"cap\">logit = Σ pixel shares + bias share</div></td></tr>"
        }
        body += "</table>"
        body += colorBarLegend(limit: 1, label: "all maps: blue negative, white zero, red positive (scale as noted)")

        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>Isometry: layer-wise interpretation</title>
        <style>
        body { font-family: Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1250px; color: #222; }
        h1 { font-size: 26px; } h2 { font-size: 19px; margin-top: 34px; border-bottom: 1px solid #ddd; }
        .meta { color: #555; } p { max-width: 950px; line-height: 1.45; }
        img.map { width: 84px; height: 84px; image-rendering: pixelated; border: 1px solid #ccc; }
        table.grid { border-collapse: collapse; } table.grid td, table.grid th { padding: 3px; text-align: center; font-size: 12px; vertical-align: top; }
        .cap { font-size: 11px; color: #555; } .numbers { text-align: left !important; font-family: monospace; font-size: 11px; }
        .legend { display: flex; align-items: center; gap: 10px; font-size: 12px; color: #444; }
        table.confusion td { width: 34px; height: 22px; font-size: 11px; text-align: center; }
        </style></head><body>
        \(body)
        <p class="meta">Written by <code>swift run interpret</code> (Isometry). Numbers: report.json; maps: maps/*.npy (numpy.load).</p>
        </body></html>

        """
    }
}
