import Figures
import Foundation
import IsometrySupport
import Spectrum

extension SpectrumReport {
    /// The measured spectrum as a histogram on a log-λ axis with the theory over it.
    ///
    /// Bars are the fraction of eigenvalues per logarithmic bin; the theory's continuous part
    /// is drawn as the mass it puts in each bin, and each atom as an outlined bar at its
    /// mass. λ = 0 has no place on a log axis, so the eigenvalues the table counts at 0 get a
    /// panel of their own.
    ///
    /// Every number written in the figure is one the report's ``text`` prints, from the same
    /// `SpectrumComparison` row (the atom rows: the fraction within the row's window of the
    /// atom, measured and theory); each such label carries `data-quantity` (the row's name)
    /// and `data-kind` (`measured` or `theory`). A caption line says what is plotted and from
    /// how many samples.
    public func histogramFigure() -> SVGCanvas {
        let values = eigenvalues.flatMap { $0 }
        let n = Double(max(values.count, 1))
        let atoms = law?.atoms ?? []
        let atomRows = comparison.rows.filter { $0.atomLocation != nil }
        let zeroRow = atomRows.first { $0.atomLocation == 0 }
        // The zero panel holds what the table counts at 0 (values within the row's window),
        // or exact zeros when there is no such row.
        let zeroCut = zeroRow?.atomWindow ?? 0
        // NaN and infinite eigenvalues have no bin; the caption counts them.
        let nonFinite = values.count(where: { !$0.isFinite })
        let zeros = values.filter { $0 <= zeroCut && $0.isFinite }
        let positive = values.filter { $0 > zeroCut && $0.isFinite }

        // The log axis covers the positive values and the theory's support.
        // Its lower end is the 0.5 % quantile of the positive values (lower ones join the first bin).
        let sortedPositive = positive.sorted()
        let lambdaMax = law.map(\.lambdaMax).flatMap { $0.isFinite ? $0 : nil }
        var lo = sortedPositive.isEmpty ? (lambdaMax ?? 1) / 10 : sortedPositive[sortedPositive.count / 200]
        let hi = max(positive.max() ?? 1, lambdaMax ?? 0)
        lo = max(lo, hi * 1e-14)
        let bins = 60
        let logBins = LogBins(low: lo, high: hi, count: bins)
        let edges = logBins.edges
        func bin(of v: Double) -> Int? { logBins.index(of: v) }
        var counts = [Double](repeating: 0, count: bins)
        for v in positive { if let k = bin(of: v) { counts[k] += 1 / n } }
        // Theory per bin: the continuous part, and the positive atoms.
        var theory = [Double](repeating: 0, count: bins)
        if let law {
            let positiveAtoms = atoms.filter { $0.location > 0 }
            for k in 0 ..< bins {
                let atomMass = positiveAtoms.filter { $0.location > edges[k] && $0.location <= edges[k + 1] }.reduce(0) { $0 + $1.mass }
                theory[k] = max(0, law.cdf(edges[k + 1]) - law.cdf(edges[k]) - atomMass)
            }
        }
        let zeroMeasured = zeroRow?.measured ?? Double(zeros.count) / n
        let positiveRows = atomRows.filter { ($0.atomLocation ?? 0) > 0 }
        // The two panels have their own y scales: an atom at 0 would flatten the histogram.
        let positiveAtomMass = (atoms.filter { $0.location > 0 }.map(\.mass) + positiveRows.compactMap(\.theory)).max() ?? 0
        let top = max(counts.max() ?? 0, theory.max() ?? 0, positiveAtomMass) * 1.18
        let zeroTop = max(zeroRow?.theory ?? 0, zeroMeasured) * 1.15

        // Layout: title, theory line, panels, caption.
        let (plotTop, plotBottom) = (70.0, 400.0)
        // A second panel under the histogram: the cumulative fraction on a linear λ axis
        // zoomed around the heaviest positive atom, so that mass piled *near* an atom is told
        // from mass *at* it (issue 23 #5: a histogram bin at λ ≈ 1 held 77 % while the table's
        // atom row counted 0.22 %).
        let zoom = cdfZoomWindow
        let zoomCentre = (zoom.lowerBound + zoom.upperBound) / 2
        let (cdfTop, cdfBottom) = (plotBottom + 70, plotBottom + 250)
        var canvas = SVGCanvas(width: 820, height: 800)
        let y = Scale(domain: 0 ... max(top, 1e-3), pixels: (plotBottom, plotTop))
        let zy = Scale(domain: 0 ... max(zeroTop, 1e-3), pixels: (plotBottom, plotTop))
        let hasZeroPanel = zeroRow != nil || !zeros.isEmpty
        let mainLeft = hasZeroPanel ? 225.0 : 90.0
        let x = Scale(domain: edges[0] ... edges[bins], pixels: (mainLeft, 790), logarithmic: true)
        let measuredColor = "#7fa7d9", measuredText = "#2c5f9e", theoryColor = "#c0392b"

        canvas.text(titleLine, x: 410, y: 24, size: 15, anchor: .middle, weight: "bold")
        canvas.text(law.map { "theory: \($0.name)" } ?? "theory: none", x: 410, y: 44, size: 11, anchor: .middle, fill: "#555")
        canvas.axes(x: x, y: y, xLabel: "λ, eigenvalue of J Jᵀ (log scale)", yLabel: "fraction of eigenvalues per bin")
        for k in 0 ..< bins where counts[k] > 0 {
            canvas.rect(x: x(edges[k]) + 0.5, y: y(counts[k]), width: x(edges[k + 1]) - x(edges[k]) - 1,
                        height: y(0) - y(counts[k]), fill: measuredColor)
        }
        if law?.grid.isEmpty == false {
            var points: [(Double, Double)] = [(x(edges[0]), y(0))]
            for k in 0 ..< bins {
                points.append((x(edges[k]), y(theory[k])))
                points.append((x(edges[k + 1]), y(theory[k])))
            }
            points.append((x(edges[bins]), y(0)))
            canvas.polyline(points, stroke: theoryColor, width: 1.8)
        }
        for row in positiveRows {
            // Outline the bin that holds the atom, so theory and measurement share a bar; the
            // measured mark is the row's count (values within its window), not the bin's.
            guard let location = row.atomLocation, let k = bin(of: location) else { continue }
            let (x0, x1) = (x(edges[k]), x(edges[k + 1]))
            let mass = row.theory ?? 0
            if row.theory != nil {
                canvas.rect(x: x0, y: y(mass), width: x1 - x0, height: y(0) - y(mass), fill: "none", stroke: theoryColor, strokeWidth: 2)
            }
            canvas.line(x0 - 3, y(row.measured), x1 + 3, y(row.measured), stroke: measuredText, width: 3)
            let labelTop = min(y(mass), y(row.measured), y(counts[k])) - 8
            let labelX = (x0 + x1) / 2 + 10
            let anchor: SVGCanvas.Anchor = labelX > 640 ? .end : .start
            let lx = anchor == .end ? (x0 + x1) / 2 - 10 : labelX
            var lineY = labelTop - (row.theory != nil ? 28 : 14)
            canvas.text(row.quantity, x: lx, y: lineY, size: 11, anchor: anchor, weight: "bold", halo: true)
            if row.theory != nil {
                lineY += 14
                canvas.text("theory \(row.theoryText)", x: lx, y: lineY, size: 11, anchor: anchor, fill: theoryColor, halo: true,
                            data: ["quantity": row.quantity, "kind": "theory"])
            }
            lineY += 14
            canvas.text("measured \(row.measuredText)", x: lx, y: lineY, size: 11, anchor: anchor, fill: measuredText, halo: true,
                        data: ["quantity": row.quantity, "kind": "measured"])
        }
        canvas.frame(x: x, y: y)

        if hasZeroPanel {
            // The λ = 0 panel, with its own y axis.
            let (panelLeft, panelRight) = (78.0, 138.0)
            let zx = Scale(domain: 0 ... 1, pixels: (panelLeft, panelRight))
            let centre = (panelLeft + panelRight) / 2
            for tick in zy.ticks(count: 4) {
                canvas.line(panelLeft - 5, zy(tick), panelLeft, zy(tick), stroke: "#444")
                canvas.text(tickLabel(tick, logarithmic: false), x: panelLeft - 8, y: zy(tick) + 4, size: 11, anchor: .end)
            }
            let isAtom = zeroRow.map { $0.quantity.hasPrefix("atom") } ?? false
            canvas.text(zeroRow == nil || isAtom ? "fraction at λ = 0" : "fraction with λ ≤ ε",
                        x: 24, y: (plotTop + plotBottom) / 2, size: 13, anchor: .middle, rotate: -90)
            canvas.rect(x: zx(0.2), y: zy(zeroMeasured), width: zx(0.8) - zx(0.2), height: zy(0) - zy(zeroMeasured), fill: measuredColor)
            if let zeroRow {
                if let mass = zeroRow.theory {
                    canvas.rect(x: zx(0.1), y: zy(mass), width: zx(0.9) - zx(0.1), height: zy(0) - zy(mass),
                                fill: "none", stroke: theoryColor, strokeWidth: 2)
                    canvas.text(zeroRow.theoryText, x: centre, y: plotTop - 18, size: 11, anchor: .middle, fill: theoryColor,
                                data: ["quantity": zeroRow.quantity, "kind": "theory"])
                }
                canvas.text(zeroRow.measuredText, x: centre, y: plotTop - 5, size: 11, anchor: .middle, fill: measuredText,
                            data: ["quantity": zeroRow.quantity, "kind": "measured"])
            }
            canvas.rect(x: panelLeft, y: plotTop, width: panelRight - panelLeft, height: plotBottom - plotTop, fill: "none", stroke: "#444")
            // The panel's x label: what the table row counts.
            if let zeroRow, !isAtom, let comma = zeroRow.quantity.range(of: ", ") {
                canvas.text(String(zeroRow.quantity[..<comma.lowerBound]), x: centre, y: plotBottom + 18, size: 12, anchor: .middle)
                canvas.text(String(zeroRow.quantity[comma.upperBound...]), x: centre, y: plotBottom + 34, size: 11, anchor: .middle)
            } else {
                canvas.text("λ = 0", x: centre, y: plotBottom + 18, size: 12, anchor: .middle)
            }
        }
        var entries: [(color: String, label: String, style: LegendStyle)] = [
            (measuredColor, "measured, fraction per bin", .box),
        ]
        if law?.grid.isEmpty == false { entries.append((theoryColor, "theory, continuous part per bin", .line)) }
        if atomRows.contains(where: { $0.theory != nil }) {
            entries.append((theoryColor, atomRows.allSatisfy { $0.quantity.hasPrefix("atom") } ? "theory atom (mass)" : "theory, table row at the atom", .outline))
        }
        if !positiveRows.isEmpty { entries.append((measuredText, "measured at the atom (table row)", .line)) }
        canvas.legend(entries, x: mainLeft + 12, y: plotTop + 8)

        // The CDF zoom: measured and theory F(λ) = fraction of eigenvalues ≤ λ, at 401 points.
        let cx = Scale(domain: zoom, pixels: (mainLeft, 790)), cy = Scale(domain: 0 ... 1, pixels: (cdfBottom, cdfTop))
        canvas.axes(x: cx, y: cy, xLabel: "λ (linear scale, zoom around \(compactNumber(zoomCentre)))", yLabel: "fraction ≤ λ", xTicks: 5, yTicks: 4)
        let sortedFinite = values.filter(\.isFinite).sorted()
        let zoomPoints = (0 ... 400).map { zoom.lowerBound + (zoom.upperBound - zoom.lowerBound) * Double($0) / 400 }
        canvas.polyline(zoomPoints.map { (cx($0), cy(Self.empiricalCDF(sortedFinite, $0, total: n))) }, stroke: measuredText, width: 2,
                        data: ["quantity": "cdf", "kind": "measured"])
        if let law {
            canvas.polyline(zoomPoints.map { (cx($0), cy(law.cdf($0))) }, stroke: theoryColor, width: 1.8, dash: "6,3",
                            data: ["quantity": "cdf", "kind": "theory"])
        }
        canvas.legend([(measuredText, "measured, fraction ≤ λ", .line)] + (law == nil ? [] : [(theoryColor, "theory, fraction ≤ λ", .dashed)]),
                      x: mainLeft + 12, y: cdfTop + 8)

        // The caption: what is plotted, from how many samples.
        let count = comparison.eigenvalueCount
        let source = subject == nil ? "\(configuration.precision.rawValue), \(route) route" : route
        var caption = "Histogram of \(eigenvalues.count) samples × \(width) = \(count) eigenvalues of J Jᵀ (N = \(width); \(source)), "
            + "in \(bins) logarithmic bins"
        caption += zeroRow == nil && zeros.isEmpty ? "." : "; the left panel holds the eigenvalues the table counts at λ = 0."
        if !atomRows.isEmpty {
            caption += " Labelled fractions are the table's rows: the eigenvalues within ε of an atom, measured and in theory,"
                + " with ε = \(atomToleranceText) × max(theory's λ_max, largest measured λ)."
        }
        caption += " Bottom: the fraction of eigenvalues ≤ λ on a linear axis from \(String(format: "%.4g", zoom.lowerBound)) to \(String(format: "%.4g", zoom.upperBound)):"
            + " an atom is a vertical step; eigenvalues near it but not at it rise gradually (what the atom rows count is the step)."
        if law == nil { caption += " No theory." }
        if nonFinite > 0 { caption += " \(nonFinite) NaN or infinite eigenvalue\(nonFinite == 1 ? "" : "s") (not drawn)." }
        canvas.paragraph(caption, x: 30, y: cdfBottom + 62, width: 760, size: 11)
        return canvas
    }

    /// The λ range of the CDF panel: centred on the heaviest positive atom of the law (λ = 1
    /// without one), half as wide as 4 × the median distance from it of the eigenvalues within
    /// ±50 % of it, at least 0.1 % and at most 50 % of the centre. The median distance adapts the
    /// zoom to how far the eigenvalues near the atom spread (±1 % after little training, ±30 %
    /// after much), so that the rise of eigenvalues near the atom has room beside its step.
    public var cdfZoomWindow: ClosedRange<Double> {
        let centre = law?.atoms.filter { $0.location > 0 && $0.location.isFinite }.max { $0.mass < $1.mass }?.location ?? 1
        let distances = eigenvalues.joined().filter { $0.isFinite && abs($0 - centre) <= 0.5 * centre }.map { abs($0 - centre) }.sorted()
        let median = distances.isEmpty ? 0.5 * centre : distances[distances.count / 2]
        let half = min(max(4 * median, 1e-3 * centre), 0.5 * centre)
        return (centre - half) ... (centre + half)
    }

    /// The fraction of `total` values that are ≤ x, from the finite values sorted ascending.
    static func empiricalCDF(_ sorted: [Double], _ x: Double, total: Double) -> Double {
        var (low, high) = (0, sorted.count)
        while low < high {
            let middle = (low + high) / 2
            if sorted[middle] <= x { low = middle + 1 } else { high = middle }
        }
        return Double(low) / total
    }

    /// The comparison's relative atom tolerance, as the caption prints it.
    private var atomToleranceText: String {
        let text = String(format: "%.0e", comparison.atomTolerance)
        guard let e = text.firstIndex(of: "e") else { return text }
        return "\(text[..<e])e\(Int(text[text.index(after: e)...]) ?? 0)"
    }

    var titleLine: String {
        let c = configuration
        if let subject { return "Spectrum of J Jᵀ — \(subject)" }
        let weights: String = switch c.initialization {
        case _ where c.weightsFromFile: "loaded weights"
        case .identity: "identity σ = \(compactNumber(c.sigma))"
        case .gaussian: "Gaussian σ_w = \(compactNumber(c.sigmaW))"
        case .orthogonal: "orthogonal σ_w = \(compactNumber(c.sigmaW))"
        case .he: "He σ_w = √2"
        }
        return "Spectrum of J Jᵀ — \(c.activation.rawValue), L = \(c.layers), N = \(width), \(weights), q0 = \(compactNumber(c.q0))"
    }
}
