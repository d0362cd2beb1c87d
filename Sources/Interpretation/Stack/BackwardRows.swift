import IsometrySupport
import Networks
import TensorAlgebra

/// Rows of a piecewise-linear stack's Jacobian carried backward from one layer's output to the
/// input, and the intercepts they collect on the way: the one engine of ``StackLinearisation``
/// (rows = the chosen outputs of every instance) and of ``SwitchedLinearProjections``'s unit
/// projections (rows = chosen units of one layer at one input).
///
/// Every instance owns `perInstance` consecutive rows. At layer l the rows R (over layer l's
/// output) become Rᵀ's image under the layer's vjp at the pattern its forward pass kept
/// (never an unrolled matrix of a convolution), and the layer's intercept goes into its bias
/// share: dense and convolution R·b (a convolution's bias counted at every position of its
/// channel), an activation R·s with s = φ(h) − P ⊙ h (±1 for a saturated hard-tanh unit, 0
/// otherwise), nothing for pools and flatten (linear at fixed winners).
///
/// A max pool is the one layer whose vjp the rows do not call: its winners are per instance and
/// the rows are `perInstance` per instance, so the pool's own vjp would need its pattern copied
/// for every row. The rows are routed onto the winners here instead, through the activation
/// below the pool in the same pass (its slopes and constants read at the winners only), and the
/// bias share of the convolution below that taken on the way: on a ReLU CNN this replaces four
/// passes over the largest layers by one over the pooled ones.
///
/// Buffers are allocated once per instance count and reused (``run(_:from:)`` writes into them).
final class BackwardRows<Scalar: BLASScalar> {
    let stack: LayerStack<Scalar>
    let instances: Int
    let perInstance: Int
    /// The highest layer whose output rows can start from.
    let top: Int
    /// rows[l]: rows over layer l's input (`[n] + shapes[l]`, n = instances·perInstance);
    /// rows[top + 1] is where the caller writes the starting rows.
    var rows: [Tensor<Scalar>]
    /// shares[l]: layer l's bias share of every row, `[n]`.
    var shares: [Tensor<Scalar>]
    var scratch: [Tensor<Scalar>]

    var rowCount: Int { instances * perInstance }

    init(_ stack: LayerStack<Scalar>, instances: Int, perInstance: Int, top: Int) {
        require(instances >= 1 && perInstance >= 1 && top >= 0 && top < stack.layerCount,
                "BackwardRows: \(instances) instances of \(perInstance) rows from layer \(top) of \(stack.layerCount)")
        self.stack = stack
        self.instances = instances
        self.perInstance = perInstance
        self.top = top
        let n = instances * perInstance
        rows = (0 ... top + 1).map { Tensor.zeros([n] + stack.shapes[$0]) }
        shares = (0 ... top).map { _ in Tensor.zeros([n]) }
        scratch = (0 ... top).map { stack.layers[$0].scratchShape(forInput: stack.shapes[$0]).map { Tensor.zeros($0) } ?? Tensor.zeros([0]) }
    }

    /// The bytes these buffers take for `rows` rows of a stack carried from layer `top`.
    static func bytes(_ stack: LayerStack<Scalar>, rows: Int, top: Int) -> Double {
        let widths = stack.shapes[0 ... top + 1].reduce(0) { $0 + $1.reduce(1, *) }
        let patterns = (0 ... top).reduce(0) { $0 + (stack.layers[$1].patternShape(forInput: stack.shapes[$1])?.reduce(1, *) ?? 0) }
        return Double(rows) * Double(widths + patterns + top + 1) * Double(MemoryLayout<Scalar>.stride)
    }

    /// Carries the rows written into `rows[top + 1]` down to `rows[0]`, at the patterns of
    /// `workspace`'s last forward pass (`instances` samples, or one sample for all rows),
    /// starting at layer `from` ≤ top (rows above it are ignored: `rows[from + 1]` holds the start).
    func run(_ workspace: LayerStackWorkspace<Scalar>, from start: Int) {
        run(activations: workspace.activations, patterns: workspace.patterns, from: start)
    }

    /// ``run(_:from:)`` at a forward pass's `activations` (`[batch] + shapes[l]`) and `patterns`.
    func run(activations: [Tensor<Scalar>], patterns: [Tensor<Scalar>], from start: Int) {
        require(start >= 0 && start <= top, "BackwardRows.run: start layer \(start) outside 0 ... \(top)")
        let batch = activations[0].shape[0]
        require(batch == instances || batch == 1, "BackwardRows.run: a forward pass of \(batch) samples for \(instances) instances")
        let shared = batch == 1
        // A convolution whose bias share a fused max-pool step below has already written.
        var precomputed: Int?
        var l = start
        while l >= 0 {
            let layer = stack.layers[l]
            let pattern = patterns[l]
            if layer is MaxPool<Scalar> {
                // Routed onto the winners through the activation below it (if any), by the
                // instance's pattern: no copy of the winners per row, and the bias share of the
                // convolution below taken on the way (only winners carry anything).
                let fused = l >= 1 && stack.layers[l - 1] is ActivationLayer<Scalar>
                let target = fused ? l - 1 : l
                let convolution = target - 1
                let bias = convolution >= 0 ? Self.convolutionBias(stack.layers[convolution]) : nil
                precomputed = bias == nil ? nil : convolution
                Self.zero(&shares[l])
                let rowsAbove = rows[l + 1]
                var convolutionShare = Tensor<Scalar>.zeros([0])
                if bias != nil { swap(&convolutionShare, &shares[convolution]) }
                Self.throughMaxPool(rows: rowsAbove, into: &rows[target], winners: pattern, perInstance: shared ? rowCount : perInstance,
                                    activation: fused ? (activations[l - 1], activations[l], patterns[l - 1]) : nil,
                                    activationShare: &shares[target], bias: bias, biasShare: &convolutionShare)
                if bias != nil { swap(&convolutionShare, &shares[convolution]) }
                if !fused { Self.zero(&shares[target]) }
                l = target - 1
                continue
            }
            if let activation = layer as? ActivationLayer<Scalar> {
                _ = activation
                // In place on the rows above, then handed down (same shape): no copy.
                Self.throughActivation(rows: &rows[l + 1], share: &shares[l], perInstance: shared ? rowCount : perInstance,
                                       input: activations[l], output: activations[l + 1], pattern: pattern)
                rows.swapAt(l, l + 1)
                l -= 1
                continue
            }
            if layer is Flatten<Scalar> {
                // The rows already run over the flattened input, in the copy's row-major order.
                rows.swapAt(l, l + 1)
                rows[l] = rows[l].reshaped([rowCount] + stack.shapes[l])
                rows[l + 1] = rows[l + 1].reshaped([rowCount] + stack.shapes[l + 1])
                Self.zero(&shares[l])
                l -= 1
                continue
            }
            if let dense = layer as? Dense<Scalar> {
                if let b = dense.bias { matvec(rows[l + 1], b, into: &shares[l]) } else { Self.zero(&shares[l]) }
            } else if let bias = Self.convolutionBias(layer) {
                if precomputed != l { Self.convolutionShare(rows: rows[l + 1], bias: bias, into: &shares[l]) }
            } else {
                Self.zero(&shares[l])
            }
            // Affine (dense, convolution, average pools): no pattern, the vjp is the same map for every row.
            require(layer.patternShape(forInput: stack.shapes[l]) == nil, "BackwardRows: layer \(l) (\(layer.layerDescription)) has a pattern the rows cannot follow")
            layer.vjp(rows[l + 1], pattern: pattern, scratch: &scratch[l], into: &rows[l])
            l -= 1
        }
    }

    /// The bias of a convolution layer, nil for any other layer or a convolution without one
    /// (read as the parameter named "bias", which every layer publishes).
    static func convolutionBias(_ layer: any Layer<Scalar>) -> Tensor<Scalar>? {
        guard layer is Conv2d<Scalar> || layer is Conv1d<Scalar> else { return nil }
        return zip(layer.parameterNames, layer.parameters).first { $0.0 == "bias" }?.1
    }

    /// A max pool's winner index, stored as a scalar: converted through the concrete type (the
    /// generic `Int(_:)` takes the slow path of `BinaryFloatingPoint` even when specialised).
    @inline(__always)
    static func index(_ value: Scalar) -> Int {
        MemoryLayout<Scalar>.size == 4 ? Int(unsafeBitCast(value, to: Float.self)) : Int(unsafeBitCast(value, to: Double.self))
    }

    /// dx ← the rows routed onto the max pool's winners (`winners`: [instances or 1, C] + output
    /// plane, flat indices within each input plane), through the slopes of the activation below
    /// when given — (h, φ(h), P) of its forward pass —, whose share R·s it collects; with `bias`,
    /// the share Σ_c b_c Σ_positions dx of the convolution below that.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func throughMaxPool(
        rows above: Tensor<Scalar>, into below: inout Tensor<Scalar>, winners: Tensor<Scalar>, perInstance o: Int,
        activation: (input: Tensor<Scalar>, output: Tensor<Scalar>, pattern: Tensor<Scalar>)?,
        activationShare: inout Tensor<Scalar>, bias: Tensor<Scalar>?, biasShare: inout Tensor<Scalar>
    ) {
        let n = above.shape[0], channels = above.shape[1]
        let outPlane = above.count / max(n * channels, 1), inPlane = below.count / max(n * channels, 1)
        let width = channels * inPlane
        let empty = Tensor<Scalar>.zeros([0])
        let (h, y, p) = activation ?? (empty, empty, empty)
        let fused = activation != nil
        below.withUnsafeMutableBufferPointer { dx in
            activationShare.withUnsafeMutableBufferPointer { sa in
                biasShare.withUnsafeMutableBufferPointer { sb in
                    above.withUnsafeBufferPointer { g in
                        winners.withUnsafeBufferPointer { w in
                            h.withUnsafeBufferPointer { h in
                                y.withUnsafeBufferPointer { y in
                                    p.withUnsafeBufferPointer { p in
                                        (bias ?? empty).withUnsafeBufferPointer { b in
                                            dx.update(repeating: 0)
                                            for r in 0 ..< n {
                                                let i = r / o
                                                let row = dx.baseAddress! + r * width
                                                var shareA: Scalar = 0, shareB: Scalar = 0
                                                for c in 0 ..< channels {
                                                    let gc = g.baseAddress! + (r * channels + c) * outPlane
                                                    let wc = w.baseAddress! + (i * channels + c) * outPlane
                                                    var sum: Scalar = 0
                                                    for q in 0 ..< outPlane {
                                                        let value = gc[q]
                                                        let at = index(wc[q])
                                                        if value == 0 || at < 0 { continue }
                                                        let unit = c * inPlane + at
                                                        if fused {
                                                            let slope = p[i * width + unit]
                                                            shareA += value * (y[i * width + unit] - slope * h[i * width + unit])
                                                            row[unit] += value * slope
                                                            sum += value * slope
                                                        } else {
                                                            row[unit] += value
                                                            sum += value
                                                        }
                                                    }
                                                    if !b.isEmpty { shareB += b[c] * sum }
                                                }
                                                if fused { sa[r] = shareA }
                                                if !b.isEmpty { sb[r] = shareB }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    static func zero(_ tensor: inout Tensor<Scalar>) {
        tensor.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    /// share[r] = Σ_c b[c]·Σ_positions R[r, c, positions]: the bias of a convolution is added at
    /// every position of its channel, so its share is the rows' sum over those positions.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func convolutionShare(rows: Tensor<Scalar>, bias: Tensor<Scalar>, into share: inout Tensor<Scalar>) {
        let n = rows.shape[0], channels = bias.count
        let plane = rows.count / max(n * channels, 1)
        rows.withUnsafeBufferPointer { r in
            bias.withUnsafeBufferPointer { b in
                share.withUnsafeMutableBufferPointer { s in
                    for i in 0 ..< n {
                        var total: Scalar = 0
                        for c in 0 ..< channels {
                            var sum: Scalar = 0
                            let row = r.baseAddress! + (i * channels + c) * plane
                            for p in 0 ..< plane { sum += row[p] }
                            total += b[c] * sum
                        }
                        s[i] = total
                    }
                }
            }
        }
    }

    /// share ← R·s and R ← R·diag(P), instance by instance (P and s = φ(h) − P ⊙ h are per
    /// instance, so no GEMM): `perInstance` rows share instance i's pattern.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func throughActivation(rows: inout Tensor<Scalar>, share: inout Tensor<Scalar>, perInstance o: Int,
                                  input: Tensor<Scalar>, output: Tensor<Scalar>, pattern: Tensor<Scalar>) {
        let count = input.shape[0]
        let n = input.count / count
        rows.withUnsafeMutableBufferPointer { r in
            share.withUnsafeMutableBufferPointer { be in
                be.update(repeating: 0)
                input.withUnsafeBufferPointer { h in
                    output.withUnsafeBufferPointer { y in
                        pattern.withUnsafeBufferPointer { p in
                            for i in 0 ..< count {
                                let hi = h.baseAddress! + i * n, yi = y.baseAddress! + i * n, pi = p.baseAddress! + i * n
                                // s = φ(h) − P·h: exactly ±1 for a saturated hard-tanh unit
                                // (P = 0), exactly 0 for every other piece (P·h is φ(h)); a ReLU
                                // instance has no shift at all, and its loop is a plain product.
                                var shifted = false
                                for j in 0 ..< n where yi[j] - pi[j] * hi[j] != 0 { shifted = true; break }
                                for k in 0 ..< o {
                                    let row = r.baseAddress! + (i * o + k) * n
                                    if shifted {
                                        var total: Scalar = 0
                                        for j in 0 ..< n {
                                            let value = row[j]
                                            total += value * (yi[j] - pi[j] * hi[j])
                                            row[j] = value * pi[j]
                                        }
                                        be[i * o + k] = total
                                    } else {
                                        for j in 0 ..< n { row[j] *= pi[j] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
