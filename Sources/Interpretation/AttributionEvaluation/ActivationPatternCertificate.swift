import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// A radius around an input x within which a piecewise-linear `LayerStack` keeps x's
/// activation pattern, so that F(x + δ) = F(x) + W(x) δ exactly (docs/theory.md §3, "The
/// pattern's certified radius").
///
/// With every unit's state frozen at x, unit i computes ŵ_i·y + b̂_i, and it switches only where
/// that crosses one of its kinks t_i (0 for ReLU and leaky ReLU, ±1 for hard-tanh); a max pool
/// changes its winner w only where h_w − h_j changes sign for another tap j of its window. The
/// radius is the smallest of |h_i − t_i| / ‖ŵ_i‖ and (h_w − h_j) / ‖ŵ_w − ŵ_j‖ over every unit
/// and window of the stack: along the segment from x to x + δ with ‖δ‖₂ below it, the first
/// unit to switch would have to cross its hyperplane while every unit before it still had x's
/// state, that is along the frozen projection — which it cannot reach. A unit or pair whose
/// gradient is zero never switches (its value is constant while the layers below keep their
/// state). The radius is exact for the frozen projections, not a Lipschitz bound.
///
/// ```swift
/// let certificate = try ActivationPatternCertificate(stack, at: x)
/// if certificate.certifies(perturbed) { print(certificate.outputs(at: perturbed)) }   // no forward pass
/// ```
///
/// Computing it takes one forward pass and forward-mode products with the D basis vectors of
/// the input (in chunks within ``StackLinearisation/workingBytes``): the cost of about D more
/// samples' forward passes, which pays when many perturbations of x are small.
public struct ActivationPatternCertificate<Scalar: BLASScalar>: Sendable {
    /// x, flattened `[D]`.
    public let input: Tensor<Scalar>
    /// F(x), flattened `[outputs]`.
    public let output: Tensor<Scalar>
    /// W(x) = ∂F/∂x, `[outputs, D]`.
    public let weights: Tensor<Scalar>
    /// The distance within which the pattern is x's (+∞ for a stack with no switching unit).
    public let radius: Double

    /// A relative margin kept below the radius: distances and ‖δ‖ carry rounding errors of a
    /// few ulps each (of `Scalar`: the pre-activations and tangents are `Scalar` sums), and a
    /// perturbation that close to a hyperplane is left to the forward pass. 1e-9 in Double,
    /// 1,000 ulps (1.2e-4) in Float.
    public static var margin: Double { max(1e-9, 1000 * Double(Scalar.ulpOfOne)) }

    /// The certificate at `x` (shape `inputShape` or flattened). Throws when the stack has no
    /// exact linearisation (a smooth or unknown layer, NaN weights) or x does not fit it.
    public init(_ stack: LayerStack<Scalar>, at x: Tensor<Scalar>) throws(InterpretationError) {
        try stack.checkInterpretable()
        let d = stack.inputShape.reduce(1, *)
        let batch = try stack.checkedInputs(x.reshaped([1] + (x.count == d ? [d] : x.shape)))
        let forward = stack.makeWorkspace(batchSize: 1)
        stack.forward(batch, in: forward)
        let o = stack.outputShape.reduce(1, *)
        input = batch.reshaped([d])
        output = forward.output.reshaped([o])

        // Per switching layer: ‖ŵ_i‖² of every unit (activations), or ‖ŵ_w − ŵ_j‖² of every
        // tap j of every window (max pools), summed over the chunks of basis vectors.
        let switching = stack.layers.indices.filter { stack.layers[$0] is ActivationLayer<Scalar> || stack.layers[$0] is MaxPool<Scalar> }
        let windows: [Int: PoolWindows] = Dictionary(uniqueKeysWithValues: switching.compactMap { l in
            (stack.layers[l] as? MaxPool<Scalar>).map { (l, PoolWindows($0, input: stack.shapes[l], winners: forward.patterns[l])) }
        })
        var squares: [Int: [Double]] = [:]
        for l in switching {
            squares[l] = [Double](repeating: 0, count: windows[l].map { $0.taps.count } ?? stack.shapes[l].reduce(1, *))
        }
        var w = Tensor<Scalar>.zeros([o, d])
        let perTangent = Double(stack.shapes.reduce(0) { $0 + $1.reduce(1, *) } * MemoryLayout<Scalar>.size) * 2
        let chunk = max(1, min(d, Int(StackLinearisation<Scalar>.workingBytes / perTangent)))
        var workspace: LayerStackWorkspace<Scalar>?
        for start in stride(from: 0, to: d, by: chunk) {
            let count = min(chunk, d - start)
            if workspace?.tangentCount != count {
                workspace = stack.makeWorkspace(batchSize: 1, tangentCount: count)
                stack.forward(batch, in: workspace!)
            }
            var basis = Tensor<Scalar>.zeros([count] + stack.inputShape)
            basis.withUnsafeMutableBufferPointer { e in
                for k in 0 ..< count { e[k * d + start + k] = 1 }
            }
            stack.jvp(basis, in: workspace!)
            for l in switching {
                let tangents = workspace!.tangents[l], units = stack.shapes[l].reduce(1, *)
                tangents.withUnsafeBufferPointer { t in
                    squares[l]!.withUnsafeMutableBufferPointer { s in
                        if let pool = windows[l] {
                            for (n, tap) in pool.taps.enumerated() {
                                var sum = 0.0
                                for k in 0 ..< count {
                                    let diff = Double(t[k * units + tap.winner]) - Double(t[k * units + tap.other])
                                    sum += diff * diff
                                }
                                s[n] += sum
                            }
                        } else {
                            for k in 0 ..< count {
                                for i in 0 ..< units { s[i] += Double(t[k * units + i]) * Double(t[k * units + i]) }
                            }
                        }
                    }
                }
            }
            // The output's tangents are W(x)'s columns start ..< start + count.
            let columns = workspace!.tangentOutput
            columns.withUnsafeBufferPointer { c in
                w.withUnsafeMutableBufferPointer { w in
                    for k in 0 ..< count {
                        for r in 0 ..< o { w[r * d + start + k] = c[k * o + r] }
                    }
                }
            }
        }
        weights = w

        var radius = Double.infinity
        for l in switching {
            let values = forward.activations[l], s = squares[l]!
            values.withUnsafeBufferPointer { h in
                if let pool = windows[l] {
                    for (n, tap) in pool.taps.enumerated() where s[n] > 0 {
                        radius = min(radius, (Double(h[tap.winner]) - Double(h[tap.other])) / s[n].squareRoot())
                    }
                } else if let activation = stack.layers[l] as? ActivationLayer<Scalar> {
                    let kinks: [Double] = switch activation.function {
                    case .relu, .leakyReLU: [0]
                    case .hardTanh: [-1, 1]
                    default: []   // identity (checkInterpretable refused the smooth ones)
                    }
                    for i in 0 ..< h.count where s[i] > 0 {
                        for t in kinks { radius = min(radius, abs(Double(h[i]) - t) / s[i].squareRoot()) }
                    }
                }
            }
        }
        self.radius = radius
    }

    /// Whether x + δ = `perturbed` (shape `inputShape` or flattened) lies within the radius
    /// (less the ``margin``).
    public func certifies(_ perturbed: Tensor<Scalar>) -> Bool {
        require(perturbed.count == input.count, "ActivationPatternCertificate: \(perturbed.count) values for an input of \(input.count)")
        return perturbed.withUnsafeBufferPointer { distance(from: $0) < radius * (1 - Self.margin) }
    }

    /// ‖y − x‖₂ of a flattened y.
    func distance(from y: UnsafeBufferPointer<Scalar>) -> Double {
        input.withUnsafeBufferPointer { x in
            var sum = 0.0
            for j in 0 ..< x.count {
                let diff = Double(y[j]) - Double(x[j])
                sum += diff * diff
            }
            return sum.squareRoot()
        }
    }

    /// F(x) + W(x)(y − x), flattened `[outputs]`: the network's output at any certified y.
    public func outputs(at perturbed: Tensor<Scalar>) -> Tensor<Scalar> {
        require(perturbed.count == input.count, "ActivationPatternCertificate: \(perturbed.count) values for an input of \(input.count)")
        var result = output
        perturbed.withUnsafeBufferPointer { y in
            result.withUnsafeMutableBufferPointer { addProduct(at: y, into: $0) }
        }
        return result
    }

    /// out ← F(x) + W(x)(y − x), written into `out` (no allocation).
    func addProduct(at y: UnsafeBufferPointer<Scalar>, into out: UnsafeMutableBufferPointer<Scalar>) {
        let d = input.count, o = output.count
        input.withUnsafeBufferPointer { x in
            weights.withUnsafeBufferPointer { w in
                output.withUnsafeBufferPointer { f in
                    for r in 0 ..< o {
                        var sum = Double(f[r])
                        for j in 0 ..< d { sum += Double(w[r * d + j]) * (Double(y[j]) - Double(x[j])) }
                        out[r] = Scalar(sum)
                    }
                }
            }
        }
    }
}

/// The (winner, other tap) pairs of every window of a max pool at one input, as flat indices
/// into the pool's input `[C] + size`: what can change a winner.
struct PoolWindows {
    struct Tap { var winner: Int; var other: Int }
    var taps: [Tap] = []

    init<Scalar: BLASScalar>(_ pool: MaxPool<Scalar>, input shape: [Int], winners: Tensor<Scalar>) {
        // [C, L] is a plane of height 1, as the pooling kernels read it.
        let channels = shape[0], (h, w) = shape.count == 3 ? (shape[1], shape[2]) : (1, shape[1])
        // The window's geometry as its description states it (what PyTorch's module holds).
        func list(_ key: String, _ pad: Int) -> [Int] {
            guard case .ints(let value) = pool.layerDescription.attributes[key] else { preconditionFailure("MaxPool without \(key)") }
            return value.count == 2 ? value : [pad] + value
        }
        let kernel = list("kernel", 1), stride = list("stride", 1), padding = list("padding", 0)
        let oh = (h + 2 * padding[0] - kernel[0]) / stride[0] + 1, ow = (w + 2 * padding[1] - kernel[1]) / stride[1] + 1
        winners.withUnsafeBufferPointer { win in
            for c in 0 ..< channels {
                for oy in 0 ..< oh {
                    for ox in 0 ..< ow {
                        let at = Int(win[(c * oh + oy) * ow + ox])
                        guard at >= 0 else { continue }
                        for i in 0 ..< kernel[0] {
                            let iy = oy * stride[0] - padding[0] + i
                            guard iy >= 0 && iy < h else { continue }
                            for j in 0 ..< kernel[1] {
                                let ix = ox * stride[1] - padding[1] + j
                                guard ix >= 0 && ix < w, iy * w + ix != at else { continue }
                                taps.append(Tap(winner: c * h * w + at, other: c * h * w + iy * w + ix))
                            }
                        }
                    }
                }
            }
        }
    }
}
