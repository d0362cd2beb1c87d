import Figures
import Foundation

extension SpectrumSweep {
    /// Four heat maps over (σ, q0): the fraction of non-vanishing eigenvalues and log10 of the
    /// mean eigenvalue, measured and theoretical, each with the critical curve α·σ²ᴸ = 1.
    public func heatMap(_ points: [Point]) -> SVGCanvas {
        var canvas = SVGCanvas(width: 1000, height: 820)
        canvas.text("Identity-initialised \(activation.rawValue) MLP, L = \(layers), N = \(width): spectrum of J Jᵀ over (σ, q0)",
                    x: 500, y: 26, size: 16, anchor: .middle, weight: "bold")
        canvas.text("\(samples) samples per point; dashed: critical curve α·σ²ᴸ = 1 (mean eigenvalue 1); grey: every measured eigenvalue is 0",
                    x: 500, y: 46, size: 12, anchor: .middle, fill: "#555")
        let byIndex = Dictionary(uniqueKeysWithValues: points.map { ($0.index, $0) })
        let logMeans = points.flatMap { [$0.measuredLog10Mean, $0.theoryLog10Mean] }.filter(\.isFinite)
        let extent = max(logMeans.map(abs).max() ?? 1, 1e-9)
        let curve = criticalCurve()
        let panels: [(String, (Point) -> Double, ColorMap, ClosedRange<Double>, String)] = [
            ("measured: fraction of λ ≠ 0", \.measuredFraction, .viridis, 0 ... 1, "fraction"),
            ("theory: fraction of λ ≠ 0", \.theoryFraction, .viridis, 0 ... 1, "fraction"),
            ("measured: log10 mean λ", \.measuredLog10Mean, .diverging, -extent ... extent, "log10 mean λ"),
            ("theory: log10 mean λ", \.theoryLog10Mean, .diverging, -extent ... extent, "log10 mean λ"),
        ]
        for (panel, (title, value, map, range, barLabel)) in panels.enumerated() {
            let left = panel % 2 == 0 ? 80.0 : 570.0
            let top = panel < 2 ? 80.0 : 450.0
            let (w, h) = (310.0, 300.0)
            let x = Scale(domain: sigmas.min()! ... sigmas.max()!, pixels: (left, left + w))
            let y = Scale(domain: q0s.min()! ... q0s.max()!, pixels: (top + h, top), logarithmic: true)
            // Cells span half-way to their neighbours.
            let sigmaEdges = edges(sigmas, logarithmic: false)
            let q0Edges = edges(q0s, logarithmic: true)
            for i in sigmas.indices {
                for j in q0s.indices {
                    guard let point = byIndex[i * q0s.count + j] else { continue }
                    let v = value(point)
                    let color = v.isFinite ? map.hex((v - range.lowerBound) / (range.upperBound - range.lowerBound)) : "#bbbbbb"
                    canvas.rect(x: x(sigmaEdges[i]), y: y(q0Edges[j + 1]), width: x(sigmaEdges[i + 1]) - x(sigmaEdges[i]) + 0.4,
                                height: y(q0Edges[j]) - y(q0Edges[j + 1]) + 0.4, fill: color)
                }
            }
            canvas.polyline(curve.map { (x($0.0), y($0.1)) }, stroke: "#000", width: 2, dash: "6,4")
            canvas.axes(x: x, y: y, xLabel: "σ (weight scale)", yLabel: "q0 (input variance)", gridLines: false)
            canvas.text(title, x: left + w / 2, y: top - 10, size: 13, anchor: .middle, weight: "bold")
            canvas.colorBar(map, x: left + w + 14, y: top, height: h, low: range.lowerBound, high: range.upperBound, label: barLabel)
        }
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
