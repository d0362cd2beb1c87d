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
    public func histogramFigure(width figureWidth: FigureWidth = .doubleColumn) -> SVGCanvas {
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
        let measuredColor = "#7fa7d9", measuredText = "#2c5f9e", theoryColor = "#c0392b"

        // Layout: title and theory line, the histogram (with the λ = 0 panel on its left), its
        // legend, the CDF zoom under it, the caption.
        var canvas = SVGCanvas(printWidth: figureWidth, height: 0)
        let type = canvas.typography
        var cursor = canvas.figureTitle(titleLine)
        cursor = canvas.paragraph(law.map { "theory: \(mathText($0.name))" } ?? "theory: none", x: canvas.width / 2, y: cursor + type.tick - 2,
                                  width: canvas.width - 12, size: type.tick, fill: "#555", anchor: .middle)
        let single = figureWidth == .singleColumn
        // Room above the plots for the λ = 0 panel's two numbers.
        let plotTop = cursor + 2 * type.tick + 8
        let plotBottom = plotTop + (single ? 170 : 200)
        let yDomain = 0 ... max(top, 1e-3), zeroDomain = 0 ... max(zeroTop, 1e-3)
        let hasZeroPanel = zeroRow != nil || !zeros.isEmpty
        let panelLeft = canvas.leftMargin(y: Scale(domain: zeroDomain, pixels: (1, 0)), yTicks: 4) + 2
        let panelRight = panelLeft + (single ? 32 : 44)
        let mainLeft = (hasZeroPanel ? panelRight + 10 : 0) + canvas.leftMargin(y: Scale(domain: yDomain, pixels: (1, 0))) + 4
        // Room on the right for half of the last tick label ("1.0010").
        let plotRight = canvas.width - 18
        let y = Scale(domain: yDomain, pixels: (plotBottom, plotTop))
        let zy = Scale(domain: zeroDomain, pixels: (plotBottom, plotTop))
        let x = Scale(domain: edges[0] ... edges[bins], pixels: (mainLeft, plotRight), logarithmic: true)

        canvas.axes(x: x, y: y, xLabel: "λ, eigenvalue of J Jᵀ (log scale)", yLabel: "fraction of eigenvalues per bin",
                    xTicks: single ? 4 : 6, data: ["panel": "histogram"])
        for k in 0 ..< bins where counts[k] > 0 {
            canvas.rect(x: x(edges[k]) + 0.25, y: y(counts[k]), width: max(x(edges[k + 1]) - x(edges[k]) - 0.5, 0.5),
                        height: y(0) - y(counts[k]), fill: measuredColor)
        }
        if law?.grid.isEmpty == false {
            var points: [(Double, Double)] = [(x(edges[0]), y(0))]
            for k in 0 ..< bins {
                points.append((x(edges[k]), y(theory[k])))
                points.append((x(edges[k + 1]), y(theory[k])))
            }
            points.append((x(edges[bins]), y(0)))
            canvas.polyline(points, stroke: theoryColor, width: 1.5)
        }
        let lineStep = type.tick * 1.25
        for row in positiveRows {
            // Outline the bin that holds the atom, so theory and measurement share a bar; the
            // measured mark is the row's count (values within its window), not the bin's.
            guard let location = row.atomLocation, let k = bin(of: location) else { continue }
            let (x0, x1) = (x(edges[k]), x(edges[k + 1]))
            let mass = row.theory ?? 0
            if row.theory != nil {
                canvas.rect(x: x0, y: y(mass), width: x1 - x0, height: y(0) - y(mass), fill: "none", stroke: theoryColor, strokeWidth: 1.5)
            }
            canvas.line(x0 - 3, y(row.measured), x1 + 3, y(row.measured), stroke: measuredText, width: 2.5)
            // Three lines beside the bar's top, on the side with room for them inside the plot.
            let labelTop = min(y(mass), y(row.measured), y(counts[k])) - 6
            let lines = row.theory != nil ? 3.0 : 2.0
            let labelWidth = ["measured \(row.measuredText)", "theory \(row.theoryText)", row.quantity]
                .map { SVGCanvas.estimatedTextWidth($0, size: type.tick) }.max() ?? 0
            let roomLeft = x0 - 6 - (mainLeft + 4), roomRight = plotRight - 4 - (x1 + 6)
            let preferEnd = (x0 + x1) / 2 > (mainLeft + plotRight) / 2
            let anchor: SVGCanvas.Anchor = (preferEnd && roomLeft >= labelWidth) || roomRight < labelWidth && roomLeft > roomRight ? .end : .start
            let lx = anchor == .end ? max(x0 - 6, mainLeft + 4 + labelWidth) : min(x1 + 6, plotRight - 4 - labelWidth)
            var lineY = max(labelTop - lineStep * (lines - 1), plotTop + type.tick + 2)
            canvas.text(mathText(row.quantity), x: lx, y: lineY, size: type.tick, anchor: anchor, weight: "bold", halo: true)
            if row.theory != nil {
                lineY += lineStep
                canvas.text("theory \(row.theoryText)", x: lx, y: lineY, size: type.tick, anchor: anchor, fill: theoryColor, halo: true,
                            data: ["quantity": row.quantity, "kind": "theory"])
            }
            lineY += lineStep
            canvas.text("measured \(row.measuredText)", x: lx, y: lineY, size: type.tick, anchor: anchor, fill: measuredText, halo: true,
                        data: ["quantity": row.quantity, "kind": "measured"])
        }
        canvas.frame(x: x, y: y)

        if hasZeroPanel {
            // The λ = 0 panel, with its own y axis.
            let zx = Scale(domain: 0 ... 1, pixels: (panelLeft, panelRight))
            let centre = (panelLeft + panelRight) / 2
            let zeroTicks = zy.ticks(count: 4)
            var widest = 0.0
            for (tick, label) in zip(zeroTicks, tickLabels(zeroTicks, logarithmic: false)) {
                canvas.line(panelLeft - 5, zy(tick), panelLeft, zy(tick), stroke: "#444")
                canvas.text(label, x: panelLeft - 8, y: zy(tick) + type.tick * 4 / 11, size: type.tick, anchor: .end)
                widest = max(widest, SVGCanvas.estimatedTextWidth(label, size: type.tick))
            }
            let isAtom = zeroRow.map { $0.quantity.hasPrefix("atom") } ?? false
            canvas.text(zeroRow == nil || isAtom ? "fraction at λ = 0" : "fraction with λ ≤ ε",
                        x: panelLeft - 8 - widest - 5 - type.label * 0.2, y: (plotTop + plotBottom) / 2, size: type.label, anchor: .middle, rotate: -90)
            canvas.rect(x: zx(0.2), y: zy(zeroMeasured), width: zx(0.8) - zx(0.2), height: zy(0) - zy(zeroMeasured), fill: measuredColor)
            if let zeroRow {
                if let mass = zeroRow.theory {
                    canvas.rect(x: zx(0.1), y: zy(mass), width: zx(0.9) - zx(0.1), height: zy(0) - zy(mass),
                                fill: "none", stroke: theoryColor, strokeWidth: 1.5)
                    canvas.text(zeroRow.theoryText, x: centre, y: plotTop - 6 - lineStep, size: type.tick, anchor: .middle, fill: theoryColor,
                                data: ["quantity": zeroRow.quantity, "kind": "theory"])
                }
                canvas.text(zeroRow.measuredText, x: centre, y: plotTop - 6, size: type.tick, anchor: .middle, fill: measuredText,
                            data: ["quantity": zeroRow.quantity, "kind": "measured"])
            }
            canvas.rect(x: panelLeft, y: plotTop, width: panelRight - panelLeft, height: plotBottom - plotTop, fill: "none", stroke: "#444",
                        data: ["panel": "zero", "y-domain": "\(zeroDomain.lowerBound) \(zeroDomain.upperBound)"])
            // The panel's x label: what the table row counts.
            if let zeroRow, !isAtom, let comma = zeroRow.quantity.range(of: ", ") {
                canvas.text(String(zeroRow.quantity[..<comma.lowerBound]), x: centre, y: plotBottom + type.tickLabelOffset, size: type.tick, anchor: .middle)
                canvas.text(String(zeroRow.quantity[comma.upperBound...]), x: centre, y: plotBottom + type.tickLabelOffset + lineStep,
                            size: type.tick, anchor: .middle)
            } else {
                canvas.text("λ = 0", x: centre, y: plotBottom + type.tickLabelOffset, size: type.tick, anchor: .middle)
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
        cursor = canvas.legendRows(entries, x: 8, y: plotBottom + type.xTitleOffset + (hasZeroPanel ? lineStep : 0) + 6,
                                   width: canvas.width - 16)

        // The CDF zoom under the histogram: measured and theory F(λ) = fraction of eigenvalues
        // ≤ λ on a linear λ axis around the heaviest positive atom, at 401 points, so that mass
        // piled *near* an atom is told from mass *at* it (issue 23 #5: a histogram bin at λ ≈ 1
        // held 77 % while the table's atom row counted 0.22 %).
        let zoom = cdfZoomWindow
        let zoomCentre = (zoom.lowerBound + zoom.upperBound) / 2
        let (cdfTop, cdfBottom) = (cursor + 10, cursor + 10 + (single ? 110 : 120))
        // At double-column width under the histogram's own axis; in one column as wide as it can be.
        let cdfLeft = single ? canvas.leftMargin(y: Scale(domain: 0 ... 1, pixels: (1, 0)), yTicks: 4) + 4 : mainLeft
        let cx = Scale(domain: zoom, pixels: (cdfLeft, plotRight)), cy = Scale(domain: 0 ... 1, pixels: (cdfBottom, cdfTop))
        canvas.axes(x: cx, y: cy, xLabel: "λ (linear scale, zoom around \(compactNumber(zoomCentre)))", yLabel: "fraction ≤ λ",
                    xTicks: single ? 3 : 5, yTicks: 4, data: ["panel": "cdf"])
        let sortedFinite = values.filter(\.isFinite).sorted()
        let zoomPoints = (0 ... 400).map { zoom.lowerBound + (zoom.upperBound - zoom.lowerBound) * Double($0) / 400 }
        canvas.polyline(zoomPoints.map { (cx($0), cy(Self.empiricalCDF(sortedFinite, $0, total: n))) }, stroke: measuredText, width: 1.8,
                        data: ["quantity": "cdf", "kind": "measured"])
        if let law {
            canvas.polyline(zoomPoints.map { (cx($0), cy(law.cdf($0))) }, stroke: theoryColor, width: 1.5, dash: "5,3",
                            data: ["quantity": "cdf", "kind": "theory"])
        }
        cursor = canvas.legendRows([(measuredText, "measured, fraction ≤ λ", .line)] + (law == nil ? [] : [(theoryColor, "theory, fraction ≤ λ", .dashed)]),
                                   x: 8, y: cdfBottom + type.xTitleOffset + 6, width: canvas.width - 16)

        // The caption: what is plotted, from how many samples.
        let count = comparison.eigenvalueCount
        let source = subject == nil ? "\(configuration.precision.rawValue), \(route) route" : route
        var caption = "Histogram of \(eigenvalues.count) sample\(eigenvalues.count == 1 ? "" : "s") × \(width) = \(grouped(count)) eigenvalues of J Jᵀ (N = \(width); \(source)), "
            + "in \(bins) logarithmic bins"
        caption += zeroRow == nil && zeros.isEmpty ? "." : "; the left panel holds the eigenvalues the table counts at λ = 0."
        if !atomRows.isEmpty {
            caption += " Labelled fractions are the table's rows: the eigenvalues within ε of an atom, measured and in theory,"
                + " with ε = \(atomToleranceText) × max(theory's λ_{max}, largest measured λ)."
        }
        caption += " Bottom: the fraction of eigenvalues ≤ λ on a linear axis from \(String(format: "%.4g", zoom.lowerBound)) to \(String(format: "%.4g", zoom.upperBound)):"
            + " an atom is a vertical step; eigenvalues near it but not at it rise gradually (what the atom rows count is the step)."
        if law == nil { caption += " No theory." }
        if nonFinite > 0 { caption += " \(nonFinite) NaN or infinite eigenvalue\(nonFinite == 1 ? "" : "s") (not drawn)." }
        cursor = canvas.paragraph(caption, x: 6, y: cursor + 6 + type.caption, width: canvas.width - 12, size: type.caption)
        canvas.height = cursor + 6
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

    /// A table row's name as the figure writes it: λ_max, σ_w with real subscripts.
    func mathText(_ quantity: String) -> String {
        quantity.replacingOccurrences(of: "λ_max", with: "λ_{max}").replacingOccurrences(of: "λ_min", with: "λ_{min}")
            .replacingOccurrences(of: "σ_w", with: "σ_{w}").replacingOccurrences(of: "σ_b", with: "σ_{b}")
    }

    var titleLine: String {
        let c = configuration
        if let subject { return "Spectrum of J Jᵀ — \(subject)" }
        let weights: String = switch c.initialization {
        case _ where c.weightsFromFile: "loaded weights"
        case .identity: "identity σ = \(compactNumber(c.sigma))"
        case .gaussian: "Gaussian σ_{w} = \(compactNumber(c.sigmaW))"
        case .orthogonal: "orthogonal σ_{w} = \(compactNumber(c.sigmaW))"
        case .he: "He σ_{w} = √2"
        }
        return "Spectrum of J Jᵀ — \(c.activation.rawValue), L = \(c.layers), N = \(width), \(weights), q0 = \(compactNumber(c.q0))"
    }
}
