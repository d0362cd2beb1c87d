import Foundation
import Networks
import Testing
import TensorAlgebra
@testable import Interpretation

/// The attribution methods and metrics against exact identities of piecewise-linear stacks
/// (docs/theory.md §4): the gradient is the target's row of W(x), formed densely by
/// `LayerStack.linearization(at:)` (independent: forward-mode products on basis vectors), and
/// gradient × input adds up to F_t(x) − b_t(x). Float64 throughout: the only error is rounding,
/// so 1e-12 relative to the largest entry is a generous margin for products of this depth.
@Suite struct AttributionTests {
    let stack: LayerStack<Double>
    let inputs: Tensor<Double>
    let targets = [0, 2, 1, 2, 0]

    init() throws {
        var generator = SeededGenerator(seed: 24)
        stack = try LayerStack<Double>(architecture: "conv3k3p1,relu,maxpool2,conv4k3,hard-tanh,flatten,dense3", inputShape: [1, 6, 6], using: &generator)
        inputs = .randomNormal([5, 1, 6, 6], using: &generator)
    }

    @Test func gradientIsTheTargetsRowOfTheLinearisation() throws {
        let gradients = try Gradient<Double>().attributions(stack, inputs: inputs, targets: targets)
        #expect(gradients.shape == inputs.shape)
        let times = try GradientTimesInput<Double>().attributions(stack, inputs: inputs, targets: targets)
        for i in 0 ..< 5 {
            let x = inputs.row(i)
            let (w, b) = stack.linearization(at: x)
            let row = (0 ..< 36).map { w[targets[i], $0] }
            let g = gradients.row(i).scalars, gx = times.row(i).scalars
            let scale = row.map(abs).max()!
            for j in 0 ..< 36 {
                #expect(abs(g[j] - row[j]) <= 1e-12 * scale)
                #expect(abs(gx[j] - row[j] * x.scalars[j]) <= 1e-12 * scale)
            }
            // Σ gradient × input = F_t(x) − b_t(x).
            let f = stack(x).scalars[targets[i]]
            #expect(abs(gx.reduce(0, +) - (f - b.scalars[targets[i]])) <= 1e-12 * max(1, abs(f)))
        }
    }

    @Test func completenessResidualOfGradientTimesInputIsTheInterceptsGap() throws {
        let method = GradientTimesInput<Double>()
        let maps = try method.attributions(stack, inputs: inputs, targets: targets)
        let residual = try CompletenessResidual<Double>().scores(stack, method: method, inputs: inputs, targets: targets, attributions: maps)
        let zero = stack(Tensor<Double>.zeros([1, 6, 6])).scalars
        for i in 0 ..< 5 {
            let b = stack.linearization(at: inputs.row(i)).bias.scalars[targets[i]]
            #expect(abs(residual.values[i] - abs(b - zero[targets[i]])) <= 1e-12 * max(1, abs(b)))
        }
    }

    @Test func aBaselineOfAnotherShapeThrows() throws {
        let maps = try Gradient<Double>().attributions(stack, inputs: inputs, targets: targets)
        #expect(throws: InterpretationError.invalidAttributionSetting(
            method: "completeness-residual", setting: "baseline", value: "of shape [5]",
            requirement: "of shape [1, 6, 6] or [36] (shared), or [5, 1, 6, 6] or [5, 36] (one per sample)")) {
            try CompletenessResidual<Double>(baseline: .zeros([5])).scores(stack, method: Gradient(), inputs: inputs, targets: targets, attributions: maps)
        }
    }
}
