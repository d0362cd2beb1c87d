import Foundation
import Reports
import Spectrum
import Testing

/// Issue 23 #5: under the histogram, the fraction of eigenvalues ≤ λ on a linear axis around the
/// atom, so that mass near λ = 1 (a tall histogram bin) is told from mass at it (the table's row).
@Suite struct SpectrumCDFPanelTests {
    func polyline(_ svg: String, kind: String) throws -> [(x: Double, y: Double)] {
        let match = try #require(svg.matches(of: /<polyline points="([^"]+)"[^>]*data-kind="([a-z]+)" data-quantity="cdf"/).first { $0.output.2 == kind })
        return match.output.1.split(separator: " ").map { pair in
            let xy = pair.split(separator: ",").map { Double($0)! }
            return (xy[0], xy[1])
        }
    }

    @Test func theZoomShowsMeasuredAndTheoryFractionsBelowLambda() throws {
        // As FigureAgreementTests' trained-like network: 50 zeros, 10 tiny, 1 at exactly 1 and
        // 339 spread over 1 ± 0.01, in each of 4 samples of 400.
        let law = IdentityLaw.law(activation: .hardTanh, sigma: 1, q0: 0.5, layers: 20)
        var state: UInt64 = 11
        func uniform() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53)
        }
        let eigenvalues: [[Double]] = (0 ..< 4).map { _ in
            (0 ..< 400).map { k in k == 0 ? 1 : k < 60 ? (k < 50 ? 0 : 1e-7 * uniform()) : 1 + 0.02 * (uniform() - 0.5) }
        }
        let report = try SpectrumReport(eigenvalues: eigenvalues, law: law, subject: "trained-like network")
        let svg = report.histogramFigure().render()
        let measured = try polyline(svg, kind: "measured"), theory = try polyline(svg, kind: "theory")
        #expect(measured.count == 401 && theory.count == 401)
        // The zoom: centred on the atom at 1, 4 × the median distance (about 0.005 for values
        // uniform on 1 ± 0.01, and 0 for the 4 exact ones) wide on each side: 1 ± 0.02.
        let window = report.cdfZoomWindow
        // The sample median of 1,356 such distances has a standard deviation of about 1.4e-4, so
        // 4 × median lies within 0.002 of 0.02 (measured: 0.019).
        #expect(abs(window.lowerBound - 0.98) < 0.002 && abs(window.upperBound - 1.02) < 0.002, "\(window)")
        // The frame of the panel spans the window in x and F from 0 to 1 in y; at double-column
        // width (the default) the histogram above it shares its left and right edges.
        let frame = try SVGReading.frame(svg, panel: "cdf"), histogram = try SVGReading.frame(svg, panel: "histogram")
        #expect(frame.xDomain == (window.lowerBound, window.upperBound) && frame.yDomain == (0, 1))
        #expect(frame.left == histogram.left && frame.right == histogram.right && frame.top > histogram.bottom)
        let all = eigenvalues.flatMap { $0 }
        let span = window.upperBound - window.lowerBound
        for k in [0, 100, 199, 200, 250, 400] {
            let lambda = window.lowerBound + span * Double(k) / 400
            let fraction = Double(all.filter { $0 <= lambda }.count) / Double(all.count)
            #expect(abs(measured[k].x - frame.x(lambda)) < SVGReading.pixelTolerance)
            #expect(abs(measured[k].y - frame.y(fraction)) < SVGReading.pixelTolerance, "F(\(lambda)) = \(fraction)")
            #expect(abs(theory[k].y - frame.y(law.cdf(lambda))) < SVGReading.pixelTolerance)
        }
        // The picture now says what the table says: the theory steps by its atom's 84.27 % at
        // λ = 1; the measurement rises gradually over 1 ± 0.01 (a quarter of the window holds
        // about half the near-1 values), of which only 0.25 % sit at 1.
        let theoryStep = (theory[200].y - theory[199].y) / -frame.height
        #expect(abs(theoryStep - (law.atoms.first { $0.location == 1 }?.mass ?? 0)) < 0.001)
        let measuredRise = (measured[250].y - measured[150].y) / -frame.height
        #expect(measuredRise > 0.3 && measuredRise < 0.55, "\(measuredRise)")
        #expect(svg.contains("fraction ≤ λ") && svg.contains("measured 0.25 %"))
    }
}
