import CommandSupport
import Datasets
import Figures
import Foundation
import Interpretation
import Networks
import TensorAlgebra
import Training

/// The interpreter's outputs: one self-contained HTML page (PNG maps and SVG plots inlined),
/// the numbers as JSON and the maps as .npy.
struct Report {
    let checkpoint: String
    let classifier: IdentityClassifier<Float>
    let test: LabeledImages
    let readout: LayerReadout
    let analyses: [SampleAnalysis]
    let linearisedCount: Int
    let completenessError: Double
    let linearSeconds: Double
    let samples: [SampleLinearisation]

    var classNames: [String] {
        classifier.classes == 10 && test.imageShape == [28, 28] ? ImageDataset.fashionMNISTClassNames : (0 ..< classifier.classes).map { "class \($0)" }
    }
    var imageSize: (Int, Int) { test.imageShape.count == 2 ? (test.imageShape[1], test.imageShape[0]) : (test.features, 1) }

    func summary(seconds: Double, folder: String) -> String {
        var lines = ["layer  accuracy   true-class likelihood   ‖W−σI‖/‖σI‖"]
        for l in 0 ..< classifier.layers {
            lines.append(String(format: "%5d  %6.2f %%  %22.4f  %12.4f", l + 1, readout.accuracies[l] * 100,
                                readout.trueClassLikelihoods[l], readout.distanceFromIdentity[l]))
        }
        lines.append(String(format: "linearised the logits of %d test images in %.2f s; completeness error %.2e (relative, float32)",
                            linearisedCount, linearSeconds, completenessError))
        lines.append(String(format: "exact-increment error %.2e, switched-projection reproduction error %.2e",
                            analyses.map(\.incrementError).max() ?? 0, analyses.map(\.projectionError).max() ?? 0))
        lines.append(String(format: "wrote %@/report.html, report.json and maps/*.npy in %.1f s", folder, seconds))
        return lines.joined(separator: "\n")
    }

    // MARK: Files

    func writeFiles(to folder: URL) throws {
        let maps = folder.appendingPathComponent("maps")
        _ = try makeFolder(maps.path, flag: "--output")
        let (w, h) = imageSize
        let d = classifier.inputFeatures, layers = classifier.layers, classes = classifier.classes
        func save(_ name: String, _ shape: [Int], _ values: [Double]) throws {
            do { try Tensor<Float>(shape: shape, scalars: values.map(Float.init)).writeNumpyFile(to: maps.appendingPathComponent(name)) } catch {
                throw UserError(message: "--output: cannot write \(name): \((error as NSError).localizedDescription)")
            }
        }
        let s = analyses.count
        try save("layer_changes.npy", [s, layers, h, w], analyses.flatMap { $0.layerChanges.flatMap { $0 } })
        try save("cumulative_changes.npy", [s, layers, h, w], analyses.flatMap { $0.cumulativeChanges.flatMap { $0 } })
        try save("class_increments.npy", [s, layers, classes, h, w], analyses.flatMap { $0.increments.flatMap { $0.flatMap { $0 } } })
        try save("insens.npy", [s, h, w], analyses.flatMap(\.insens))
        try save("linearisation.npy", [s, classes, h, w], samples.flatMap { $0.attributions.flatMap { $0 } })
        try save("templates.npy", [layers, classes, h, w], templates().flatMap { $0.flatMap { $0 } })

        struct Numbers: Encodable {
            let checkpoint: String
            let layers: Int
            let width: Int
            let activation: String
            let readout: LayerReadout
            let linearisedImages: Int
            let completenessError: Double
            let linearisationSeconds: Double
            let samples: [SampleNumbers]
        }
        struct SampleNumbers: Encodable {
            let index: Int, label: Int, prediction: Int
            let logits: [Double], biasShares: [Double]
            let incrementError: Double, projectionError: Double, insensUnits: Int
        }
        let numbers = Numbers(
            checkpoint: checkpoint, layers: layers, width: classifier.width, activation: classifier.activation.rawValue,
            readout: readout, linearisedImages: linearisedCount, completenessError: completenessError, linearisationSeconds: linearSeconds,
            samples: zip(analyses, samples).map { a, l in
                SampleNumbers(index: a.index, label: a.label, prediction: a.prediction, logits: l.logits, biasShares: l.biasShares,
                              incrementError: a.incrementError, projectionError: a.projectionError, insensUnits: a.insensUnits)
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeAtomically(String(decoding: try encoder.encode(numbers), as: UTF8.self), to: folder.appendingPathComponent("report.json").path, flag: "--output")
        // The HTML last and atomically: a report on disk is always complete.
        try writeAtomically(html(), to: folder.appendingPathComponent("report.html").path, flag: "--output")
        _ = d
    }

    /// templates[l][c] = W^l[D+c, 0..<D].
    func templates() -> [[[Double]]] {
        let (d, n) = (classifier.inputFeatures, classifier.width)
        return classifier.network.weights.map { w in
            w.withUnsafeBufferPointer { e in
                (0 ..< classifier.classes).map { c in (0 ..< d).map { Double(e[(d + c) * n + $0]) } }
            }
        }
    }

    // MARK: HTML

    func image(_ values: [Double], limit: Double? = nil, grey: Bool = false, title: String = "") -> String {
        let (w, h) = imageSize
        let png = grey ? PNGImage.grey(values, width: w, height: h) : PNGImage.diverging(values, width: w, height: h, limit: limit)
        return "<img class=\"map\" src=\"\(png.dataURI)\" title=\"\(escape(title))\" alt=\"\(escape(title))\">"
    }

    func legend(limit: Double, label: String) -> String {
        var canvas = SVGCanvas(width: 320, height: 44)
        for k in 0 ..< 100 {
            canvas.rect(x: 10 + Double(k) * 3, y: 4, width: 3.2, height: 14, fill: ColorMap.diverging.hex(Double(k) / 99))
        }
        canvas.rect(x: 10, y: 4, width: 300, height: 14, fill: "none", stroke: "#444")
        canvas.text(String(format: "−%.3g", limit), x: 10, y: 34, size: 11, anchor: .start)
        canvas.text("0", x: 160, y: 34, size: 11, anchor: .middle)
        canvas.text(String(format: "+%.3g", limit), x: 310, y: 34, size: 11, anchor: .end)
        return "<div class=\"legend\">\(inlineSVG(canvas))<span>\(escape(label))</span></div>"
    }

    func inlineSVG(_ canvas: SVGCanvas) -> String {
        canvas.render().replacingOccurrences(of: "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n", with: "")
    }

    func html() -> String {
        let layers = classifier.layers
        let names = classNames
        var body = ""
        let finalAccuracy = readout.accuracies.last ?? 0
        body += "<h1>Layer-wise interpretation</h1>"
        body += "<p class=\"meta\">\(escape(checkpoint)): \(layers) layers × width \(classifier.width) (\(classifier.inputFeatures) features + \(classifier.classes) classes), \(classifier.activation.rawValue), σ = \(classifier.sigma). "
        body += String(format: "Test accuracy %.2f %% over %d images. ", finalAccuracy * 100, readout.samples)
        body += String(format: "Exact linearisation of %d images: completeness error %.1e (relative, float32).</p>", linearisedCount, completenessError)

        // Per-layer curves.
        body += "<h2>How well each layer already classifies</h2><p>Each layer's class dimensions h<sup>l</sup>[D..&lt;D+C] read as class scores: no probe is trained. Left: recognition accuracy on the test set; right: how far training moved each layer from σI.</p>"
        body += inlineSVG(layerFigure(accuracies: readout.accuracies, distances: readout.distanceFromIdentity, title: "Per layer: readout accuracy and distance from identity"))
        body += likelihoodFigure()
        body += confusionTable()

        // Contribution maps.
        let cumulativeLimit = analyses.flatMap { $0.cumulativeChanges.flatMap { $0 } }.map(abs).max() ?? 1
        body += "<h2>Contribution maps: how each layer changes the image</h2><p>x<sup>l</sup>[0..&lt;D] − x<sup>0</sup>[0..&lt;D], the change of the feature dimensions since the input, layer by layer (one colour scale for the whole grid; white is no change).</p>"
        body += legend(limit: cumulativeLimit, label: "xˡ − x⁰ (feature dimensions)")
        body += "<table class=\"grid\"><tr><th>input</th>" + (1 ... layers).map { "<th>layer \($0)</th>" }.joined() + "</tr>"
        for a in analyses {
            let pixels = (0 ..< test.features).map { Double(test.pixels[a.index * test.features + $0]) / 255 }
            body += "<tr><td>\(image(pixels, grey: true, title: "test image \(a.index)"))<div class=\"cap\">#\(a.index) \(escape(names[a.label]))</div></td>"
            for l in 0 ..< layers { body += "<td>\(image(a.cumulativeChanges[l], limit: cumulativeLimit, title: "image \(a.index), layer \(l + 1)"))</td>" }
            body += "</tr>"
        }
        body += "</table>"

        // Class increments of the last layer for each sample, predicted class.
        body += "<h2>What each layer adds to the predicted class, pixel by pixel</h2><p>W<sup>l</sup>[D+c, j]·x<sup>l−1</sup>[j]: the exact per-pixel split of what layer l's feature dimensions add to the score of the predicted class c. The sums match the increments to \(String(format: "%.1e", analyses.map(\.incrementError).max() ?? 0)) (relative).</p>"
        let incrementLimit = analyses.flatMap { a in a.increments.flatMap { $0[a.prediction] } }.map(abs).max() ?? 1
        body += legend(limit: incrementLimit, label: "per-pixel contribution to the predicted class score")
        body += "<table class=\"grid\"><tr><th>sample</th>" + (1 ... layers).map { "<th>layer \($0)</th>" }.joined() + "</tr>"
        for a in analyses {
            body += "<tr><td class=\"cap\">#\(a.index)<br>→ \(escape(names[a.prediction]))</td>"
            for l in 0 ..< layers { body += "<td>\(image(a.increments[l][a.prediction], limit: incrementLimit, title: "layer \(l + 1)"))</td>" }
            body += "</tr>"
        }
        body += "</table>"

        // Templates.
        let templates = self.templates()
        let templateLimit = templates.flatMap { $0.flatMap { $0 } }.map(abs).max() ?? 1
        body += "<h2>Class templates</h2><p>W<sup>l</sup>[D+c, 0..&lt;D]: the weights with which layer l writes the pixels into class c's score.</p>"
        body += legend(limit: templateLimit, label: "template weight")
        body += "<table class=\"grid\"><tr><th></th>" + names.map { "<th>\(escape($0))</th>" }.joined() + "</tr>"
        for l in 0 ..< layers {
            body += "<tr><th>layer \(l + 1)</th>" + (0 ..< classifier.classes).map { "<td>\(image(templates[l][$0], limit: templateLimit, title: "layer \(l + 1), \(names[$0])"))</td>" }.joined() + "</tr>"
        }
        body += "</table>"

        // Linearisation and Insens.
        body += "<h2>Exact linearisation and Insens, per image</h2><p>For each image the network is exactly linear on its activation region: logits = W(x)·x + b(x). Shown: W(x)<sub>c</sub> ⊙ x for the true and the predicted class (each pixel's exact share of the logit), b(x)<sub>c</sub> (the share no pixel owns), and the Insens map Ω(x) (mean shortest step to the switching hyperplanes of the inactive hidden units). Each map has its own symmetric scale, given under it.</p>"
        body += "<table class=\"grid\"><tr><th>image</th><th>true class share</th><th>predicted class share</th><th>Insens Ω(x)</th><th>logits and bias shares</th></tr>"
        for (a, l) in zip(analyses, samples) {
            let pixels = (0 ..< test.features).map { Double(test.pixels[a.index * test.features + $0]) / 255 }
            let trueMap = l.attributions[a.label], predictedMap = l.attributions[a.prediction]
            let limit = max(trueMap.map(abs).max() ?? 0, predictedMap.map(abs).max() ?? 0, 1e-12)
            let insensLimit = max(a.insens.map(abs).max() ?? 0, 1e-12)
            let verdict = a.label == a.prediction ? "correct" : "wrong"
            body += "<tr><td>\(image(pixels, grey: true))<div class=\"cap\">#\(a.index)<br>true: \(escape(names[a.label]))<br>predicted: \(escape(names[a.prediction])) (\(verdict))</div></td>"
            body += "<td>\(image(trueMap, limit: limit))<div class=\"cap\">±\(String(format: "%.3g", limit))</div></td>"
            body += "<td>\(image(predictedMap, limit: limit))<div class=\"cap\">±\(String(format: "%.3g", limit))</div></td>"
            body += "<td>\(image(a.insens, limit: insensLimit))<div class=\"cap\">±\(String(format: "%.3g", insensLimit)), \(a.insensUnits) units</div></td>"
            body += "<td class=\"numbers\">" + (0 ..< classifier.classes).map { c in
                String(format: "%@%@: %.2f = %.2f + %.2f", c == a.prediction ? "▶ " : "", escape(names[c]), l.logits[c], l.logits[c] - l.biasShares[c], l.biasShares[c])
            }.joined(separator: "<br>") + "<div class=\"cap\">logit = Σ pixel shares + bias share</div></td></tr>"
        }
        body += "</table>"
        body += legend(limit: 1, label: "all maps: blue negative, white zero, red positive (scale as noted)")

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

    func likelihoodFigure() -> String {
        var canvas = SVGCanvas(width: 450, height: 330)
        let layers = Double(classifier.layers)
        let x = Scale(domain: 0.5 ... (layers + 0.5), pixels: (80, 420))
        let y = Scale(domain: 0 ... 1, pixels: (270, 40))
        canvas.text("Mean likelihood of the true class per layer", x: 250, y: 22, size: 14, anchor: .middle, weight: "bold")
        canvas.axes(x: x, y: y, xLabel: "layer l", yLabel: "softmax of class dims, true class", xTicks: min(classifier.layers, 10))
        let points = readout.trueClassLikelihoods.enumerated().map { (x(Double($0.offset + 1)), y($0.element)) }
        canvas.polyline(points, stroke: "#756bb1", width: 2)
        for p in points { canvas.circle(x: p.0, y: p.1, radius: 4, fill: "#756bb1") }
        return inlineSVG(canvas)
    }

    func confusionTable() -> String {
        let matrix = readout.confusion.last ?? []
        let names = classNames
        let largest = Double(matrix.flatMap { $0 }.max() ?? 1)
        var html = "<h3>Confusion matrix of the last layer (rows: true class, columns: predicted)</h3><table class=\"confusion\"><tr><th></th>"
        html += names.indices.map { "<th>\($0)</th>" }.joined() + "</tr>"
        for (t, row) in matrix.enumerated() {
            html += "<tr><th style=\"text-align:right\">\(escape(names[t])) (\(t))</th>"
            for count in row {
                let color = ColorMap.viridis.hex(Double(count) / largest)
                let text = Double(count) / largest > 0.6 ? "#000" : "#fff"
                html += "<td style=\"background:\(color);color:\(text)\">\(count)</td>"
            }
            html += "</tr>"
        }
        return html + "</table>"
    }
}

func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
