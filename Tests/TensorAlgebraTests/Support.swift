import Foundation
import Testing
@testable import TensorAlgebra
import FileFormats

/// Tolerances, relative to the largest reference magnitude (norm-wise, as LAPACK's own error
/// bounds are stated). The fixtures are small (at most 7 terms per sum) and well conditioned,
/// so the backward error is a few ulps times the dimension: 7·2⁻⁵³ ≈ 1e-15 in Double and
/// 7·2⁻²⁴ ≈ 4e-7 in Float, where the inputs themselves are also rounded to Float first.
/// The bounds below leave 100× margin for condition numbers up to about 100.
protocol TestPrecision: BLASScalar {
    static var tolerance: Self { get }
}
extension Float: TestPrecision { static var tolerance: Float { 2e-5 } }
extension Double: TestPrecision { static var tolerance: Double { 1e-12 } }

/// A committed numpy fixture (see Scripts/make_fixtures.py), converted to `Scalar`.
func fixture<Scalar: BLASScalar>(_ name: String, as _: Scalar.Type = Scalar.self) throws -> Tensor<Scalar> {
    try Tensor(contentsOfNumpyFile: fixtureURL(name))
}

func fixtureURL(_ name: String) -> URL {
    Bundle.module.url(forResource: name, withExtension: "npy", subdirectory: "Fixtures")!
}

/// Shapes equal and max |actual − expected| ≤ tolerance · max(1, max |expected|).
func expectClose<Scalar: BLASScalar>(
    _ actual: Tensor<Scalar>, _ expected: Tensor<Scalar>, tolerance: Scalar,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(actual.shape == expected.shape, sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return }
    let scale = max(1, expected.scalars.map { abs($0) }.max() ?? 0)
    let error = zip(actual.scalars, expected.scalars).map { abs($0 - $1) }.max() ?? 0
    #expect(
        error <= tolerance * scale,
        "max error \(error) exceeds \(tolerance) × \(scale)\nactual:   \(actual)\nexpected: \(expected)",
        sourceLocation: sourceLocation)
}

func expectClose<Scalar: BLASScalar>(
    _ actual: Scalar, _ expected: Scalar, tolerance: Scalar,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(
        abs(actual - expected) <= tolerance * max(1, abs(expected)),
        "\(actual) vs \(expected)", sourceLocation: sourceLocation)
}
