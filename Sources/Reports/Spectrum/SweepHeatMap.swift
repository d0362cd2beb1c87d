import Figures
import Foundation
import IsometrySupport
import Spectrum

extension SpectrumSweep {
    /// How many non-zero eigenvalues the theory expects at a point over the whole sample:
    /// its non-zero mass (`theoryFraction`) × samples × width eigenvalues.
    public func expectedNonZeroCount(_ point: Point) -> Double {
        point.theoryFraction * Double(samples) * Double(width)
    }

    /// A point whose every sampled eigenvalue was 0 although the theory's mean is finite and
    /// positive, because its non-zero mass is too small to be sampled: fewer than 3 non-zero
    /// eigenvalues expected (each of the samples × width eigenvalues is non-zero with
    /// probability α, so none shows with probability (1 − α)^{S·N} ≈ e^{−count} ≥ 5 %). Its
    /// measured mean says nothing; it is not a disagreement with the theory. All zeros where
    /// 3 or more were expected stay a plain disagreement (grey).
    public func isUnmeasurable(_ point: Point) -> Bool {
        !point.measuredLog10Mean.isFinite && point.theoryLog10Mean.isFinite && expectedNonZeroCount(point) < 3
    }

    /// Four heat maps over (σ, q0): the fraction of non-vanishing eigenvalues and log10 of the
    /// mean eigenvalue, measured and theoretical, each with the critical curve α·σ^{2L} = 1; at
    /// double-column width measured and theory side by side with one colour bar per row, in a
    /// single column the four stacked, each with its bar.
    ///
    /// Every colour scale has a colour bar. The fraction panels share the scale 0 … 1; the two
    /// log10-mean panels share one scale fitted to their values (Figures' `ColorScale.fitted(to:label:center:sequential:diverging:)`:
    /// diverging and symmetric about 0, white at mean λ = 1, when both signs occur; sequential
    /// otherwise), so that measurement and theory compare cell by cell. Cells meet without
    /// seams (`crispEdges`, each reaching one pixel under its neighbour). A caption under the
    /// maps gives the grid size and the samples per point.
    public func heatMap(_ points: [Point], width figureWidth: FigureWidth = .doubleColumn) -> SVGCanvas {
        var canvas = SVGCanvas(printWidth: figureWidth, height: 0)
        let type = canvas.typography
        let single = figureWidth == .singleColumn
        var cursor = canvas.figureTitle("Identity-initialised \(activation.rawValue) MLP, L = \(layers), N = \(width): spectrum of J Jᵀ over (σ, q0)")
        let byIndex = Dictionary(points.map { ($0.index, $0) }, uniquingKeysWith: { first, _ in first })
        let logMeans = points.flatMap { [$0.measuredLog10Mean, $0.theoryLog10Mean] }
        // The caption says that a row's two panels share their scale; the bars say only how it was chosen.
        let fractionScale = ColorScale.sequential(.viridis, domain: 0 ... 1, label: "fraction of λ ≠ 0")
        let logScale = ColorScale.fitted(to: logMeans, label: "log_{10} mean λ")
        let (sLo, sHi) = (sigmas.min()!, sigmas.max()!), (qLo, qHi) = (q0s.min()!, q0s.max()!)
        let unmeasurable = points.filter(isUnmeasurable)
        let grey = points.contains { (!$0.measuredLog10Mean.isFinite || !$0.theoryLog10Mean.isFinite) && !isUnmeasurable($0) }
        let largestExpected = unmeasurable.map(expectedNonZeroCount).max() ?? 0
        let caption = "\(sigmas.count) σ × \(q0s.count) q0 = \(pointCount) grid points (σ \(compactNumber(sLo)) … \(compactNumber(sHi))"
            + (sigmas.count > 1 ? ", evenly spaced" : "") + "; q0 \(compactNumber(qLo)) … \(compactNumber(qHi))" + (q0s.count > 1 ? ", log-spaced" : "")
            + "), \(samples) samples per point (\(samples) × \(width) eigenvalues), \(precision.rawValue), seed \(seed) + point number."
            + " Dashed: the critical curve α·σ^{2L} = 1 (mean eigenvalue 1)."
            + (unmeasurable.isEmpty ? "" : " Hatched (\(unmeasurable.count) cells): not measurable at this sample size: every sampled eigenvalue was 0"
                + " where the theory's non-zero mass α is so small that α × \(grouped(samples * width)) sampled eigenvalues expects at most "
                + String(format: "%.2g", largestExpected) + " non-zero ones (below 3 in every hatched cell).")
            + (grey ? " Grey: every measured eigenvalue is 0 (log_{10} mean −∞)." : "")
            + " Colour scales are shared by the measured and theory panels of a row"
            + (logScale.center != nil ? "; log_{10} mean λ is symmetric about 0 (white: mean 1)." : ".")
        let curve = criticalCurve()
        let panels: [(String, (Point) -> Double, ColorScale)] = [
            ("measured: fraction of λ ≠ 0", \.measuredFraction, fractionScale),
            ("theory: fraction of λ ≠ 0", \.theoryFraction, fractionScale),
            ("measured: log_{10} mean λ", \.measuredLog10Mean, logScale),
            ("theory: log_{10} mean λ", \.theoryLog10Mean, logScale),
        ]
        // Cells span half-way to their neighbours.
        let sigmaEdges = edges(sigmas, logarithmic: false)
        let q0Edges = edges(q0s, logarithmic: true)
        let q0Axis = Scale(domain: qLo ... qHi, pixels: (1, 0), logarithmic: true)
        let mapsLeft = canvas.leftMargin(y: q0Axis) + 4
        let barBreadth = SVGCanvas.colorBarBreadth(.vertical) + 4
        // Between two maps: room for the tick labels at their touching edges ("2.0", "0.5").
        let gap = 28.0
        let (w, h) = single ? (canvas.width - 8 - mapsLeft - barBreadth, 150.0)
            : ((canvas.width - 8 - mapsLeft - gap - barBreadth) / 2, 190.0)
        let rowHeight = type.label + 8 + h + type.xTitleOffset + 10
        cursor += 4
        canvas.raw("<defs><pattern id=\"unmeasurable\" width=\"5\" height=\"5\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
                   + "<rect width=\"5\" height=\"5\" fill=\"#f2f2f2\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"5\" stroke=\"#888\" stroke-width=\"1.5\"/></pattern></defs>")
        for (panel, (title, value, scale)) in panels.enumerated() {
            let column = single ? 0 : panel % 2, row = single ? panel : panel / 2
            let left = mapsLeft + Double(column) * (w + gap)
            let top = cursor + Double(row) * rowHeight + type.label + 8
            let x = Scale(domain: sLo ... sHi, pixels: (left, left + w))
            let y = Scale(domain: qLo ... qHi, pixels: (top + h, top), logarithmic: true)
            canvas.group("shape-rendering=\"crispEdges\"") { canvas in
                for i in sigmas.indices {
                    for j in q0s.indices {
                        guard let point = byIndex[i * q0s.count + j] else { continue }
                        // Each cell reaches one pixel under its right and upper neighbours,
                        // which are drawn after it: no background shows between cells.
                        let extraX = i == sigmas.count - 1 ? 0 : 1.0, extraY = j == q0s.count - 1 ? 0 : 1.0
                        let (x0, x1) = (x(sigmaEdges[i]), x(sigmaEdges[i + 1]))
                        let (yTop, yBottom) = (y(q0Edges[j + 1]), y(q0Edges[j]))
                        canvas.rect(x: x0, y: yTop - extraY, width: x1 - x0 + extraX, height: yBottom - yTop + extraY,
                                    fill: scale.color(value(point)))
                    }
                }
            }
            if panel == 2 {
                // Over the grey of −∞: a hatch that says "too rare to sample", with the expected count.
                for point in unmeasurable {
                    let (i, j) = (point.index / q0s.count, point.index % q0s.count)
                    let (x0, x1) = (x(sigmaEdges[i]), x(sigmaEdges[i + 1]))
                    let (yTop, yBottom) = (y(q0Edges[j + 1]), y(q0Edges[j]))
                    canvas.rect(x: x0, y: yTop, width: x1 - x0, height: yBottom - yTop, fill: "url(#unmeasurable)",
                                data: ["quantity": "not-measurable", "expected-count": String(expectedNonZeroCount(point))])
                }
            }
            canvas.polyline(curve.map { (x($0.0), y($0.1)) }, stroke: "#000", width: 1.5, dash: "5,3")
            // Side by side, the theory map shares the measured map's q0 axis.
            canvas.axes(x: x, y: y, xLabel: "σ (weight scale)", yLabel: column == 0 ? "q0 (input variance)" : nil, xTicks: single ? 4 : 5,
                        gridLines: false, data: ["panel": ["fraction-measured", "fraction-theory", "mean-measured", "mean-theory"][panel]])
            canvas.text(title, x: left + w / 2, y: top - 6, size: type.label, anchor: .middle, weight: "bold")
            if single || column == 1 { canvas.colorBar(scale, x: left + w + 10, y: top, length: h) }
        }
        cursor += Double(single ? 4 : 2) * rowHeight
        var entries: [(color: String, label: String, style: LegendStyle)] = [("#000", "critical curve α·σ^{2L} = 1", .dashed)]
        if !unmeasurable.isEmpty { entries.append(("url(#unmeasurable)", "not measurable at this sample size", .box)) }
        if grey { entries.append(("#bbbbbb", "every measured λ = 0", .box)) }
        cursor = canvas.legendRows(entries, x: 8, y: cursor, width: canvas.width - 16)
        cursor = canvas.paragraph(caption, x: 6, y: cursor + 4 + type.caption, width: canvas.width - 12, size: type.caption)
        canvas.height = cursor + 6
        return canvas
    }

    private func edges(_ centres: [Double], logarithmic: Bool) -> [Double] {
        let t = logarithmic ? centres.map(log) : centres
        guard t.count > 1 else { return logarithmic ? [centres[0] / 1.1, centres[0] * 1.1] : [centres[0] - 0.05, centres[0] + 0.05] }
        var result = [t[0] - (t[1] - t[0]) / 2]
        for k in 0 ..< t.count - 1 { result.append((t[k] + t[k + 1]) / 2) }
        result.append(t[t.count - 1] + (t[t.count - 1] - t[t.count - 2]) / 2)
        let clamped = logarithmic ? result.map(exp) : result
        // Keep the outer edges on the grid's own range so the axes frame the cells.
        var out = clamped
        out[0] = centres.first!
        out[out.count - 1] = centres.last!
        return out
    }
}
