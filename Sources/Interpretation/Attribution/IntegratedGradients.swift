import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// Integrated Gradients (Sundararajan et al. 2017; Captum's `IntegratedGradients`):
/// (x − x̄) ⊙ Σ_k w_k ∂F_t/∂x(x̄ + α_k (x − x̄)), the path integral of the gradient from the
/// baseline x̄ to x by the quadrature ``IntegrationRule`` with `steps` nodes — Captum's
/// `n_steps`, `baselines` and `method`, with its nodes and weights.
///
/// On a piecewise-linear stack the integrand is piecewise constant along the path, so the rule
/// converges as the path's crossings of region boundaries are resolved; the completeness
/// residual |Σ a − (F_t(x) − F_t(x̄))| (``CompletenessResidual``) shrinks with the steps
/// rather than vanishing, unlike ``Linearisation``, which is exact but against b_t(x).
///
/// Every step of many samples goes through the stack at once: the interpolated inputs of
/// consecutive samples are stacked into batches of at least `steps` rows (a whole sample's
/// path), written into one reused workspace.
public struct IntegratedGradients<Scalar: BLASScalar>: AttributionMethod {
    public var name: String { "integrated-gradients" }
    public var summary: String { "\(name) (\(steps) steps, \(rule.rawValue), \(baselineSummary(baseline)))" }
    public var steps: Int
    /// x̄: one baseline of the per-sample shape (or flattened) shared by every sample, a batch
    /// of the inputs' shape (one per sample), or nil for zero.
    public var baseline: Tensor<Scalar>?
    public var rule: IntegrationRule
    /// Rows per batch (interpolated inputs of several samples together).
    public var batchRows: Int

    /// Captum's defaults: 50 steps, Gauss–Legendre, the zero baseline.
    public init(steps: Int = 50, baseline: Tensor<Scalar>? = nil, rule: IntegrationRule = .gaussLegendre, batchRows: Int = 512) {
        self.steps = steps
        self.baseline = baseline
        self.rule = rule
        self.batchRows = batchRows
    }

    // Specialised: the loops over generated rows run per element, which unspecialised generic
    // code does through witness calls (perf on the CNN: a third of IG's time before).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func attributions(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, targets: [Int]) throws(InterpretationError) -> Tensor<Scalar> {
        try checkSettings()
        let batch = try stack.checkedInputs(inputs)
        let count = batch.shape[0], width = stack.inputShape.reduce(1, *)
        try stack.checkTargets(targets, count: count)
        let units = stack.scoreUnits
        let base = try stack.checkedBaseline(baseline, count: count, method: name)
        let (alphas, weights) = rule.nodes(steps: steps)
        let engine = GeneratedBatches(stack, rows: max(batchRows, steps), minimum: steps)
        // Whole paths per batch: a sample's steps never straddle two batches.
        let perBatch = max(1, engine.rows / steps)
        var totals = Tensor<Scalar>.zeros([count, width])
        batch.withUnsafeBufferPointer { x in
            base.values.withUnsafeBufferPointer { b in
                totals.withUnsafeMutableBufferPointer { total in
                    for first in stride(from: 0, to: count, by: perBatch) {
                        let samples = first ..< min(first + perBatch, count)
                        engine.gradients(samples.count * steps, fill: { rows in
                            for (s, i) in samples.enumerated() {
                                let xi = x.baseAddress! + i * width, bi = b.baseAddress! + (base.perSample ? i * width : 0)
                                for k in 0 ..< steps {
                                    let row = rows.baseAddress! + (s * steps + k) * width
                                    let alpha = Scalar(alphas[k])
                                    // Captum's order of operations: x̄ + α (x − x̄).
                                    for j in 0 ..< width { row[j] = bi[j] + alpha * (xi[j] - bi[j]) }
                                }
                            }
                        }, unit: { r in units.lowerBound + targets[samples.lowerBound + r / steps] }, read: { g in
                            for (s, i) in samples.enumerated() {
                                let sum = total.baseAddress! + i * width
                                for k in 0 ..< steps {
                                    let row = g.baseAddress! + (s * steps + k) * width
                                    let w = Scalar(weights[k])
                                    for j in 0 ..< width { sum[j] += w * row[j] }
                                }
                            }
                        })
                    }
                    for i in 0 ..< count {
                        let bi = b.baseAddress! + (base.perSample ? i * width : 0)
                        for j in 0 ..< width { total[i * width + j] *= x[i * width + j] - bi[j] }
                    }
                }
            }
        }
        return totals.reshaped(inputs.shape)
    }
}

extension IntegratedGradients {
    /// The settings that need no stack: enough steps for the rule, at least one row a batch
    /// (checked here for the registry and again when the method runs).
    func checkSettings() throws(InterpretationError) {
        guard steps >= rule.minimumSteps else {
            throw .invalidAttributionSetting(method: name, setting: "steps", value: "\(steps)", requirement: "at least \(rule.minimumSteps) for \(rule.rawValue)")
        }
        guard batchRows >= 1 else {
            throw .invalidAttributionSetting(method: name, setting: "batch rows", value: "\(batchRows)", requirement: "at least 1")
        }
    }
}

extension LayerStack {
    /// A method's baseline as flattened values: zeros when nil, one of the per-sample shape (or
    /// flattened) shared by all `count` samples, or a batch of `count` (per sample). Throws
    /// ``InterpretationError/invalidAttributionSetting(method:setting:value:requirement:)``
    /// naming the baseline's shape and the accepted ones for any other shape, and its count
    /// of NaN or infinite values for those.
    func checkedBaseline(_ baseline: Tensor<Scalar>?, count: Int, method: String) throws(InterpretationError) -> (values: Tensor<Scalar>, perSample: Bool) {
        let width = inputShape.reduce(1, *)
        guard let baseline else { return (.zeros([width]), false) }
        let shared = baseline.shape == inputShape || baseline.shape == [width] || baseline.shape == [1] + inputShape || baseline.shape == [1, width]
        let perSample = count > 1 && (baseline.shape == [count] + inputShape || baseline.shape == [count, width])
        guard shared || perSample else {
            let batch = count > 1 ? ", or \([count] + inputShape) or \([count, width]) (one per sample)" : ""
            throw .invalidAttributionSetting(method: method, setting: "baseline", value: "of shape \(baseline.shape)",
                                             requirement: "of shape \(inputShape) or \([width]) (shared)\(batch)")
        }
        let bad = baseline.nonFiniteCount
        if bad > 0 { throw .invalidAttributionSetting(method: method, setting: "baseline", value: "with \(bad) NaN or infinite values", requirement: "finite") }
        return (baseline.reshaped([baseline.count]), perSample)
    }
}
