import Figures
import Foundation
import Spectrum
import IsometrySupport

extension SpectrumReport {
    /// The compact, human-readable report the command prints.
    public var text: String {
        let c = configuration
        var lines: [String] = []
        let count = comparison.eigenvalueCount
        if let subject {
            lines.append("Spectrum of J Jᵀ: \(subject)")
            // A measurement of the library's own (a layer stack) says how it was made; a
            // caller's eigenvalues only how many there are.
            lines.append("\(eigenvalues.count) \(sampleNoun) × \(width) = \(grouped(count)) eigenvalues"
                + (route == "measured by the caller" ? ""
                    : ", \(c.precision.rawValue), seed \(c.seed), \(route), \(String(format: "%.3g", secondsPerSample * 1000)) ms/sample"))
        } else {
            let weights: String = switch c.initialization {
            case _ where c.weightsFromFile: "weights from \(c.weightsPath ?? "?")"
            case .identity: "identity σ = \(compactNumber(c.sigma))"
            case .gaussian: "Gaussian σ_w = \(compactNumber(c.sigmaW)), σ_b = \(compactNumber(c.sigmaB))"
            case .orthogonal: "orthogonal σ_w = \(compactNumber(c.sigmaW)), σ_b = \(compactNumber(c.sigmaB))"
            case .he: "He σ_w = √2, σ_b = \(compactNumber(c.sigmaB))"
            }
            let input = c.testImagesFolder.map { "inputs: the first \(eigenvalues.count) test images of \($0) (pixels / 255)" }
                ?? (c.input == .normal ? "inputs N(0, q0 = \(compactNumber(c.q0)))"
                : "inputs at the fixed point q* = \(compactNumber(meanField?.fixedPoint ?? c.q0))")
            lines.append("Spectrum of J Jᵀ: \(c.activation.rawValue) MLP, \(c.layers) layers × width \(width), \(weights), \(input)")
            lines.append("\(eigenvalues.count) \(sampleNoun) × \(width) = \(grouped(count)) eigenvalues, \(c.precision.rawValue), seed \(c.seed), "
                + "\(route) route, \(String(format: "%.3g", secondsPerSample * 1000)) ms/sample")
        }
        if let meanField {
            lines.append(String(format: "mean field: q* = %.6g, χ = %.6g, p = P(φ' ≠ 0) = %.6g", meanField.fixedPoint, meanField.chi, meanField.activeFraction))
        }
        lines.append("theory: \(theoryNote)")
        lines.append("")
        let header = pad("", 22) + pad("measured", 13, right: true) + pad("theory", 13, right: true)
            + "   " + pad("band", 27) + "agree"
        lines.append(header)
        for row in comparison.rows {
            let mark = row.agrees.map { $0 ? "✓" : "✗" } ?? " "
            lines.append(pad(row.quantity, 22) + pad(row.measuredText, 13, right: true)
                + pad(row.theoryText, 13, right: true) + "   " + pad(row.bandText, 27) + mark)
        }
        lines.append("")
        lines.append("bands: \(comparison.model.rawValue)\(comparison.quadratureNote.map { ", \($0)" } ?? ""); ✓ = theory and measurement agree within it")
        let failed = comparison.rows.filter { $0.agrees == false }.map(\.quantity)
        if !failed.isEmpty && c.weightsFromFile && subject == nil {
            lines.append("outside the band: \(failed.joined(separator: "; ")) (the loaded weights are compared with the"
                + " identity-initialisation law as a reference; training moves the spectrum away from it)")
        } else if !failed.isEmpty {
            lines.append("outside the band: \(failed.joined(separator: "; "))"
                + (comparison.model == .bootstrapOverSamples
                    ? " (finite width: the theory is the N → ∞ limit; at N = \(finiteWidth ?? width) the measured λ_max can sit several per cent"
                        + " from the edge and the fraction of zero eigenvalues above 1 − p; a bootstrap interval of a maximum cannot"
                        + " reach above the largest value seen)" : ""))
        }
        return lines.joined(separator: "\n")
    }
}

extension SpectrumReport {
    /// "sample" or "samples", for the count of eigenvalue samples.
    var sampleNoun: String { eigenvalues.count == 1 ? "sample" : "samples" }
}

extension ComparisonRow {
    /// Whether the row is a fraction of eigenvalues (printed in per cent).
    package var isFraction: Bool { quantity.hasPrefix("atom") || quantity.hasPrefix("P(") }

    /// A value of the row as the table prints it (and figures label it).
    func display(_ x: Double?) -> String {
        guard let x else { return "–" }
        return isFraction ? percent(x) : short(x)
    }

    var measuredText: String { display(measured) }
    var theoryText: String { display(theory) }

    /// The band, "–" when there is none.
    var bandText: String {
        guard let low = bandLow, let high = bandHigh else { return "–" }
        return isFraction ? "[\(fixedDecimal(100 * low)), \(fixedDecimal(100 * high))] %" : "[\(short(low)), \(short(high))]"
    }
}

/// A count with its thousands grouped, as the reports write counts: 7940 → "7,940".
func grouped(_ count: Int) -> String {
    let digits = String(count.magnitude)
    var text = ""
    for (index, digit) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { text += "," }
        text.append(digit)
    }
    return (count < 0 ? "-" : "") + text
}

func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let count = text.count
    if count >= width { return text + " " }
    let fill = String(repeating: " ", count: width - count)
    return right ? fill + text : text + fill
}
