import Foundation
import Networks
import GridShards
import Testing
import TensorAlgebra
@testable import Spectrum

@Suite struct MeasuredVersusTheoryTests {
    @Test func identityHardTanhFractionIsBinomialAroundAlpha() throws {
        // Identity weights: each eigenvalue is at σ^{2L} independently with probability α, so
        // the measured fraction is Binomial(n, α)/n. With n = 200 · 25 = 5000 its standard
        // deviation is √(α(1 − α)/n) ≈ 0.0051; four of them bound a fixed-seed run safely.
        for (sigma, q0, layers) in [(1.0, 0.5, 20), (1.05, 0.3, 10), (0.9, 2.0, 6)] {
            var c = SpectrumConfiguration()
            c.width = 200
            c.samples = 25
            c.sigma = sigma
            c.q0 = q0
            c.layers = layers
            let report = try SpectrumExperiment.run(c)
            let alpha = IdentityLaw.hardTanhActiveFraction(sigma: sigma, q0: q0, layers: layers)
            let top = Foundation.pow(sigma, 2 * Double(layers))
            let values = report.eigenvalues.flatMap { $0 }
            let n = Double(values.count)
            let atTop = Double(values.filter { abs($0 - top) <= 1e-9 * top }.count) / n
            let atZero = Double(values.filter { $0 == 0 }.count) / n
            #expect(atTop + atZero == 1, "every eigenvalue is 0 or σ^{2L}")
            #expect(abs(atTop - alpha) <= 4 * (alpha * (1 - alpha) / n).squareRoot(), "σ = \(sigma): \(atTop) vs \(alpha)")
            #expect(report.comparison.rows.first { $0.quantity == "KS distance" }?.agrees == true)
        }
    }

    @Test func orthogonalReLUTailMatchesFreeProbability() throws {
        // N = 300, L = 4, 8 networks: P(λ > x) per sample has a standard deviation of about
        // 0.02 (observed), so 0.007 for the pooled estimate; 0.03 is four of those plus the
        // O(1/N) finite-width bias.
        var c = SpectrumConfiguration()
        c.initialization = .orthogonal
        c.activation = .relu
        c.sigmaW = 2.0.squareRoot()
        c.input = .fixedPoint
        c.width = 300
        c.layers = 4
        c.samples = 8
        let report = try SpectrumExperiment.run(c)
        let law = FreeProbabilityLaw(weights: .orthogonal, sigmaW2: 2, p: 0.5, layers: 4).law()
        let values = report.eigenvalues.flatMap { $0 }
        for x in [0.1, 1.0, 3.0] {
            let measured = Double(values.filter { $0 > x }.count) / Double(values.count)
            #expect(abs(measured - law.tail(x)) <= 0.03, "P(λ > \(x)): \(measured) vs \(law.tail(x))")
        }
        let mean = values.reduce(0, +) / Double(values.count)
        #expect(abs(mean - 1) <= 0.1, "mean \(mean) vs (σ_w² p)^L = 1")
    }

    @Test func kolmogorovSmirnovOfExactQuantilesIsTiny() {
        // Values placed at the law's own quantiles have KS distance at most 1/n.
        let law = FreeProbabilityLaw(weights: .gaussian, sigmaW2: 2, p: 0.5, layers: 2).law()
        let n = 400
        let values = (0 ..< n).map { law.quantile((Double($0) + 0.5) / Double(n)) }
        #expect(SpectrumComparison.kolmogorovSmirnov(values, law) <= 1.0 / Double(n) + 1e-6)
        // Shifting everything up by 50 % is detected.
        #expect(SpectrumComparison.kolmogorovSmirnov(values.map { $0 * 1.5 + 1e-3 }, law) > 0.05)
    }
}

@Suite struct SweepTests {
    func smallSweep() -> SpectrumSweep {
        var sweep = SpectrumSweep(sigma: 0.8 ... 1.2, sigmaSteps: 3, q0: 0.1 ... 1, q0Steps: 4)
        sweep.width = 50
        sweep.layers = 5
        sweep.samples = 2
        return sweep
    }

    @Test func shardsMergeToTheFullGrid() throws {
        let sweep = smallSweep()
        let full = try (0 ..< sweep.pointCount).map { try sweep.evaluate($0) }
        let parts = try (1 ... 3).map { k in
            (path: "part\(k).csv", text: sweep.csv(try sweep.indices(shard: k, of: 3).map { try sweep.evaluate($0) }))
        }
        let (merged, points) = try SpectrumSweep.merge(parts)
        #expect(merged == sweep)
        #expect(points == full)
        // The CSV round-trips exactly.
        let (again, rows) = try SpectrumSweep.read(sweep.csv(full), path: "full.csv")
        #expect(again == sweep && rows == full)
        // Theory columns: hard-tanh α and log10(α σ^{2L}).
        let p = full[5]
        let alpha = IdentityLaw.hardTanhActiveFraction(sigma: p.sigma, q0: p.q0, layers: 5)
        #expect(abs(p.theoryFraction - alpha) <= 1e-12)
        #expect(abs(p.theoryLog10Mean - log10(alpha * Foundation.pow(p.sigma, 10))) <= 1e-12)
    }

    @Test func mergeRefusesMissingDuplicateAndForeignShards() throws {
        let sweep = smallSweep()
        let part1 = (path: "a.csv", text: sweep.csv(try sweep.indices(shard: 1, of: 2).map { try sweep.evaluate($0) }))
        let part2 = (path: "b.csv", text: sweep.csv(try sweep.indices(shard: 2, of: 2).map { try sweep.evaluate($0) }))
        #expect(throws: SpectrumError.self) { try SpectrumSweep.merge([part1]) }
        #expect(throws: SpectrumError.self) { try SpectrumSweep.merge([part1, part2, part1]) }
        var other = sweep
        other.layers = 6
        let foreign = (path: "c.csv", text: other.csv([]))
        #expect(throws: SpectrumError.self) { try SpectrumSweep.merge([part1, part2, foreign]) }
        #expect(throws: SpectrumError.self) { try SpectrumSweep.read("index,sigma\n", path: "x.csv") }
        #expect(try SpectrumSweep.merge([part2, part1]).1.count == sweep.pointCount)
    }

    /// A row as a sweep would write it at point `index` (made-up measurements).
    func row(_ sweep: SpectrumSweep, _ index: Int) -> SpectrumSweep.Point {
        SpectrumSweep.Point(index: index, sigma: sweep.sigmas[index / sweep.q0s.count], q0: sweep.q0s[index % sweep.q0s.count],
                            measuredFraction: 0.5, theoryFraction: 0.25, measuredLog10Mean: -1, theoryLog10Mean: -.infinity)
    }

    func sweepFileError(_ text: String) -> GridShardError? {
        do { _ = try SpectrumSweep.read(text, path: "s.csv") } catch { if case .sweepFile(let e) = error { return e } }
        return nil
    }

    @Test func rowsMustBeTheirPointsAndHoldPossibleValues() throws {
        let sweep = smallSweep()
        #expect(try SpectrumSweep.read(sweep.csv([row(sweep, 5)]), path: "s.csv").1 == [row(sweep, 5)])
        var wrong = row(sweep, 5)
        wrong.sigma = sweep.sigmas[0]
        #expect(sweepFileError(sweep.csv([wrong])) == .inconsistentRow(path: "s.csv", line: 3,
            problem: "point 5 has σ = \(sweep.sigmas[1]) in the grid, but the row says σ = \(sweep.sigmas[0])"))
        wrong = row(sweep, 5)
        wrong.q0 = sweep.q0s[2]
        #expect(sweepFileError(sweep.csv([wrong]))?.description
            == "s.csv: line 3: point 5 has q0 = \(sweep.q0s[1]) in the grid, but the row says q0 = \(sweep.q0s[2])")
        wrong = row(sweep, 5)
        wrong.measuredFraction = .nan
        #expect(sweepFileError(sweep.csv([wrong]))?.description == "s.csv: line 3: measured_fraction is nan, expected a fraction in [0, 1]")
        wrong = row(sweep, 5)
        wrong.measuredLog10Mean = .infinity
        #expect(sweepFileError(sweep.csv([wrong]))?.description == "s.csv: line 3: measured_log10_mean is inf, expected a finite number or -inf")
    }

    @Test func gridsBeyondTheBoundsAreRefused() throws {
        var sweep = smallSweep()
        sweep.layers = 1_000_000_000_000
        #expect(sweep.problem == "layers is 1000000000000, expected 1 to 100000")
        #expect(sweepFileError(sweep.csv([])) == .invalidGrid(path: "s.csv"))
        sweep.layers = 101
        sweep.activation = .tanh
        #expect(sweep.problem == "layers is 101, expected 1 to 100 for tanh")
        sweep.activation = .hardTanh
        #expect(sweep.problem == nil)
        sweep.sigmas = Array(repeating: 1, count: 1001)
        #expect(sweep.problem == "sigmas has 1001 values, expected 1 to 1000")
    }

    @Test func criticalCurveHasUnitMean() {
        let curve = smallSweep().criticalCurve(resolution: 10)
        #expect(!curve.isEmpty)
        for (sigma, q0) in curve {
            let mean = IdentityLaw.mean(activation: .hardTanh, sigma: sigma, q0: q0, layers: 5)
            #expect(abs(mean - 1) < 1e-9)
        }
    }
}
