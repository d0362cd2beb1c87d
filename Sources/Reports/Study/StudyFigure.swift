import Figures
import Foundation
import IsometrySupport
import Study

extension StudyGrid {
    static let palette = ["#1b9e77", "#7570b3", "#d95f02", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"]

    /// study.svg: test accuracy against depth (one line per arm, the band spans the seeds), and
    /// beside it the spectrum of J Jᵀ at initialisation against the theory: the fraction of
    /// eigenvalues above 1e-3 λ_max (identity law's α) and the mean eigenvalue (α σ^{2L}; for
    /// random weights the finite-depth ∏ χ_l from the data's q0), with the measured/theory ratio
    /// of the mean under it on a scale of 1/4 … 4.
    ///
    /// The figure is laid out at a printed width (issue 23 #8): across both columns of a paper
    /// the three panels stand side by side; in one column (`study-column.svg`) they stack. Text
    /// is at ``Typography/print`` sizes there, 7.5–9 pt; what the panels do not say goes into the
    /// caption under the legend.
    public func figure(_ results: [StudyResult], title: String? = nil, width figureWidth: FigureWidth = .doubleColumn) -> SVGCanvas {
        var canvas = SVGCanvas(printWidth: figureWidth, height: 0)
        let type = canvas.typography
        let single = figureWidth == .singleColumn
        let arms = arms
        let network = convolution.map { "CNN (\($0.channels) channels, k = \($0.kernel), \($0.head.rawValue) head)" } ?? "MLP"
        // A CNN study's data may be images or sequences (MNIST-1D); the grid does not record
        // which, so its figure says "samples". The MLP's are always images.
        let samples = convolution == nil ? "images" : "samples"
        let jacobian = convolution == nil ? "J Jᵀ" : "JᵀJ"
        var cursor = canvas.figureTitle(title ?? "Trainability against depth: \(activation.rawValue) \(network)")

        let depthsSorted = depths.sorted()
        let (lo, hi) = (Double(depthsSorted.first ?? 1), Double(depthsSorted.last ?? 1))
        let domain = lo == hi ? (lo / 1.5) ... (hi * 1.5) : lo ... hi
        let byArm = Dictionary(grouping: results) { $0.arm }
        func color(_ index: Int) -> String { Self.palette[index % Self.palette.count] }

        // The y domains first: the panels' left margins depend on their tick labels.
        let accuracyDomain = 0.0 ... 100.0, fractionDomain = 0.0 ... 1.0
        let means = results.flatMap { [$0.theoryMean, $0.measuredMean] }.compactMap { $0 }.filter { $0.isFinite && $0 > 0 }
        let low = max(means.min() ?? 0.1, 1e-30), high = max(means.max() ?? 10, low * 10)
        let meanDomain = pow(10, floor(log10(min(low, 0.5)))) ... pow(10, ceil(log10(max(high, 2))))
        let ratioRange = 0.25 ... 4.0
        let (meanTicks, ratioTicks) = (4, 3)
        func margin(_ domain: ClosedRange<Double>, logarithmic: Bool = false, ticks: Int = 5) -> Double {
            // Panel (b)'s rotated title has a superscript, which reaches further left than its text.
            canvas.leftMargin(y: Scale(domain: domain, pixels: (1, 0), logarithmic: logarithmic), yTicks: ticks) + 2 + type.label * 0.4
        }
        let margins = [margin(accuracyDomain), margin(fractionDomain),
                       max(margin(meanDomain, logarithmic: true, ticks: meanTicks), margin(ratioRange, logarithmic: true, ticks: ratioTicks))]
        // Half of the last x tick label ("100") reaches past a panel's right edge.
        let rightPad = 10.0, gap = 10.0
        // The ratio strip sits under the mean panel with room for the mean panel's x tick labels.
        let stripGap = type.tickLabelOffset + 10
        // Across both columns panel (c)'s two frames together are as high as (a) and (b).
        let (accuracyHeight, fractionHeight, meanHeight, stripHeight) = single ? (130.0, 110.0, 100.0, 80.0) : (200.0, 200.0, 90.0, 110.0 - stripGap)
        let panelWidth: Double, lefts: [Double]
        if single {
            let left = margins.max()!
            panelWidth = canvas.width - left - rightPad
            lefts = [left, left, left]
        } else {
            panelWidth = (canvas.width - margins.reduce(0, +) - 2 * gap - rightPad) / 3
            lefts = [margins[0], margins[0] + panelWidth + gap + margins[1], margins[0] + margins[1] + 2 * (panelWidth + gap) + margins[2]]
        }
        // Below a panel's frame: its x tick labels and axis title.
        let belowAxis = type.xTitleOffset + 6
        let titleRoom = type.label + 6
        let firstTop = cursor + titleRoom + 2
        let tops: [Double] = single
            ? [firstTop, firstTop + accuracyHeight + belowAxis + titleRoom, firstTop + accuracyHeight + fractionHeight + 2 * (belowAxis + titleRoom)]
            : [firstTop, firstTop, firstTop]
        func xScale(_ panel: Int) -> Scale { Scale(domain: domain, pixels: (lefts[panel], lefts[panel] + panelWidth), logarithmic: true) }
        func panelTitle(_ text: String, _ panel: Int) {
            canvas.text(text, x: lefts[panel] + panelWidth / 2, y: tops[panel] - 6, size: type.label, anchor: .middle, weight: "bold")
        }

        // (a) Accuracy.
        let chance = 100 / Double(data?.classes ?? 10)
        let xa = xScale(0), ya = Scale(domain: accuracyDomain, pixels: (tops[0] + accuracyHeight, tops[0]))
        canvas.axes(x: xa, y: ya, xLabel: "depth L", yLabel: "test accuracy (%)", data: ["panel": "accuracy"])
        canvas.line(xa.start, ya(chance), xa.end, ya(chance), stroke: "#999", width: 1, dash: "2,3")
        // At the shallow end, where no arm is near chance.
        canvas.text("chance", x: xa.start + 4, y: ya(chance) - 3, size: type.tick, anchor: .start, fill: "#777", halo: true)
        for (a, arm) in arms.enumerated() {
            let rows = byArm[arm] ?? []
            let perDepth = depthsSorted.compactMap { depth -> (Double, Double, Double, Double)? in
                let values = rows.filter { $0.depth == depth && !$0.diverged }.compactMap(\.testAccuracy).map { $0 * 100 }
                guard !values.isEmpty else { return nil }
                return (Double(depth), values.reduce(0, +) / Double(values.count), values.min()!, values.max()!)
            }
            if perDepth.count > 1, seeds.count > 1 {
                let upper = perDepth.map { "\(xa($0.0)),\(ya($0.3))" }, lower = perDepth.reversed().map { "\(xa($0.0)),\(ya($0.2))" }
                canvas.raw("<polygon points=\"\((upper + lower).joined(separator: " "))\" fill=\"\(color(a))\" fill-opacity=\"0.18\" stroke=\"none\""
                           + " data-quantity=\"accuracy-band\" data-arm=\"\(label(arm))\"/>")
            }
            canvas.polyline(perDepth.map { (xa($0.0), ya($0.1)) }, stroke: color(a), width: 1.5,
                            data: ["quantity": "accuracy-mean", "arm": label(arm)])
            for p in perDepth {
                canvas.circle(x: xa(p.0), y: ya(p.1), radius: 2.5, fill: color(a))
                if seeds.count > 1 { canvas.line(xa(p.0), ya(p.2), xa(p.0), ya(p.3), stroke: color(a), width: 1) }
            }
            for r in rows where r.diverged {
                canvas.text("✕", x: xa(Double(r.depth)), y: ya(2) + 4, size: type.title, anchor: .middle, weight: "bold", fill: color(a))
            }
        }
        canvas.frame(x: xa, y: ya)
        panelTitle("(a) after training", 0)

        // (b) Fraction of eigenvalues above 1e-3 λ_max.
        let xb = xScale(1), yb = Scale(domain: fractionDomain, pixels: (tops[1] + fractionHeight, tops[1]))
        canvas.axes(x: xb, y: yb, xLabel: "depth L", yLabel: "fraction of λ > 10^{−3} λ_{max}", data: ["panel": "fraction"])
        for (a, arm) in arms.enumerated() {
            let rows = (byArm[arm] ?? []).sorted { $0.depth < $1.depth }
            let theory = Dictionary(rows.compactMap { r in r.theoryUnitFraction.map { (r.depth, $0) } }, uniquingKeysWith: { x, _ in x })
            canvas.polyline(depthsSorted.compactMap { d in theory[d].map { (xb(Double(d)), yb($0)) } }, stroke: color(a), width: 1.5, dash: "5,3")
            let measured = meanBy(depth: rows, \.measuredFraction)
            canvas.polyline(measured.map { (xb($0.0), yb($0.1)) }, stroke: color(a), width: 1)
            for (d, v) in measured { canvas.circle(x: xb(d), y: yb(v), radius: 2.5, fill: color(a)) }
        }
        panelTitle("(b) \(jacobian) at init: fraction", 1)

        // (c) Mean eigenvalue, log scale (He's χ^L spans many decades), and under it the
        // measured/theory ratio on a log scale of 1/4 … 4, where a factor of 2 is a quarter of the
        // strip's height (issue 23 #2: on the decades a factor of 2 did not show).
        let xc = xScale(2)
        let meanBottom = tops[2] + meanHeight, ratioTop = meanBottom + stripGap
        let yc = Scale(domain: meanDomain, pixels: (meanBottom, tops[2]), logarithmic: true)
        let yr = Scale(domain: ratioRange, pixels: (ratioTop + stripHeight, ratioTop), logarithmic: true)
        canvas.axes(x: xc, y: yc, xLabel: "", yLabel: "mean eigenvalue", yTicks: meanTicks, data: ["panel": "mean"])
        canvas.axes(x: xc, y: yr, xLabel: "depth L", yLabel: "measured / theory", yTicks: ratioTicks, data: ["panel": "mean-ratio"])
        canvas.line(xc.start, yc(1), xc.end, yc(1), stroke: "#999", width: 1, dash: "2,3")
        canvas.line(xc.start, yr(1), xc.end, yr(1), stroke: "#999", width: 1, dash: "2,3")
        for (a, arm) in arms.enumerated() {
            let rows = (byArm[arm] ?? []).sorted { $0.depth < $1.depth }
            let theory = meanBy(depth: rows, \.theoryMean).filter { $0.1 > 0 && $0.1.isFinite }
            canvas.polyline(theory.map { (xc($0.0), yc($0.1)) }, stroke: color(a), width: 1.5, dash: "5,3")
            let measured = meanBy(depth: rows, \.measuredMean).filter { $0.1 > 0 && $0.1.isFinite }
            canvas.polyline(measured.map { (xc($0.0), yc($0.1)) }, stroke: color(a), width: 1)
            for (d, v) in measured { canvas.circle(x: xc(d), y: yc(v), radius: 2.5, fill: color(a)) }
            // The ratio of the seed-means at each depth; outside 1/4 … 4 it sits on the edge, hollow.
            let theoryByDepth = Dictionary(theory, uniquingKeysWith: { x, _ in x })
            let ratios = measured.compactMap { d, v in theoryByDepth[d].map { (d, v / $0) } }
            canvas.polyline(ratios.map { (xc($0.0), yr(min(max($0.1, ratioRange.lowerBound), ratioRange.upperBound))) }, stroke: color(a), width: 1)
            for (d, ratio) in ratios {
                let inside = ratioRange.contains(ratio)
                canvas.circle(x: xc(d), y: yr(min(max(ratio, ratioRange.lowerBound), ratioRange.upperBound)), radius: 2.5,
                              fill: inside ? color(a) : "white", stroke: inside ? nil : color(a),
                              data: ["quantity": "mean-ratio", "arm": label(arm), "depth": String(Int(d)), "value": String(ratio)])
            }
        }
        panelTitle("(c) \(jacobian) at init: mean", 2)

        // Legend and caption under the panels.
        let lowest = single ? ratioTop + stripHeight : max(tops[0] + accuracyHeight, ratioTop + stripHeight)
        var entries = arms.enumerated().map { (color: color($0.offset), label: Self.mathText(label($0.element)), style: LegendStyle.marker) }
        if seeds.count > 1 { entries.append((color: "#c8c8c8", label: "min–max over the seeds", style: .box)) }
        entries.append((color: "#555", label: "theory (identity law; mean field ∏ χ_{l})", style: .dashed))
        cursor = canvas.legendRows(entries, x: 8, y: lowest + belowAxis, width: canvas.width - 16)
        // Lines apart by 1.7 em, not 1.35: a superscript over a subscript on the next line would
        // touch (the browser check measures the boxes).
        cursor = canvas.paragraph(caption(samples: samples, jacobian: jacobian), x: 6, y: cursor + 4 + type.caption,
                                  width: canvas.width - 12, size: type.caption, lineHeight: type.caption * 1.7)
        canvas.height = cursor + 6
        return canvas
    }

    /// What the panels do not say: the training, what the line and band are, where the theory
    /// comes from.
    func caption(samples: String, jacobian: String) -> String {
        let q0 = data.map { String(format: "%.3f", $0.q0) } ?? "?"
        let trainCount = data.map { grouped($0.trainImages) } ?? "?"
        let testCount = data.map { grouped($0.testImages) } ?? "?"
        // The caption promises only what panel (a) draws: a band exists with two seeds or more.
        let spread = seeds.count > 1
            ? "line: mean over \(seeds.count) seeds, band and bars: their min–max"
            : "one seed, \(seeds.first.map { "\($0)" } ?? "?"): no band, no spread over seeds"
        let training = "\(training.epochs) epoch\(training.epochs == 1 ? "" : "s") of \(training.optimizer.name) (lr \(compactNumber(training.learningRate)), "
            + "batch \(training.batchSize)) on \(trainCount) training \(samples)"
        let theory = convolution == nil
            ? "Theory at the data's q_{0} = \(q0) (mean squared pixel): identity law for inputs N(0, q_{0}), mean α σ^{2L}; "
                + "random weights: mean field, ∏ χ_{l} along the q-map from q_{0} (not the limit χ^{L}: the data start far from q*)."
            : "Theory at the data's E[x²] by position (q_{0} = \(q0)): Dirac, the identity law; delta-orthogonal, the dense orthogonal mean field; "
                + "He, the convolutional mean field by position (zero padding at the borders)."
        return "(a) Test accuracy on the \(testCount) test \(samples) after \(training) (\(spread); ✕: diverged, NaN loss; dotted: chance). "
            + "(b, c) \(jacobian)\(convolution == nil ? "" : " of the convolutions") at initialisation on \(spectrumInputs) training "
            + "\(spectrumInputs == 1 ? String(samples.dropLast()) : samples) (markers\(seeds.count > 1 ? ", mean over the seeds" : "")) "
            + "against theory (dashed): the fraction of eigenvalues above "
            + "10^{−3} λ_{max} and the mean eigenvalue, under it measured / theory (hollow: outside ¼ … 4). " + theory
    }

    /// An arm's label with its subscripts set as such ("σ_w" → σ with a subscript w).
    static func mathText(_ label: String) -> String {
        label.replacingOccurrences(of: "σ_w", with: "σ_{w}")
    }

    private func meanBy(depth rows: [StudyResult], _ value: KeyPath<StudyResult, Double?>) -> [(Double, Double)] {
        var sums: [Int: (total: Double, count: Int)] = [:]
        for r in rows {
            guard let v = r[keyPath: value] else { continue }
            let old = sums[r.depth] ?? (0, 0)
            sums[r.depth] = (old.total + v, old.count + 1)
        }
        let pairs: [(Double, Double)] = sums.map { (Double($0.key), $0.value.total / Double($0.value.count)) }
        return pairs.sorted { $0.0 < $1.0 }
    }
}
