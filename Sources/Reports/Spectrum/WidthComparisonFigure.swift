import Figures
import Foundation
import IsometrySupport
import Spectrum

extension SpectrumReport {
    /// One network family measured at several widths beside its N → ∞ law: the CDFs on a log-λ
    /// axis (top) and their differences from the law (bottom), each width labelled with its
    /// distances from the law (``LawDistance``: W1/m1 and KS, with the quadrature's uncertainty
    /// for a Lanczos measurement). The law is the widest report's.
    ///
    /// Every number written in the figure is one `spectrum --compare-width` prints, from the
    /// same ``lawDistance``; the labels carry `data-width` and `data-quantity`.
    public static func widthComparisonFigure(_ reports: [SpectrumReport], width figureWidth: FigureWidth = .doubleColumn) -> SVGCanvas {
        let ordered = reports.sorted { $0.width < $1.width }
        let law = ordered.last?.law
        let single = figureWidth == .singleColumn
        let sortedValues = ordered.map { $0.eigenvalues.flatMap { $0 }.filter(\.isFinite).sorted() }
        // The x range: from the smallest 0.5 % quantile of the positive values to the top of the
        // law and of every measurement; lower values sit at the axis' left end.
        let positive = sortedValues.map { $0.filter { $0 > 0 } }
        let top = max(sortedValues.compactMap(\.last).max() ?? 1, law.map { $0.lambdaMax.isFinite ? $0.lambdaMax : 0 } ?? 0, .leastNormalMagnitude)
        let low = max(positive.compactMap { $0.isEmpty ? nil : $0[$0.count / 200] }.min() ?? top * 1e-6, top * 1e-12)
        let points = (0 ... 400).map { low * pow(top / low, Double($0) / 400) }
        let colors = ["#2c5f9e", "#e08a1e", "#3a8a3a", "#8e44ad"]
        let lawColor = "#c0392b"

        var canvas = SVGCanvas(printWidth: figureWidth, height: 0)
        let type = canvas.typography
        let family = ordered.last.map { r -> String in
            let c = r.configuration
            let weights = c.initialization == .orthogonal ? "orthogonal" : c.initialization == .gaussian ? "Gaussian" : c.initialization.rawValue
            return "\(c.activation.rawValue), \(weights) σ_{w} = \(compactNumber(c.sigmaW)), L = \(c.layers)"
        } ?? ""
        var cursor = canvas.figureTitle("J Jᵀ at growing width against its N → ∞ law — \(family)")
        cursor = canvas.paragraph(law.map { "theory: \(ordered.last?.mathText($0.name) ?? $0.name)" } ?? "theory: none", x: canvas.width / 2, y: cursor + type.tick - 2,
                                  width: canvas.width - 12, size: type.tick, fill: "#555", anchor: .middle)

        let cdfTop = cursor + 10, cdfBottom = cursor + 10 + (single ? 150 : 180)
        let y = Scale(domain: 0 ... 1, pixels: (cdfBottom, cdfTop))
        let left = canvas.leftMargin(y: Scale(domain: -0.1 ... 0.1, pixels: (1, 0)), yTicks: 4) + 4
        let right = canvas.width - 18
        let x = Scale(domain: low ... top, pixels: (left, right), logarithmic: true)
        canvas.axes(x: x, y: y, xLabel: "λ, eigenvalue of J Jᵀ (log scale)", yLabel: "fraction ≤ λ", xTicks: single ? 4 : 6, yTicks: 4,
                    data: ["panel": "cdf"])
        func cdf(_ sorted: [Double], _ at: Double) -> Double { SpectrumReport.empiricalCDF(sorted, at, total: Double(max(sorted.count, 1))) }
        // For a Lanczos measurement, where the exact CDF lies (the table's intervals, §7), shaded.
        let bands: [[ClosedRange<Double>]?] = ordered.map { report in
            guard let quadratures = report.quadratures, !quadratures.isEmpty else { return nil }
            let uncertainties = quadratures.map { QuadratureUncertainty($0, roundoff: report.comparison.atomTolerance) }
            return points.map { at in QuadratureUncertainty.Estimate.pooled(uncertainties.map { $0.cumulativeFraction(atMost: at) }).interval() }
        }
        func shade(_ band: [ClosedRange<Double>], _ y: Scale, minus law: ((Double) -> Double)?, color: String, panel: String, width: Int) {
            // Kept inside the panel: the bracket at the bottom can reach past the differences' range.
            func clamped(_ v: Double) -> Double { y(min(max(v, y.domain.lowerBound), y.domain.upperBound)) }
            let upper = zip(points, band).map { (x($0), clamped($1.upperBound - (law?($0) ?? 0))) }
            let lower = zip(points, band).reversed().map { (x($0), clamped($1.lowerBound - (law?($0) ?? 0))) }
            let text = (upper + lower).map { String(format: "%.2f,%.2f", $0.0, $0.1) }.joined(separator: " ")
            canvas.raw("<polygon points=\"\(text)\" fill=\"\(color)\" fill-opacity=\"0.22\" stroke=\"none\" data-panel=\"\(panel)\" data-width=\"\(width)\" data-kind=\"quadrature band\"/>")
        }
        for (index, band) in bands.enumerated() {
            if let band { shade(band, y, minus: nil, color: colors[index % colors.count], panel: "cdf", width: ordered[index].width) }
        }
        if let law {
            canvas.polyline(points.map { (x($0), y(law.cdf($0))) }, stroke: lawColor, width: 1.5, dash: "5,3",
                            data: ["quantity": "cdf", "kind": "theory"])
        }
        for (index, sorted) in sortedValues.enumerated() {
            canvas.polyline(points.map { (x($0), y(cdf(sorted, $0))) }, stroke: colors[index % colors.count], width: 1.6,
                            data: ["quantity": "cdf", "width": "\(ordered[index].width)"])
        }
        canvas.frame(x: x, y: y)

        // The differences: where the mass sits that the distances count.
        var differences: [[Double]] = []
        if let law {
            differences = sortedValues.map { sorted in points.map { cdf(sorted, $0) - law.cdf($0) } }
        }
        let spread = min(max(differences.flatMap { $0 }.map(abs).max() ?? 0.01, 0.01) * 1.1, 1)
        let diffTop = cdfBottom + type.xTitleOffset + 14, diffBottom = diffTop + (single ? 90 : 100)
        let dy = Scale(domain: -spread ... spread, pixels: (diffBottom, diffTop))
        canvas.axes(x: x, y: dy, xLabel: "λ (log scale)", yLabel: "F_{N} − F", xTicks: single ? 4 : 6, yTicks: 4, data: ["panel": "difference"])
        canvas.line(left, dy(0), right, dy(0), stroke: lawColor, width: 1, dash: "5,3")
        if let law {
            for (index, band) in bands.enumerated() {
                if let band { shade(band, dy, minus: law.cdf, color: colors[index % colors.count], panel: "difference", width: ordered[index].width) }
            }
        }
        for (index, difference) in differences.enumerated() {
            canvas.polyline(zip(points, difference).map { (x($0), dy($1)) }, stroke: colors[index % colors.count], width: 1.4,
                            data: ["quantity": "difference", "width": "\(ordered[index].width)"])
        }
        canvas.frame(x: x, y: dy)

        var entries: [(color: String, label: String, style: LegendStyle)] = []
        for (index, report) in ordered.enumerated() {
            entries.append((colors[index % colors.count], report.widthLegend, .line))
        }
        for (index, band) in bands.enumerated() where band != nil {
            entries.append((colors[index % colors.count], "N = \(grouped(ordered[index].width)): where the exact CDF lies (95 %, quadrature error)", .box))
        }
        if law != nil { entries.append((lawColor, "law (N → ∞)", .dashed)) }
        cursor = canvas.legendRows(entries, x: 8, y: diffBottom + type.xTitleOffset + 6, width: canvas.width - 16)

        let caption = "Fraction of the eigenvalues of J Jᵀ at most λ (zeros included, so each curve starts at its zero fraction), measured at each width "
            + "and in the free-probability law; bottom: measured minus law. W1/m1 is ∫|F_{N} − F| dλ over the law's mean m1, KS is sup |F_{N} − F|. "
            + "A Lanczos measurement's curve is its quadrature's quantiles, its shade the interval in which the exact spectrum's CDF lies "
            + "(Chebyshev–Markov–Stieltjes bracket and 1.96 probe standard errors, docs/theory.md §7): the quadrature lumps the mass below "
            + "its lowest Ritz value, so its KS distance says little there; ± bounds the distances' quadrature error (KS: the shade's "
            + "largest reach; W1: the shade's area, a loose bound)."
        cursor = canvas.paragraph(caption, x: 6, y: cursor + 6 + type.caption, width: canvas.width - 12, size: type.caption)
        canvas.height = cursor + 6
        return canvas
    }

    /// "N = 10,000, Lanczos 40 × 16, 2 samples: W1/m1 0.012 ± 0.003, KS 0.41 ± 0.46", as the
    /// command prints it and the figure's legend writes it.
    public var widthLegend: String {
        let method = quadratures == nil ? "dense" : "Lanczos \(configuration.lanczos?.steps ?? 0) × \(configuration.lanczos?.probes ?? 0)"
        var text = "N = \(grouped(width)), \(method), \(eigenvalues.count) \(sampleNoun)"
        guard let distance = lawDistance else { return text }
        text += ": W1/m1 \(String(format: "%.3g", distance.relativeWasserstein1))"
        if let u = distance.wasserstein1Uncertainty { text += " ± \(String(format: "%.2g", u))" }
        text += ", KS \(String(format: "%.3g", distance.kolmogorovSmirnov))"
        if let u = distance.kolmogorovSmirnovUncertainty { text += " ± \(String(format: "%.2g", u))" }
        return text
    }
}
