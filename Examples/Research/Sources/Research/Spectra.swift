import Foundation
import Networks
import Reports
import Spectrum
import TensorAlgebra

/// (1) An identity-initialised σ = 1.1 hard-tanh network, 12 layers of width 100, with the
/// eigenvalues of J Jᵀ computed here sample by sample, against the exact identity law.
/// (2) A Gaussian ReLU network at criticality (σ_w = √2), against free probability, through
/// the library's experiment runner. Both write the library's report text and histogram.
func spectra(writingTo folder: URL) throws {
    let (sigma, q0, layers, width, samples) = (1.1, 0.5, 12, 100, 20)
    let network = MultilayerPerceptron<Double>.identity(width: width, layers: layers, sigma: sigma, activation: .hardTanh)
    let analyzer = JacobianSpectrumAnalyzer(network: network)
    var generator = SeededGenerator(seed: 7)
    var eigenvalues: [[Double]] = []
    for _ in 0 ..< samples {
        let input = Tensor<Double>.randomNormal([width], standardDeviation: q0.squareRoot(), using: &generator)
        eigenvalues.append(try analyzer.eigenvalues(at: input))
    }
    let law = IdentityLaw.law(activation: .hardTanh, sigma: sigma, q0: q0, layers: layers)
    let alpha = IdentityLaw.hardTanhActiveFraction(sigma: sigma, q0: q0, layers: layers)
    let top = pow(sigma, Double(2 * layers))
    let pooled = eigenvalues.flatMap { $0 }
    let atTop = Double(pooled.filter { abs($0 - top) <= 1e-9 * top }.count) / Double(pooled.count)
    // The fraction at σ^{2L} is Binomial(N·samples, α)/(N·samples): 4 standard deviations.
    let deviation = (alpha * (1 - alpha) / Double(pooled.count)).squareRoot()
    Checks.expect(abs(atTop - alpha) <= 4 * deviation,
                  String(format: "identity σ = 1.1, L = 12: %.4f of eigenvalues at σ^{2L} = %.3f, theory α = %.4f ± %.4f", atTop, top, alpha, deviation))
    Checks.expect(pooled.allSatisfy { abs($0) <= 1e-9 * top || abs($0 - top) <= 1e-9 * top }, "every eigenvalue at 0 or σ^{2L}")
    // The library's report and figure for eigenvalues computed here.
    let report = try SpectrumReport(
        eigenvalues: eigenvalues, law: law, subject: "identity σ = 1.1 hard-tanh, 12 layers of width 100",
        model: .independentEigenvalues, atomTolerance: 1e-9,
        configuration: SpectrumConfiguration(activation: .hardTanh, initialization: .identity, layers: layers, sigma: sigma, q0: q0))
    Checks.expect(report.configuration.width == width && report.configuration.samples == samples,
                  "the report describes the \(report.configuration.samples) samples of width \(report.configuration.width) it was given")
    print(report.text)
    try report.histogramFigure().render().write(to: folder.appendingPathComponent("identity.svg"), atomically: true, encoding: .utf8)

    var critical = SpectrumConfiguration(activation: .relu, initialization: .gaussian, width: width, layers: layers,
                                         sigmaW: 2.0.squareRoot(), samples: samples)
    critical.input = .fixedPoint
    let gaussian = try SpectrumExperiment.run(critical)
    print(gaussian.text)
    try gaussian.histogramFigure().render().write(to: folder.appendingPathComponent("gaussian-relu.svg"), atomically: true, encoding: .utf8)
    let mean = gaussian.eigenvalues.flatMap { $0 }.reduce(0, +) / Double(gaussian.eigenvalues.flatMap { $0 }.count)
    // At χ = 1 the mean eigenvalue is (σ_w² p)^L = 1 exactly in theory; 20 samples of 100 give
    // a bootstrap spread of about ±15 %, so 30 % is a two-sigma bound.
    Checks.expectClose(mean, gaussian.law?.mean ?? .nan, tolerance: 0.3, "Gaussian ReLU at χ = 1: mean eigenvalue against (σ_w²p)^L = 1")
    // At N = 100 single tail probabilities sit a little off the N → ∞ law (the report says
    // so); the distribution as a whole must still agree: the Kolmogorov–Smirnov distance.
    if let row = gaussian.comparison.rows.first(where: { $0.quantity.hasPrefix("KS") }) {
        Checks.expect(row.agrees == true, "Gaussian ReLU: \(row.quantity) \(row.measured) within \(row.band) [\(row.bandLow ?? .nan), \(row.bandHigh ?? .nan)]")
    } else {
        Checks.expect(false, "Gaussian ReLU: the report has a KS distance row")
    }
}
