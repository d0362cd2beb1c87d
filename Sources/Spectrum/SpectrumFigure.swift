import Figures
import Foundation

extension SpectrumReport {
    /// The measured spectrum as a histogram on a log-λ axis with the theory over it.
    ///
    /// Bars are the fraction of eigenvalues per logarithmic bin; the theory's continuous part
    /// is drawn as the mass it puts in each bin, and each atom as an outlined bar at its
    /// mass. λ = 0 has no place on a log axis, so zero eigenvalues get a panel of their own.
    public func histogramFigure() -> SVGCanvas {
        var canvas = SVGCanvas(width: 820, height: 470)
        let values = eigenvalues.flatMap { $0 }
        let n = Double(max(values.count, 1))
        let atoms = law?.atoms ?? []
        let tolerance = comparison.atomTolerance
        let scale = max(law?.lambdaMax ?? 0, values.max() ?? 0)
        let zeroAtom = atoms.first { $0.location == 0 }
        // Exact zeros (and, when the theory has an atom at 0, values within rounding of it).
        let zeroCut = zeroAtom == nil ? 0 : tolerance * scale * 1e-3
        let zeros = values.filter { $0 <= zeroCut }
        let positive = values.filter { $0 > zeroCut }

        // The log axis covers the positive values and the theory's support.
        // Its lower end is the 0.5 % quantile of the positive values (lower ones join the first bin).
        let sortedPositive = positive.sorted()
        var lo = sortedPositive.isEmpty ? (law?.lambdaMax ?? 1) / 10 : sortedPositive[sortedPositive.count / 200]
        var hi = max(positive.max() ?? 1, law?.lambdaMax ?? 0)
        lo = max(lo, hi * 1e-14)
        if hi / lo < 100 { (lo, hi) = (sqrt(lo * hi) / 10, sqrt(lo * hi) * 10) }
        let bins = 60
        let logLo = log10(lo) - 0.02, logHi = log10(hi) + 0.02
        let edges = (0 ... bins).map { pow(10, logLo + (logHi - logLo) * Double($0) / Double(bins)) }
        var counts = [Double](repeating: 0, count: bins)
        for v in positive {
            let k = Int((log10(v) - logLo) / (logHi - logLo) * Double(bins))
            counts[min(max(k, 0), bins - 1)] += 1 / n
        }
        // Theory per bin: the continuous part, and the positive atoms.
        var theory = [Double](repeating: 0, count: bins)
        if let law {
            let positiveAtoms = atoms.filter { $0.location > 0 }
            for k in 0 ..< bins {
                let atomMass = positiveAtoms.filter { $0.location > edges[k] && $0.location <= edges[k + 1] }.reduce(0) { $0 + $1.mass }
                theory[k] = max(0, law.cdf(edges[k + 1]) - law.cdf(edges[k]) - atomMass)
            }
        }
        let zeroMeasured = Double(zeros.count) / n
        // The two panels have their own y scales: an atom at 0 would flatten the histogram.
        let positiveAtomMass = atoms.filter { $0.location > 0 }.map(\.mass).max() ?? 0
        let top = max(counts.max() ?? 0, theory.max() ?? 0, positiveAtomMass) * 1.15
        let zeroTop = max(zeroAtom?.mass ?? 0, zeroMeasured) * 1.15

        let y = Scale(domain: 0 ... max(top, 1e-3), pixels: (400, 70))
        let zy = Scale(domain: 0 ... max(zeroTop, 1e-3), pixels: (400, 70))
        let hasZeroPanel = zeroAtom != nil || !zeros.isEmpty
        let mainLeft = hasZeroPanel ? 215.0 : 90.0
        let x = Scale(domain: edges[0] ... edges[bins], pixels: (mainLeft, 790), logarithmic: true)
        let measuredColor = "#7fa7d9", theoryColor = "#c0392b"

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
        for atom in atoms where atom.location > 0 {
            // Outline the bin that holds the atom, so theory and measurement share a bar.
            let k = min(max(Int((log10(atom.location) - logLo) / (logHi - logLo) * Double(bins)), 0), bins - 1)
            let (x0, x1) = (x(edges[k]), x(edges[k + 1]))
            canvas.rect(x: x0, y: y(atom.mass), width: x1 - x0, height: y(0) - y(atom.mass), fill: "none", stroke: theoryColor, strokeWidth: 2)
            canvas.text(String(format: "theory %.2f %%", 100 * atom.mass), x: (x0 + x1) / 2 + 8, y: y(atom.mass) - 20, size: 11, fill: theoryColor)
            canvas.text(String(format: "measured %.2f %%", 100 * counts[k]), x: (x0 + x1) / 2 + 8, y: y(atom.mass) - 6, size: 11, fill: "#2c5f9e")
        }

        if hasZeroPanel {
            // The λ = 0 panel, with its own y axis.
            let zx = Scale(domain: 0 ... 1, pixels: (72, 122))
            canvas.rect(x: 72, y: 70, width: 50, height: 330, fill: "none", stroke: "#444")
            for tick in zy.ticks(count: 4) {
                canvas.line(67, zy(tick), 72, zy(tick), stroke: "#444")
                canvas.text(tickLabel(tick, logarithmic: false), x: 64, y: zy(tick) + 4, size: 11, anchor: .end)
            }
            canvas.text("fraction at λ = 0", x: 22, y: 235, size: 13, anchor: .middle, rotate: -90)
            canvas.rect(x: zx(0.2), y: zy(zeroMeasured), width: zx(0.8) - zx(0.2), height: zy(0) - zy(zeroMeasured), fill: measuredColor)
            if let zeroAtom {
                canvas.rect(x: zx(0.1), y: zy(zeroAtom.mass), width: zx(0.9) - zx(0.1), height: zy(0) - zy(zeroAtom.mass),
                            fill: "none", stroke: theoryColor, strokeWidth: 2)
                canvas.text(String(format: "%.2f %%", 100 * zeroAtom.mass), x: 97, y: 66 - 14, size: 11, anchor: .middle, fill: theoryColor)
            }
            if zeroMeasured > 0 {
                canvas.text(String(format: "%.2f %%", 100 * zeroMeasured), x: 97, y: 66, size: 11, anchor: .middle, fill: "#2c5f9e")
            }
            canvas.text("λ = 0", x: 97, y: 418, size: 12, anchor: .middle)
        }
        var entries: [(color: String, label: String, style: LegendStyle)] = [
            (measuredColor, "measured, \(values.count) eigenvalues", .box),
        ]
        if law?.grid.isEmpty == false { entries.append((theoryColor, "theory, continuous part per bin", .line)) }
        if !atoms.isEmpty { entries.append((theoryColor, "theory atom (mass)", .outline)) }
        canvas.legend(entries, x: mainLeft + 12, y: 78)
        return canvas
    }

    var titleLine: String {
        let c = configuration
        if let subject { return "Spectrum of J Jᵀ — \(subject)" }
        let weights: String = switch c.initialization {
        case _ where c.weightsFromFile: "loaded weights"
        case .identity: "identity σ = \(format(c.sigma))"
        case .gaussian: "Gaussian σ_w = \(format(c.sigmaW))"
        case .orthogonal: "orthogonal σ_w = \(format(c.sigmaW))"
        case .he: "He σ_w = √2"
        }
        return "Spectrum of J Jᵀ — \(c.activation.rawValue), L = \(c.layers), N = \(width), \(weights), q0 = \(format(c.q0))"
    }
}
