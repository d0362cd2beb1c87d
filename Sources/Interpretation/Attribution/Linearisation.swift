import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// The exact linearisation's share of each input, W(x)_t ⊙ x (Li et al. 2023; docs/theory.md
/// §4): on the activation region of x the target is F_t(x) = W(x)_t·x + b_t(x) exactly, so the
/// map adds up to F_t(x) − b_t(x) and the bias share b_t(x) — no input owns it — is the rest.
///
/// On a piecewise-linear stack the map equals ``GradientTimesInput``'s (Captum's
/// `InputXGradient`); what the linearisation adds is the bias share and its split by layer,
/// reachable through ``decomposition(_:inputs:targets:)``. Computed by ``StackLinearisation``
/// restricted to the target units: the samples of each target are linearised together, one
/// backward row each, so a batch costs at most one batched pass per class.
public struct Linearisation<Scalar: BLASScalar>: AttributionMethod {
    public var name: String { "linearisation" }
    public init() {}

    public func attributions(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, targets: [Int]) throws(InterpretationError) -> Tensor<Scalar> {
        try decomposition(stack, inputs: inputs, targets: targets).attributions
    }

    /// The map W(x)_t ⊙ x with the target's bias share b_t(x), its per-layer shares and F_t(x).
    /// Throws as ``StackLinearisation/init(_:inputs:units:)`` does.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func decomposition(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, targets: [Int]) throws(InterpretationError) -> LinearDecomposition<Scalar> {
        try stack.checkInterpretable()
        let batch = try stack.checkedInputs(inputs)
        let count = batch.shape[0], width = stack.inputShape.reduce(1, *), layers = stack.layerCount
        try stack.checkTargets(targets, count: count)
        let units = stack.scoreUnits
        var maps = Tensor<Scalar>.zeros([count, width])
        var shares = [Double](repeating: 0, count: count)
        var layerShares = [[Double]](repeating: [Double](repeating: 0, count: count), count: layers)
        var outputs = [Double](repeating: 0, count: count)
        var worst = 0.0
        // One linearisation per target value, over the samples that ask for it.
        for target in Set(targets).sorted() {
            let samples = targets.indices.filter { targets[$0] == target }
            let unit = units.lowerBound + target
            let linear = StackLinearisation(checked: stack, inputs: batch.gathering(samples), units: unit ..< unit + 1)
            worst = max(worst, linear.completenessError)
            maps.withUnsafeMutableBufferPointer { m in
                linear.weights.withUnsafeBufferPointer { w in
                    batch.withUnsafeBufferPointer { x in
                        for (row, i) in samples.enumerated() {
                            for j in 0 ..< width { m[i * width + j] = w[row * width + j] * x[i * width + j] }
                        }
                    }
                }
            }
            for (row, i) in samples.enumerated() {
                shares[i] = Double(linear.biases[row, 0])
                outputs[i] = Double(linear.outputs[row, 0])
                for l in 0 ..< layers { layerShares[l][i] = Double(linear.layerBiasShares[l, row, 0]) }
            }
        }
        return LinearDecomposition(attributions: maps.reshaped(inputs.shape), biasShares: shares, layerBiasShares: layerShares,
                                   outputs: outputs, completenessError: worst)
    }
}

/// A target's exact decomposition F_t(x) = Σ_j (W(x)_t ⊙ x)_j + b_t(x) for every sample of a batch.
public struct LinearDecomposition<Scalar: BLASScalar>: Sendable {
    /// W(x)_t ⊙ x, of the inputs' shape.
    public var attributions: Tensor<Scalar>
    /// b_t(x) per sample: the share of the target no input owns.
    public var biasShares: [Double]
    /// [layers][samples]: layer l's share of b_t(x) (its bias or its activation's constants
    /// carried to the output; ``StackLinearisation/layerBiasShares``).
    public var layerBiasShares: [[Double]]
    /// F_t(x) per sample, from the forward pass.
    public var outputs: [Double]
    /// max |Σ W(x)_t x + b_t(x) − F_t(x)| / max(1, |F_t(x)|): rounding only.
    public var completenessError: Double
}

extension Tensor {
    /// Rows `indices` of a batch `[count] + shape`, in that order.
    func gathering(_ indices: [Int]) -> Tensor<Scalar> {
        let width = count / Swift.max(shape[0], 1)
        var result = Tensor<Scalar>.zeros([indices.count] + shape.dropFirst())
        result.withUnsafeMutableBufferPointer { r in
            withUnsafeBufferPointer { s in
                for (row, i) in indices.enumerated() {
                    (r.baseAddress! + row * width).update(from: s.baseAddress! + i * width, count: width)
                }
            }
        }
        return result
    }
}
