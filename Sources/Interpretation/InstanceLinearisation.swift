import Dispatch
import Foundation
import Networks
import TensorAlgebra

/// The logits of a piecewise-linear network as an exact linear map of its input, instance by
/// instance (Li et al.; docs/theory.md §4): F(x) = W(x)·x + b(x).
///
/// With φ(h) = D h + s on the region of x (hard-tanh: D = 1 inside (−1, 1), s = ±1 when
/// saturated; ReLU: D = [h > 0], s = 0), the backward rows R_L = W^L[class rows], β = b^L,
/// and for l = L−1 … 1: β += R (D_l b^l + s_l), R ← (R D_l) W^l give W(x) = R and b(x) = β.
/// A batch stacks the C rows of every instance, so each layer is one GEMM of
/// [B·C, N]·[N, N]: C·N² per instance and layer instead of N³.
public struct InstanceLinearisation<Scalar: BLASScalar>: Sendable {
    /// [count, C, N]: W(x) row by row (the last C input coordinates are the zero class dimensions).
    public var weights: Tensor<Scalar>
    /// [count, C]: b(x), the share of each logit that no feature owns.
    public var biases: Tensor<Scalar>
    /// [count, C]: the logits of the forward pass.
    public var logits: Tensor<Scalar>
    /// max |W(x)x + b(x) − F(x)| / max(1, |F(x)|) over the batch.
    public var completenessError: Double

    /// Linearises the logits at every row of `inputs` ([count, N], class columns zero).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public init(_ classifier: IdentityClassifier<Scalar>, inputs: Tensor<Scalar>) {
        let activation = classifier.activation
        precondition(activation == .hardTanh || activation == .relu, "InstanceLinearisation: \(activation.rawValue) is not supported; the map is exact for hard-tanh and ReLU")
        let (count, n, c, d, layers) = (inputs.shape[0], classifier.width, classifier.classes, classifier.inputFeatures, classifier.layers)
        let network = classifier.network
        // Forward pass, keeping every pre-activation.
        var hs: [Tensor<Scalar>] = []
        var x = inputs
        for l in 0 ..< layers {
            var h = matmul(x, network.weights[l], transposeB: true)
            if let b = network.biases[l] { h += b }
            hs.append(h)
            x = h.map { activation($0) }
        }
        // R: [count·C, N], starting as the class rows of W^L for every instance.
        var rows = Tensor<Scalar>.zeros([count * c, n])
        var beta = Tensor<Scalar>.zeros([count, c])
        let last = network.weights[layers - 1]
        rows.withUnsafeMutableBufferPointer { r in
            last.withUnsafeBufferPointer { w in
                for i in 0 ..< count { (r.baseAddress! + i * c * n).update(from: w.baseAddress! + d * n, count: c * n) }
            }
        }
        if let b = network.biases[layers - 1] {
            beta.withUnsafeMutableBufferPointer { e in
                for i in 0 ..< count { for k in 0 ..< c { e[i * c + k] = b[d + k] } }
            }
        }
        var next = Tensor<Scalar>.zeros([count * c, n])
        for l in stride(from: layers - 2, through: 0, by: -1) {
            let bias = network.biases[l]?.scalars
            let h = hs[l]
            // β += R (D b + s), then R ← R D (column scaling per instance), then R ← R·W^l.
            h.withUnsafeBufferPointer { he in
                beta.withUnsafeMutableBufferPointer { be in
                    rows.withUnsafeMutableBufferPointer { r in
                        let hardTanh = activation == .hardTanh
                        for i in 0 ..< count {
                            for j in 0 ..< n {
                                let v = he[i * n + j]
                                let active = hardTanh ? abs(v) < 1 : v > 0
                                let shift: Scalar = active ? (bias?[j] ?? 0) : (hardTanh ? (v > 0 ? 1 : -1) : 0)
                                if active && shift == 0 { continue }
                                for k in 0 ..< c {
                                    let index = (i * c + k) * n + j
                                    be[i * c + k] += r[index] * shift
                                    if !active { r[index] = 0 }
                                }
                            }
                        }
                    }
                }
            }
            matmul(rows, network.weights[l], into: &next)
            swap(&rows, &next)
        }
        weights = rows.reshaped(count, c, n)
        biases = beta
        // Logits, and the completeness check W(x)x + b(x) = F(x).
        var logits = Tensor<Scalar>.zeros([count, c])
        var worst = 0.0
        let lastH = hs[layers - 1]
        lastH.withUnsafeBufferPointer { he in
            logits.withUnsafeMutableBufferPointer { le in
                rows.withUnsafeBufferPointer { r in
                    inputs.withUnsafeBufferPointer { xe in
                        beta.withUnsafeBufferPointer { be in
                            for i in 0 ..< count {
                                for k in 0 ..< c {
                                    let f = he[i * n + d + k]
                                    le[i * c + k] = f
                                    var total = Double(be[i * c + k])
                                    for j in 0 ..< n { total += Double(r[(i * c + k) * n + j]) * Double(xe[i * n + j]) }
                                    worst = max(worst, abs(total - Double(f)) / max(1, abs(Double(f))))
                                }
                            }
                        }
                    }
                }
            }
        }
        self.logits = logits
        completenessError = worst
    }

    /// W(x)_c ⊙ x over the D features of instance `i`: each pixel's exact share of logit c.
    public func attribution(instance i: Int, class k: Int, input: [Scalar]) -> [Double] {
        let (c, n) = (weights.shape[1], weights.shape[2])
        return weights.withUnsafeBufferPointer { e in
            input.indices.map { j in Double(e[(i * c + k) * n + j]) * Double(input[j]) }
        }
    }
}
