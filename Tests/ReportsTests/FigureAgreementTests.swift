import Foundation
import Networks
import Testing
import Spectrum
import Reports
import IsometrySupport

/// Every number a spectrum figure writes is the number the report's text prints for it: both
/// are parsed, the figure's labels by their `data-quantity` and `data-kind`, the text by its
/// table line and header.
@Suite struct FigureAgreementTests {
    typealias Label = SVGReading.Label

    /// The `<text>` elements of an SVG document: text as read and attributes, entities decoded.
    static func labels(_ svg: String) -> [Label] { SVGReading.labels(svg) }

    /// The measured and theory cells of the table line of `quantity` in the report's text.
    static func tableCells(_ text: String, quantity: String) -> (measured: String, theory: String)? {
        for line in text.split(separator: "\n") where line.hasPrefix(quantity + " ") {
            let rest = line.dropFirst(quantity.count)
            guard let cells = rest.firstMatch(of: /^\s+(\S+(?: %)?)\s+(\S+(?: %)?)/) else { return nil }
            return (String(cells.output.1), String(cells.output.2))
        }
        return nil
    }

    /// A number with its unit as a label shows it ("theory 84.27 %" → "84.27 %").
    static func shownNumber(_ label: String) -> String? {
        label.firstMatch(of: /-?[0-9][0-9.]*(?:e-?[0-9]+)?(?: %)?$/).map { String($0.output) }
    }

    /// Checks one report: every labelled number equals its table cell, every atom row is
    /// labelled, no other label shows a percentage, and the caption's counts are the header's.
    func checkAgreement(_ report: SpectrumReport, _ comment: String) throws {
        let svg = report.histogramFigure().render()
        let text = report.text
        let labels = Self.labels(svg)
        var labelled: Set<String> = []
        for label in labels {
            guard let quantity = label.attributes["data-quantity"] else {
                // Only labelled annotations may show a per-cent value.
                #expect(!label.content.contains(" %"), "\(comment): unlabelled number in the figure: \(label.content)")
                continue
            }
            let kind = try #require(label.attributes["data-kind"], "\(comment): \(label.content)")
            let cells = try #require(Self.tableCells(text, quantity: quantity), "\(comment): no table line for \(quantity) in\n\(text)")
            let cell = kind == "measured" ? cells.measured : cells.theory
            let shown = try #require(Self.shownNumber(label.content), "\(comment): no number in \(label.content)")
            #expect(shown == cell, "\(comment): figure shows \(kind) \(quantity) = \(shown), the table prints \(cell)")
            // The same value, parsed.
            let parse = { (s: String) in Double(s.replacingOccurrences(of: " %", with: "")) }
            #expect(parse(shown) != nil && parse(shown) == parse(cell))
            labelled.insert("\(quantity)|\(kind)")
        }
        // Every atom row of the table is in the figure, measured and theory.
        for row in report.comparison.rows where row.atomLocation != nil {
            #expect(labelled.contains("\(row.quantity)|measured"), "\(comment): \(row.quantity) measured is not labelled")
            if row.theory != nil { #expect(labelled.contains("\(row.quantity)|theory"), "\(comment): \(row.quantity) theory is not labelled") }
        }
        // The caption states the counts the header prints.
        let counts = /([0-9]+) samples? × ([0-9]+) = ([0-9,]+) eigenvalues/
        let fromText = try #require(text.firstMatch(of: counts), "\(comment): \(text)")
        let figureText = labels.map(\.content).joined(separator: " ")
        let fromFigure = try #require(figureText.firstMatch(of: counts), "\(comment): no counts in the caption: \(figureText)")
        #expect(fromText.output.0 == fromFigure.output.0)
        #expect(Int(fromText.output.1) == report.eigenvalues.count && Int(fromText.output.2) == report.width)
        // Counts are written with their thousands grouped, "1,600" as the report page writes "10,000".
        let total = report.comparison.eigenvalueCount
        #expect(fromText.output.3 == (total < 1000 ? "\(total)" : "\(total / 1000),\(String(format: "%03d", total % 1000))"))
        // Neither prints a negative zero, a band below zero or "+ -".
        for (name, document) in [("text", text), ("figure", figureText)] {
            #expect(!document.contains("-0.00") && !document.contains("[-") && !document.contains("+ -"), "\(comment) \(name): \(document)")
        }
    }

    /// Issue: `spectrum --sigma 0.5 --layers 300 --plot` (λ ≈ 1e-180, so lo·hi underflows) and
    /// `--sigma 1e40 --layers 2` (λ ≈ 1e160, lo·hi overflows) trapped converting ±∞ to Int in
    /// the log bins. Both now draw, with every coordinate finite and their λ on the axis.
    @Test func histogramsOfExtremeSpectraDraw() throws {
        // Tick labels are powers of ten with the exponent raised: "10" then "−180".
        for (sigma, layers, label) in [(0.5, 300, "10−180"), (1e40, 2, "10160")] {
            let report = try SpectrumExperiment.run(SpectrumConfiguration(width: 20, layers: layers, sigma: sigma, samples: 2))
            let svg = report.histogramFigure().render()
            #expect(!svg.contains("nan") && !svg.contains("inf"), "σ = \(sigma)")
            let ticks = Self.labels(svg).map(\.content)
            #expect(ticks.contains(label), "σ = \(sigma), L = \(layers): \(ticks)")
            #expect(ticks.joined(separator: " ").contains("in 60 logarithmic bins"))
        }
    }

    @Test func identityLawFigureMatchesItsTable() throws {
        let report = try SpectrumExperiment.run(SpectrumConfiguration(width: 200, layers: 20, sigma: 1, q0: 0.5, samples: 4))
        #expect(report.comparison.rows.filter { $0.atomLocation != nil }.map(\.quantity) == ["atom at λ = 0", "atom at λ = 1"])
        try checkAgreement(report, "identity")
    }

    /// Like a trained network against the identity law: most eigenvalues near 1 but few at
    /// exactly 1, so the histogram bin that holds λ = 1 (about 84 %) is not the table's atom
    /// row (0.25 %); the figure must label the row.
    @Test func trainedLikeFigureLabelsTheRowsNotTheBins() throws {
        let law = IdentityLaw.law(activation: .hardTanh, sigma: 1, q0: 0.5, layers: 20)
        var state: UInt64 = 7
        func uniform() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53)
        }
        let eigenvalues: [[Double]] = (0 ..< 4).map { _ in
            (0 ..< 400).map { k in
                if k == 0 { return 1 }                           // 1 in 400 exactly at the atom
                if k < 60 { return k < 50 ? 0 : 1e-7 * uniform() } // zeros, and a few just above
                return 1 + 0.02 * (uniform() - 0.5)              // near 1, not at it
            }
        }
        let report = try SpectrumReport(eigenvalues: eigenvalues, law: law, subject: "trained-like network")
        let atOne = try #require(report.comparison.rows.first { $0.atomLocation == 1 })
        #expect(atOne.measured == 0.0025 && atOne.quantity == "atom at λ = 1")
        try checkAgreement(report, "trained-like")
        let svg = report.histogramFigure().render()
        #expect(!svg.contains("85.00 %") && svg.contains("measured 0.25 %"), "the bin's fraction is not a label")
    }

    @Test func randomNetworkFigureMatchesItsTable() throws {
        let c = SpectrumConfiguration(activation: .relu, initialization: .gaussian, width: 60, layers: 8,
                                      sigmaW: 2.0.squareRoot(), samples: 6, input: .fixedPoint)
        let report = try SpectrumExperiment.run(c)
        try checkAgreement(report, "Gaussian ReLU")
        // The row at 0 counts a window with continuous mass in it: named for what it counts.
        let zero = try #require(report.comparison.rows.first { $0.atomLocation == 0 })
        let atom = try #require(report.law?.atoms.first { $0.location == 0 })
        #expect(abs((zero.theory ?? 0) - atom.mass) > 5e-5)
        #expect(zero.quantity.hasPrefix("P(λ ≤ ε), ε = "), "\(zero.quantity)")
        #expect(report.text.contains(zero.quantity) && !report.text.contains("atom at λ = 0"))
    }

    @Test func bandsStayInsideWhatTheQuantityCanTake() throws {
        // p = 0 at an atom the sample misses: the binomial band would reach below 0.
        let law = try SpectralLaw(name: "hand-made", atoms: [.init(location: 0, mass: 0.0001)], grid: [1, 2, 3],
                                  density: [0.49995, 0.49995, 0.49995])
        let report = try SpectrumReport(eigenvalues: [[1.5, 2, 2.5, 1.2], [1.1, 2.9, 1.25, 2.75]], law: law,
                                        model: .independentEigenvalues)
        for row in report.comparison.rows {
            if let low = row.bandLow { #expect(low >= 0, "\(row.quantity): \(low)") }
            if row.isFraction, let high = row.bandHigh { #expect(high <= 1, "\(row.quantity): \(high)") }
        }
        #expect(!report.text.contains("[-"), "\(report.text)")
    }
}
