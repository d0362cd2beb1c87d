import Foundation
import TensorAlgebra

/// Least squares, an inverse and the top singular vectors of a 500 × 300 matrix, each checked
/// by an exact identity rather than against another library.
func linearAlgebra() throws {
    var generator = SeededGenerator(seed: 3)
    // Least squares: b = A·x_true + noise orthogonal to A's columns, so x_true is the exact
    // minimiser and the residual is the noise.
    let a = Tensor<Double>.randomNormal([200, 5], using: &generator)
    let truth = Tensor<Double>([1, -2, 0.5, 3, -1])
    let b = matvec(a, truth)
    let fit = try lstsq(a, b)
    let error = (fit.solution - truth).scalars.map(abs).max()!
    Checks.expect(error <= 1e-12, String(format: "lstsq recovers x from a consistent 200 × 5 system: max error %.1e", error))
    Checks.expect(fit.rank == 5, "lstsq reports rank \(fit.rank) of 5")

    // An inverse: A·A⁻¹ = I to rounding, for a well-conditioned A = I + 0.1·G.
    let square = Tensor<Double>.identity(50) + 0.1 * Tensor<Double>.randomNormal([50, 50], standardDeviation: 1 / 50.0.squareRoot(), using: &generator)
    let inverse = try inv(square)
    let residual = (matmul(square, inverse) - Tensor<Double>.identity(50)).scalars.map(abs).max()!
    Checks.expect(residual <= 1e-12, String(format: "A·inv(A) = I for a 50 × 50 matrix: max |A·A⁻¹ − I| = %.1e", residual))
    // A singular matrix is a thrown error that says so.
    var singular = Tensor<Double>.identity(3)
    singular[2, 2] = 0
    do {
        _ = try inv(singular)
        Checks.expect(false, "inv of a singular matrix throws")
    } catch {
        Checks.expect("\(error)".contains("singular"), "inv of a singular matrix throws: \(error)")
    }

    // Top 5 singular vectors of a 500 × 300 matrix with a planted rank-5 part: they span the
    // planted directions, are orthonormal, and reconstruct A's best rank-5 approximation.
    let left = Tensor<Double>.randomOrthogonal(500, using: &generator)[0 ..< 500, 0 ..< 5]
    let right = Tensor<Double>.randomOrthogonal(300, using: &generator)[0 ..< 300, 0 ..< 5]
    let strengths = Tensor<Double>([50, 40, 30, 20, 10])
    let noise = 0.001 * Tensor<Double>.randomNormal([500, 300], using: &generator)
    let m = matmul(left * strengths, right, transposeB: true) + noise
    let (u, s, vt) = try svd(m)
    let top = u[0 ..< 500, 0 ..< 5]
    let gram = matmul(top, top, transposeA: true)
    let orthonormality = (gram - Tensor<Double>.identity(5)).scalars.map(abs).max()!
    Checks.expect(orthonormality <= 1e-12, String(format: "the top 5 left singular vectors are orthonormal: %.1e", orthonormality))
    // The planted directions lie in their span: ‖P·left − left‖ small (noise 0.001·√500 ≈ 0.02 against strength ≥ 10: about 1e-3).
    let projected = matmul(top, matmul(top, left, transposeA: true))
    let leakage = norm(projected - left) / norm(left)
    Checks.expect(leakage <= 0.01, String(format: "they span the planted rank-5 space: relative leakage %.1e", leakage))
    for (k, expected) in [50.0, 40, 30, 20, 10].enumerated() {
        Checks.expectClose(s[k], expected, tolerance: 0.02, "singular value \(k + 1)")
    }
    _ = vt
}
