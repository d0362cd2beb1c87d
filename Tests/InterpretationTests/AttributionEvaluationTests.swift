import Datasets
import Foundation
import Networks
import Testing
import TensorAlgebra
@testable import Interpretation

/// One network of Tests/Fixtures/AttributionMetrics (Benchmarks/Peers/quantus_metrics.py): its
/// stack, inputs, targets, gradient × input attributions, and Quantus's and Captum's values.
struct MetricFixture: Sendable, CustomTestStringConvertible {
    let tag: String
    var testDescription: String { tag }
    static let mlp = MetricFixture(tag: "mlp")
    static let cnn = MetricFixture(tag: "cnn")
    static let folder = fixtures.appendingPathComponent("AttributionMetrics")

    func url(_ name: String) -> URL { Self.folder.appendingPathComponent("\(tag)_\(name)") }
    func stack() throws -> LayerStack<Double> {
        tag == "mlp"
            ? try LayerStack<Double>(pytorchStateDict: url("model.safetensors"), activation: "relu")
            : try LayerStack<Double>(pytorchStateDict: url("model.safetensors"), architecture: "conv4k3,relu,maxpool2,flatten,dense5", inputShape: [1, 8, 8])
    }
    func array(_ name: String) throws -> Tensor<Double> { try Tensor<Double>(contentsOfNumpyFile: url("\(name).npy")) }
    func values(_ name: String) throws -> [Double] { try array(name).scalars }
    /// Inputs in the stack's sample shape (the MLP's [1, 20] samples, as Quantus needs them, flattened).
    func inputs(_ stack: LayerStack<Double>) throws -> Tensor<Double> {
        let x = try array("inputs")
        return x.reshaped([x.shape[0]] + stack.inputShape)
    }
    func targets() throws -> [Int] { try values("targets").map { Int($0) } }
    func attributions(_ stack: LayerStack<Double>) throws -> Tensor<Double> {
        let a = try array("attributions")
        return a.reshaped([a.shape[0]] + stack.inputShape)
    }
    /// Per-sample draws `[n, draws, D]` from a fixture stored `[draws, n, D]` (Quantus's loop order).
    func drawsBySample(_ name: String) throws -> Tensor<Double> {
        let t = try array(name)
        let (draws, n, d) = (t.shape[0], t.shape[1], t.shape[2])
        var out = Tensor<Double>.zeros([n, draws, d])
        out.withUnsafeMutableBufferPointer { o in
            t.withUnsafeBufferPointer { t in
                for s in 0 ..< draws { for i in 0 ..< n { for j in 0 ..< d { o[(i * draws + s) * d + j] = t[(s * n + i) * d + j] } } }
            }
        }
        return out
    }
}

/// |a − b| ≤ 1e-6 · max(1, |b|) for every pair: the issue's bar. Both sides are float64 and
/// compute the same sums (of at most 64 products, a softmax, a Pearson correlation over 40
/// runs) in other orders, so they differ by rounding, ~1e-13; 1e-6 would still catch a wrong
/// convention (another baseline, step, norm or order changes the values in the 2nd–3rd digit).
func expectClose(_ a: [Double], _ b: [Double], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.count == b.count, "\(what): \(a.count) values, expected \(b.count)", sourceLocation: sourceLocation)
    for (k, (x, y)) in zip(a, b).enumerated() {
        #expect(abs(x - y) <= 1e-6 * max(1, abs(y)), "\(what)[\(k)]: \(x), reference \(y)", sourceLocation: sourceLocation)
    }
}

/// The metrics against pip-installed Quantus 0.6.0 and Captum 0.9 on the same networks, inputs,
/// attributions and random draws (float64 on both sides).
@Suite struct AttributionMetricsMatchQuantusAndCaptum {
    @Test(arguments: [MetricFixture.mlp, .cnn])
    func pixelFlipping(_ fixture: MetricFixture) throws {
        let stack = try fixture.stack()
        let (x, t, a) = (try fixture.inputs(stack), try fixture.targets(), try fixture.attributions(stack))
        let order = try fixture.array("pixel_flipping_order")
        let orders = (0 ..< order.shape[0]).map { order.row($0).scalars.map { Int($0) } }
        let step = fixture.tag == "mlp" ? 1 : 4
        // The MLP's attributions have no ties, so Isometry's own order is Quantus's; the CNN's
        // zero gradients tie, and Quantus's unstable sort chose an order of its own.
        let metric = PixelFlipping<Double>(featuresInStep: step, orders: fixture.tag == "mlp" ? nil : orders)
        let (scores, counts) = try metric.evaluate(stack, inputs: x, targets: t, attributions: a)
        expectClose(scores.curves!.flatMap { $0 }, try fixture.values("pixel_flipping_curves"), "\(fixture.tag) pixel-flipping curves")
        expectClose(scores.values, try fixture.values("pixel_flipping_auc"), "\(fixture.tag) pixel-flipping AUC")
        #expect(counts == PerturbationCounts(certified: 0, forwarded: x.shape[0] * scores.curves![0].count))
        // The certificate changes nothing but how the rows are answered.
        var certified = metric
        certified.certify = true
        let exact = try certified.evaluate(stack, inputs: x, targets: t, attributions: a)
        expectClose(exact.scores.values, scores.values, "\(fixture.tag) certified pixel-flipping AUC")
    }

    @Test(arguments: [MetricFixture.mlp, .cnn])
    func faithfulnessCorrelation(_ fixture: MetricFixture) throws {
        let stack = try fixture.stack()
        let subsets = try fixture.array("faithfulness_subsets")
        let (runs, n, size) = (subsets.shape[0], subsets.shape[1], subsets.shape[2])
        let given = (0 ..< runs).map { r in (0 ..< n).map { i in (0 ..< size).map { Int(subsets[r, i, $0]) } } }
        let metric = FaithfulnessCorrelation<Double>(runs: runs, subsetSize: size, subsets: given)
        let scores = try metric.scores(stack, method: GradientTimesInput(), inputs: try fixture.inputs(stack), targets: try fixture.targets(),
                                       attributions: try fixture.attributions(stack))
        expectClose(scores.values, try fixture.values("faithfulness_correlation"), "\(fixture.tag) faithfulness correlation")
    }

    @Test(arguments: [MetricFixture.mlp, .cnn])
    func maxSensitivity(_ fixture: MetricFixture) throws {
        let stack = try fixture.stack()
        let (x, t, a) = (try fixture.inputs(stack), try fixture.targets(), try fixture.attributions(stack))
        let noise = try fixture.drawsBySample("max_sensitivity_noise")
        for certify in [false, true] {
            let metric = MaxSensitivity<Double>(samples: noise.shape[1], radius: 0.2, noise: noise, certify: certify)
            let (scores, counts) = try metric.evaluate(stack, method: GradientTimesInput(), inputs: x, targets: t, attributions: a)
            expectClose(scores.values, try fixture.values("max_sensitivity"), "\(fixture.tag) max-sensitivity (certify \(certify))")
            #expect(counts.total == noise.shape[0] * noise.shape[1])
        }
    }

    /// Captum's radius-0.02 noise is small enough for the certificate to answer some draws:
    /// the values agree with and without it, and the count says how many it answered.
    @Test(arguments: [MetricFixture.mlp, .cnn])
    func captumSensitivityMax(_ fixture: MetricFixture) throws {
        let stack = try fixture.stack()
        let (x, t, a) = (try fixture.inputs(stack), try fixture.targets(), try fixture.attributions(stack))
        let noise = try fixture.array("captum_sensitivity_noise")
        var certifiedCount = 0
        for certify in [false, true] {
            let metric = MaxSensitivity<Double>(samples: noise.shape[1], radius: 0.02, noise: noise, certify: certify)
            let (scores, counts) = try metric.evaluate(stack, method: GradientTimesInput(), inputs: x, targets: t, attributions: a)
            expectClose(scores.values, try fixture.values("captum_sensitivity"), "\(fixture.tag) sensitivity_max (certify \(certify))")
            if certify { certifiedCount = counts.certified } else { #expect(counts.certified == 0) }
        }
        print("\(fixture.tag) sensitivity_max: \(certifiedCount) of \(noise.shape[0] * noise.shape[1]) perturbations certified")
    }

    @Test(arguments: [MetricFixture.mlp, .cnn])
    func infidelity(_ fixture: MetricFixture) throws {
        let stack = try fixture.stack()
        let (x, t, a) = (try fixture.inputs(stack), try fixture.targets(), try fixture.attributions(stack))
        let noise = try fixture.array("infidelity_noise")
        for certify in [false, true] {
            let metric = Infidelity<Double>(samples: noise.shape[1], sigma: 0.1, noise: noise, certify: certify)
            let (scores, counts) = try metric.evaluate(stack, inputs: x, targets: t, attributions: a)
            // Infidelity is a mean of squares of differences e = Σ I_j a_j − (f(x) − f(x − I)) of
            // O(1) numbers that nearly cancel (e ~ 1e-2, values ~1e-4), so the bar is relative:
            // float64 sums in other orders leave ~1e-16 of the O(1) terms, ~1e-14 of e and twice
            // that of e² (measured: at most 2.2e-14 over both networks, with and without the
            // certificate); 1e-9 leaves room for that and still catches a wrong convention
            // (Captum's normalize=True, x + I for x − I, another σ change what is measured, not
            // its last digits). The former bar, 1e-6 · max(1, |b|), was 1e-6 absolute: 0.1–1 % of a value
            // (they lie in 9e-5 … 8e-4).
            let reference = try fixture.values("infidelity")
            #expect(scores.values.count == reference.count)
            for (k, (value, expected)) in zip(scores.values, reference).enumerated() {
                #expect(abs(value - expected) <= 1e-9 * abs(expected), "\(fixture.tag) infidelity[\(k)] (certify \(certify)): \(value), Captum \(expected)")
            }
            print("\(fixture.tag) infidelity: \(counts.certified) of \(counts.total) perturbations certified (certify \(certify))")
        }
    }

    /// Deletion and insertion have no Quantus counterpart: the script's plain-torch loop (one
    /// image and one step at a time, stable order) is the reference; the areas are the
    /// trapezoid rule over the fraction of features, taken here from the reference curves.
    @Test(arguments: [MetricFixture.mlp, .cnn])
    func deletionAndInsertion(_ fixture: MetricFixture) throws {
        let stack = try fixture.stack()
        let (x, t, a) = (try fixture.inputs(stack), try fixture.targets(), try fixture.attributions(stack))
        let d = stack.inputShape.reduce(1, *)
        for direction in [DeletionAndInsertion<Double>.Direction.deletion, .insertion] {
            let metric = DeletionAndInsertion<Double>(direction, fraction: 0.25)
            let (scores, fractions, _) = try metric.evaluate(stack, inputs: x, targets: t, attributions: a)
            let reference = try fixture.array("\(direction.rawValue)_curves")
            expectClose(scores.curves!.flatMap { $0 }, reference.scalars, "\(fixture.tag) \(direction) curves")
            let k = Int((0.25 * Double(d)).rounded(.up))
            #expect(fractions.first == 0 && fractions.last == 1 && fractions.count == (d + k - 1) / k + 1)
            var areas: [Double] = []
            for i in 0 ..< reference.shape[0] {
                let y = reference.row(i).scalars
                var area = 0.0
                for k in 1 ..< y.count {
                    let width: Double = fractions[k] - fractions[k - 1]
                    area += width * (y[k] + y[k - 1]) / 2
                }
                areas.append(area)
            }
            expectClose(scores.values, areas, "\(fixture.tag) \(direction) area")
        }
    }
}

/// The activation-pattern certificate: inside its radius the pattern is x's, so the certified
/// answer F(x) + W(x)δ equals the forward pass to rounding; the pattern found by forward passes
/// along random rays never changes before the radius.
@Suite struct ActivationPatternCertificateTests {
    static func stacks() throws -> [(String, LayerStack<Double>, Tensor<Double>)] {
        var generator = SeededGenerator(seed: 24)
        let mixed = try LayerStack<Double>(architecture: "conv3k3p1,relu,maxpool2,conv4k3,hard-tanh,flatten,dense3", inputShape: [1, 6, 6],
                                           using: &generator)
        let mixedInputs = Tensor<Double>.randomNormal([4, 1, 6, 6], using: &generator)
        let cnn = try MetricFixture.cnn.stack()
        let mlp = try MetricFixture.mlp.stack()
        return [("conv/maxpool/hard-tanh", mixed, mixedInputs), ("cnn", cnn, try MetricFixture.cnn.inputs(cnn)),
                ("mlp", mlp, try MetricFixture.mlp.inputs(mlp))]
    }

    /// F(x + δ) by the certificate against the forward pass, for δ of 0.9 × the radius in 20
    /// random directions per input: float64 sums of up to 64 products, so 1e-12 of the output's
    /// scale is a wide margin. And W(x) is the dense linearisation's (`linearization(at:)`).
    @Test func certifiedOutputsEqualTheForwardPass() throws {
        var generator = SeededGenerator(seed: 5)
        for (name, stack, inputs) in try Self.stacks() {
            for i in 0 ..< inputs.shape[0] {
                let x = inputs.row(i)
                let certificate = try ActivationPatternCertificate(stack, at: x)
                #expect(certificate.radius > 0 && certificate.radius.isFinite, "\(name) input \(i): radius \(certificate.radius)")
                let (w, _) = stack.linearization(at: x)
                #expect(relativeToLargest(certificate.weights.scalars, w.scalars) <= 1e-12, "\(name) input \(i): W(x)")
                for _ in 0 ..< 20 {
                    let direction = Tensor<Double>.randomNormal(x.shape, using: &generator)
                    let norm = direction.scalars.reduce(0) { $0 + $1 * $1 }.squareRoot()
                    let y = x + direction * (0.9 * certificate.radius / norm)
                    #expect(certificate.certifies(y))
                    let exact = stack(y).scalars, certified = certificate.outputs(at: y).scalars
                    let scale = max(1, exact.map(abs).max()!)
                    #expect(zip(exact, certified).allSatisfy { abs($0 - $1) <= 1e-12 * scale }, "\(name) input \(i)")
                }
            }
        }
    }

    /// Along random rays from x, the first step (of 1/50 of the radius, up to 3 radii) whose
    /// forward pass has another pattern (activation slopes, pool winners) lies beyond the radius.
    @Test func thePatternHoldsWithinTheRadius() throws {
        var generator = SeededGenerator(seed: 6)
        var changed = 0
        for (name, stack, inputs) in try Self.stacks() {
            let workspace = stack.makeWorkspace(batchSize: 1)
            func pattern(_ y: Tensor<Double>) -> [[Double]] {
                stack.forward(y.reshaped([1] + stack.inputShape), in: workspace)
                return workspace.patterns.map(\.scalars)
            }
            for i in 0 ..< inputs.shape[0] {
                let x = inputs.row(i)
                let certificate = try ActivationPatternCertificate(stack, at: x)
                let reference = pattern(x)
                for _ in 0 ..< 10 {
                    let direction = Tensor<Double>.randomNormal(x.shape, using: &generator)
                    let unit = direction / direction.scalars.reduce(0) { $0 + $1 * $1 }.squareRoot()
                    for step in 1 ... 150 {
                        let t = Double(step) / 50 * certificate.radius
                        if pattern(x + unit * t) != reference {
                            #expect(t >= certificate.radius, "\(name) input \(i): the pattern changed at \(t), radius \(certificate.radius)")
                            changed += 1
                            break
                        }
                    }
                }
            }
        }
        // The radius is not vacuously small: some rays leave the region within 3 radii.
        #expect(changed > 0)
    }
}

/// Bad settings: typed errors, each a line naming the value.
@Suite struct AttributionMetricSettings {
    let stack: LayerStack<Double>
    let inputs: Tensor<Double>
    let targets: [Int]
    let maps: Tensor<Double>

    init() throws {
        stack = try MetricFixture.cnn.stack()
        inputs = try MetricFixture.cnn.inputs(stack)
        targets = try MetricFixture.cnn.targets()
        maps = try MetricFixture.cnn.attributions(stack)
    }

    func error(_ metric: some AttributionMetric<Double>) -> InterpretationError? {
        do { _ = try metric.scores(stack, method: GradientTimesInput(), inputs: inputs, targets: targets, attributions: maps) } catch { return error }
        return nil
    }

    @Test(arguments: [0.0, -0.1, 1.5, .nan])
    func aFractionOutsideZeroToOneThrows(_ fraction: Double) throws {
        let error = error(DeletionAndInsertion<Double>(.deletion, fraction: fraction))
        guard case .perturbationFractionOutOfRange(let value)? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(value.isNaN ? fraction.isNaN : value == fraction)
        #expect(error!.description.contains("\(fraction)") && !error!.description.contains("\n"))
    }

    @Test func zeroDrawsThrow() {
        #expect(error(FaithfulnessCorrelation<Double>(runs: 0, subsetSize: 4)) == .noDraws(setting: "runs", value: 0))
        #expect(error(MaxSensitivity<Double>(samples: 0)) == .noDraws(setting: "samples", value: 0))
        #expect(error(Infidelity<Double>(samples: 0)) == .noDraws(setting: "samples", value: 0))
        #expect(InterpretationError.noDraws(setting: "runs", value: 0).description == "runs is 0: the metric needs at least 1")
    }

    @Test func aBaselineOfAnotherShapeThrows() {
        let wrong = Tensor<Double>.zeros([1, 7, 7])
        #expect(error(PixelFlipping<Double>(baseline: .image(wrong))) == .baselineShapeMismatch(found: [1, 7, 7], expected: [1, 8, 8]))
        #expect(error(DeletionAndInsertion<Double>(.insertion, baseline: .image(wrong))) == .baselineShapeMismatch(found: [1, 7, 7], expected: [1, 8, 8]))
        #expect(error(FaithfulnessCorrelation<Double>(subsetSize: 4, baseline: .image(wrong))) == .baselineShapeMismatch(found: [1, 7, 7], expected: [1, 8, 8]))
        // A flattened baseline of the right size is accepted.
        #expect(error(PixelFlipping<Double>(featuresInStep: 8, baseline: .image(.zeros([64])))) == nil)
    }

    @Test func otherSettingsOutOfRangeThrow() {
        #expect(error(PixelFlipping<Double>(featuresInStep: 0)) == .metricSettingOutOfRange(setting: "features in step", value: "0", expected: "1 ... 64, the features of a sample"))
        #expect(error(FaithfulnessCorrelation<Double>(subsetSize: 65)) != nil)
        #expect(error(MaxSensitivity<Double>(samples: 2, noise: .zeros([3, 2, 64]))) != nil)
    }

    /// Infidelity and max-sensitivity check their draws in one place (`NoiseDraws`): the same
    /// errors, each naming the metric's own scale.
    @Test func noiseSettingsOutOfRangeThrow() {
        #expect(error(Infidelity<Double>(sigma: 0)) == .metricSettingOutOfRange(setting: "noise σ", value: "0.0", expected: "a finite number > 0"))
        #expect(error(MaxSensitivity<Double>(radius: .infinity))
                == .metricSettingOutOfRange(setting: "noise radius", value: "inf", expected: "a finite number > 0"))
        let n = inputs.shape[0]
        #expect(error(Infidelity<Double>(samples: 3, noise: .zeros([n, 2, 64])))
                == .metricSettingOutOfRange(setting: "noise", value: "of shape [\(n), 2, 64]", expected: "[\(n), 3, 64]: samples, draws, features"))
        var noise = Tensor<Double>.zeros([n, 2, 64])
        noise.withUnsafeMutableBufferPointer { $0[5] = .nan }
        #expect(error(MaxSensitivity<Double>(samples: 2, noise: noise))
                == .metricSettingOutOfRange(setting: "noise", value: "with 1 NaN or infinite values", expected: "finite numbers"))
    }

    /// `certify: nil` decides by cost: on when passes-per-draw · samples reach D.
    @Test func theCertificateIsUsedWhereTheDrawsPassesReachD() {
        #expect(NoiseDraws<Double>(samples: 10).certifies(passesPerDraw: 1, features: 10))
        #expect(!NoiseDraws<Double>(samples: 10).certifies(passesPerDraw: 1, features: 11))
        #expect(NoiseDraws<Double>(samples: 10).certifies(passesPerDraw: 2, features: 20))
        #expect(!NoiseDraws<Double>(samples: 10, certify: false).certifies(passesPerDraw: 2, features: 1))
        #expect(NoiseDraws<Double>(samples: 1, certify: true).certifies(passesPerDraw: 1, features: 784))
    }
}

/// The noisy-background robustness score against cases with a known answer.
@Suite struct NoisyBackgroundRobustnessTests {
    /// With σ = 0 the object-only protocol sets the background to 0, so gradient × input is zero
    /// off the object: its whole magnitude is on the object (share 1, exactly). The gradient's
    /// share is Σ_O |g| / Σ |g| at the masked image, computed here from the mask directly.
    @Test func shareOnTheObject() throws {
        var generator = SeededGenerator(seed: 3)
        let stack = try LayerStack<Double>(architecture: "conv3k3,relu,maxpool2,flatten,dense4", inputShape: [1, 8, 8], using: &generator)
        // Images in [0, 1] with a bright 4×4 object in the middle and a dim background (≤ 0.2).
        var images = Tensor<Double>.randomUniform([3, 1, 8, 8], in: 0 ..< 0.2, using: &generator)
        images.withUnsafeMutableBufferPointer { x in
            for i in 0 ..< 3 { for r in 2 ..< 6 { for c in 2 ..< 6 { x[i * 64 + r * 8 + c] = 0.5 + 0.1 * Double(r + c) / 10 } } }
        }
        let settings = NoisyBackgroundSettings(sigma: 0, threshold: 0.3)
        let metric = NoisyBackgroundRobustness<Double>(.objectOnly, settings: settings)
        let targets = [0, 1, 2]
        let gx = try metric.scores(stack, method: GradientTimesInput(), inputs: images, targets: targets, attributions: images)
        for v in gx.values { #expect(v == 1 || v == 0) }
        let g = try metric.scores(stack, method: Gradient(), inputs: images, targets: targets, attributions: images)
        var masked = images
        masked.withUnsafeMutableBufferPointer { x in
            for i in 0 ..< 3 { for j in 0 ..< 64 where !(2 ..< 6).contains(j / 8) || !(2 ..< 6).contains(j % 8) { x[i * 64 + j] = 0 } }
        }
        let gradients = try Gradient<Double>().attributions(stack, inputs: masked, targets: targets)
        for i in 0 ..< 3 {
            let row = gradients.row(i).scalars
            let total = row.map(abs).reduce(0, +)
            let onObject = row.enumerated().filter { (2 ..< 6).contains($0.offset / 8) && (2 ..< 6).contains($0.offset % 8) }.map { abs($0.element) }.reduce(0, +)
            #expect(abs(g.values[i] - (total > 0 ? onObject / total : 0)) <= 1e-12)
        }
    }
}

/// Isometry's own draws and orders: what the cross-check's given draws replace.
@Suite struct AttributionMetricDraws {
    /// Subsets hold distinct features in range, and a seed gives the same subsets (so the same
    /// scores) again; another seed other ones.
    @Test func faithfulnessSubsetsAreDistinctAndSeeded() {
        let metric = FaithfulnessCorrelation<Double>(runs: 30, subsetSize: 7, seed: 4)
        let subsets = metric.draw(samples: 3, features: 20)
        #expect(subsets.count == 30 && subsets.allSatisfy { $0.count == 3 })
        for run in subsets { for subset in run {
            #expect(subset.count == 7 && Set(subset).count == 7 && subset.allSatisfy { (0 ..< 20).contains($0) })
        } }
        #expect(metric.draw(samples: 3, features: 20) == subsets)
        var other = metric
        other.seed = 5
        #expect(other.draw(samples: 3, features: 20) != subsets)
        // Every feature is drawn about equally often: 30 · 3 · 7 / 20 = 31.5 times each, and a
        // count below 10 or above 60 would be a >4σ event for a uniform draw (σ ≈ 5.3).
        var counts = [Int](repeating: 0, count: 20)
        for run in subsets { for subset in run { for j in subset { counts[j] += 1 } } }
        #expect(counts.allSatisfy { (10 ... 60).contains($0) }, "\(counts)")
    }

    /// Ties are broken by feature index, the largest attribution first.
    @Test func featureOrderIsStableAndDescending() {
        let a: [Double] = [0, 2, -1, 2, 0, 5]
        #expect(a.withUnsafeBufferPointer { featureOrder($0) } == [5, 1, 3, 0, 4, 2])
    }
}
