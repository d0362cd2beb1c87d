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
    public func figure(_ results: [StudyResult], title: String? = nil) -> SVGCanvas {
        var canvas = SVGCanvas(width: 1260, height: 520)
        let arms = arms
        let network = convolution.map { "CNN (\($0.channels) channels, k = \($0.kernel), \($0.head.rawValue) head)" } ?? "MLP"
        let heading = title ?? "Trainability against depth: \(activation.rawValue) \(network), \(training.epochs) epoch\(training.epochs == 1 ? "" : "s") on "
            + "\(data.map { "\($0.trainImages)" } ?? "?") images, \(training.optimizer.name) lr \(compactNumber(training.learningRate)), batch \(training.batchSize)"
        canvas.text(heading, x: 630, y: 26, size: 16, anchor: .middle, weight: "bold")
        let q0 = data.map { String(format: "%.3f", $0.q0) } ?? "?"
        let jacobian = convolution == nil ? "J Jᵀ" : "JᵀJ of the convolutions"
        // The subtitle promises only what panel (a) draws: a band exists with two seeds or more.
        let spread = seeds.count > 1
            ? "line: mean over \(seeds.count) seeds, band and bars: their min–max"
            : "one seed, \(seeds.first.map { "\($0)" } ?? "?"): no band, no spread over seeds"
        canvas.text("Left: final test accuracy (\(spread); ✕: diverged, NaN loss). "
                    + "Middle and right: \(jacobian) at initialisation on \(spectrumInputs) training sample\(spectrumInputs == 1 ? "" : "s") (markers) against theory (dashed).",
                    x: 630, y: 46, size: 11.5, anchor: .middle, fill: "#444")
        canvas.text(convolution == nil
                    ? "Theory at the data's q0 = \(q0) (mean squared pixel): identity law for inputs N(0, q0), mean α σ^(2L); "
                        + "random weights: mean field, ∏ χ_l along the q-map from q0 (not the limit χ^L: the data start far from q*)."
                    : "Theory at the data's E[x²] by position (q0 = \(q0)): Dirac, the identity law; delta-orthogonal, the dense orthogonal mean field; "
                        + "He, the convolutional mean field by position (zero padding at the borders).",
                    x: 630, y: 62, size: 11.5, anchor: .middle, fill: "#444")

        let depthsSorted = depths.sorted()
        let (lo, hi) = (Double(depthsSorted.first ?? 1), Double(depthsSorted.last ?? 1))
        let domain = lo == hi ? (lo / 1.5) ... (hi * 1.5) : lo ... hi
        let top = 90.0, bottom = 420.0
        func xScale(_ left: Double) -> Scale { Scale(domain: domain, pixels: (left, left + 320), logarithmic: true) }
        let byArm = Dictionary(grouping: results) { $0.arm }
        func color(_ index: Int) -> String { Self.palette[index % Self.palette.count] }

        // (a) Accuracy.
        let chance = 100 / Double(data?.classes ?? 10)
        let xa = xScale(80), ya = Scale(domain: 0 ... 100, pixels: (bottom, top))
        canvas.line(xa.start, ya(chance), xa.end, ya(chance), stroke: "#999", width: 1, dash: "2,3")
        canvas.text("chance", x: xa.end - 4, y: ya(chance) - 4, size: 10, anchor: .end, fill: "#777")
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
            canvas.polyline(perDepth.map { (xa($0.0), ya($0.1)) }, stroke: color(a), width: 2,
                            data: ["quantity": "accuracy-mean", "arm": label(arm)])
            for p in perDepth {
                canvas.circle(x: xa(p.0), y: ya(p.1), radius: 3.5, fill: color(a))
                if seeds.count > 1 { canvas.line(xa(p.0), ya(p.2), xa(p.0), ya(p.3), stroke: color(a), width: 1) }
            }
            for r in rows where r.diverged {
                canvas.text("✕", x: xa(Double(r.depth)), y: ya(2) + 4, size: 13, anchor: .middle, weight: "bold", fill: color(a))
            }
        }
        canvas.axes(x: xa, y: ya, xLabel: "depth L", yLabel: "test accuracy (%)", xTicks: 4)
        canvas.text("(a) accuracy after training", x: xa.start + 160, y: top - 8, size: 13, anchor: .middle, weight: "bold")

        // (b) Fraction of eigenvalues above 1e-3 λ_max.
        let xb = xScale(500), yb = Scale(domain: 0 ... 1, pixels: (bottom, top))
        for (a, arm) in arms.enumerated() {
            let rows = (byArm[arm] ?? []).sorted { $0.depth < $1.depth }
            let theory = Dictionary(rows.compactMap { r in r.theoryUnitFraction.map { (r.depth, $0) } }, uniquingKeysWith: { x, _ in x })
            canvas.polyline(depthsSorted.compactMap { d in theory[d].map { (xb(Double(d)), yb($0)) } }, stroke: color(a), width: 2, dash: "6,4")
            let measured = meanBy(depth: rows, \.measuredFraction)
            canvas.polyline(measured.map { (xb($0.0), yb($0.1)) }, stroke: color(a), width: 1)
            for (d, v) in measured { canvas.circle(x: xb(d), y: yb(v), radius: 3.5, fill: color(a)) }
        }
        canvas.axes(x: xb, y: yb, xLabel: "depth L", yLabel: "fraction of λ > 10⁻³ λ_max", xTicks: 4)
        canvas.text("(b) \(convolution == nil ? "J Jᵀ" : "JᵀJ") at init: non-vanishing fraction", x: xb.start + 160, y: top - 8, size: 13, anchor: .middle, weight: "bold")

        // (c) Mean eigenvalue, log scale (He's χ^L spans many decades), and under it the
        // measured/theory ratio on a log scale of 1/4 … 4, where a factor of 2 is a fifth of the
        // height (issue 23 #2: on the decades a factor of 2 did not show).
        let means = results.flatMap { [$0.theoryMean, $0.measuredMean] }.compactMap { $0 }.filter { $0.isFinite && $0 > 0 }
        let low = max(means.min() ?? 0.1, 1e-30), high = max(means.max() ?? 10, low * 10)
        let meanBottom = 265.0, ratioTop = 310.0
        let yc = Scale(domain: pow(10, floor(log10(min(low, 0.5)))) ... pow(10, ceil(log10(max(high, 2)))), pixels: (meanBottom, top), logarithmic: true)
        let xc = xScale(920)
        let ratioRange = 0.25 ... 4.0
        let yr = Scale(domain: ratioRange, pixels: (bottom, ratioTop), logarithmic: true)
        canvas.line(xc.start, yc(1), xc.end, yc(1), stroke: "#999", width: 1, dash: "2,3")
        canvas.line(xc.start, yr(1), xc.end, yr(1), stroke: "#999", width: 1, dash: "2,3")
        for ratio in [0.5, 2.0] { canvas.line(xc.start, yr(ratio), xc.end, yr(ratio), stroke: "#ddd", width: 1) }
        for (a, arm) in arms.enumerated() {
            let rows = (byArm[arm] ?? []).sorted { $0.depth < $1.depth }
            let theory = meanBy(depth: rows, \.theoryMean).filter { $0.1 > 0 && $0.1.isFinite }
            canvas.polyline(theory.map { (xc($0.0), yc($0.1)) }, stroke: color(a), width: 2, dash: "6,4")
            let measured = meanBy(depth: rows, \.measuredMean).filter { $0.1 > 0 && $0.1.isFinite }
            canvas.polyline(measured.map { (xc($0.0), yc($0.1)) }, stroke: color(a), width: 1)
            for (d, v) in measured { canvas.circle(x: xc(d), y: yc(v), radius: 3.5, fill: color(a)) }
            // The ratio of the seed-means at each depth; outside 1/4 … 4 it sits on the edge, hollow.
            let theoryByDepth = Dictionary(theory, uniquingKeysWith: { x, _ in x })
            let ratios = measured.compactMap { d, v in theoryByDepth[d].map { (d, v / $0) } }
            canvas.polyline(ratios.map { (xc($0.0), yr(min(max($0.1, ratioRange.lowerBound), ratioRange.upperBound))) }, stroke: color(a), width: 1)
            for (d, ratio) in ratios {
                let inside = ratioRange.contains(ratio)
                canvas.circle(x: xc(d), y: yr(min(max(ratio, ratioRange.lowerBound), ratioRange.upperBound)), radius: 3.5,
                              fill: inside ? color(a) : "white", stroke: inside ? nil : color(a),
                              data: ["quantity": "mean-ratio", "arm": label(arm), "depth": String(Int(d)), "value": String(ratio)])
            }
        }
        canvas.axes(x: xc, y: yc, xLabel: "", yLabel: "mean eigenvalue of J Jᵀ", xTicks: 4)
        canvas.axes(x: xc, y: yr, xLabel: "depth L", yLabel: "measured / theory", xTicks: 4)
        canvas.text("(c) \(convolution == nil ? "J Jᵀ" : "JᵀJ") at init: mean eigenvalue", x: xc.start + 160, y: top - 8, size: 13, anchor: .middle, weight: "bold")

        // Legend below the panels.
        var entries = arms.enumerated().map { (color: color($0.offset), label: label($0.element), style: LegendStyle.line) }
        entries.append((color: "#555", label: "theory (identity law; mean field ∏ χ_l)", style: .dashed))
        var x = 80.0
        let y = 470.0
        for entry in entries {
            let width = SVGCanvas.legendSize([entry]).width
            if entry.style == .dashed {
                canvas.line(x, y, x + 22, y, stroke: entry.color, width: 2, dash: "5,3")
            } else {
                canvas.line(x, y, x + 22, y, stroke: entry.color, width: 2)
                canvas.circle(x: x + 11, y: y, radius: 3.5, fill: entry.color)
            }
            canvas.text(entry.label, x: x + 28, y: y + 4, size: 12)
            x += width + 6
        }
        return canvas
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
