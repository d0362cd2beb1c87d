import Foundation
import Networks
import TensorAlgebra

/// Everything the interpreter shows about one input (docs/theory.md §1, §3).
public struct SampleAnalysis: Sendable {
    public var index: Int
    public var label: Int
    public var prediction: Int
    /// The D input features x^0[0..<D] (pixels in [0, 1] for images).
    public var input: [Double]
    /// Per layer l = 1 … L, x^l[0..<D] − x^{l−1}[0..<D]: what the layer changed in the image.
    public var layerChanges: [[Double]]
    /// Per layer, x^l[0..<D] − x^0[0..<D]: the change since the input.
    public var cumulativeChanges: [[Double]]
    /// increments[l][c][j] = W^l[D+c, j]·x^{l−1}[j] for j < D: exactly what layer l's feature
    /// dimensions add to the score of class c, pixel by pixel.
    public var increments: [[[Double]]]
    /// The largest |Σ_j increments − (h^l[D+c] − class-dimension and bias terms)|, relative.
    public var incrementError: Double
    /// The Insens map Ω(x) over the D features (docs/theory.md §3), and how many units entered it.
    public var insens: [Double]
    public var insensUnits: Int
    /// max over units of |ŵ·x + b̂ − h| / max|h|: the switched linear projections' reproduction error.
    public var projectionError: Double
}

extension IdentityClassifier {
    /// Analyses one input vector of D features (pixels in [0, 1]); `index` and `label` are
    /// recorded as given (the label must be one of the C classes).
    ///
    /// Throws when the classifier cannot be read exactly (``checkInterpretable()``) or the
    /// input does not fit it: another feature count, NaN or infinity, a label out of range.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func analyse(_ features: [Scalar], index: Int, label: Int) throws(InterpretationError) -> SampleAnalysis {
        let (d, n) = (inputFeatures, width)
        try checkInterpretable()
        guard features.count == d else { throw .inputWidthMismatch(found: features.count, expected: d) }
        guard features.allSatisfy(\.isFinite) else { throw .nonFiniteInput(sample: index) }
        guard label >= 0 && label < classes else { throw .labelOutOfRange(label: label, classes: classes) }
        let x0 = Tensor<Scalar>(features + [Scalar](repeating: 0, count: classes))
        let hs = network.preActivations(x0)
        var xs = [x0]
        for h in hs { xs.append(h.map { activation($0) }) }
        let logits = hs.last!.scalars[d ..< n]
        let prediction = logits.indices.max { logits[$0] < logits[$1] }! - d

        var layerChanges: [[Double]] = [], cumulative: [[Double]] = [], increments: [[[Double]]] = []
        var incrementError = 0.0
        for l in 0 ..< layers {
            let before = xs[l].scalars, after = xs[l + 1].scalars
            layerChanges.append((0 ..< d).map { Double(after[$0] - before[$0]) })
            cumulative.append((0 ..< d).map { Double(after[$0] - x0.scalars[$0]) })
            let w = network.weights[l]
            let bias = network.biases[l]?.scalars
            var perClass: [[Double]] = []
            w.withUnsafeBufferPointer { e in
                for c in 0 ..< classes {
                    let row = e.baseAddress! + (d + c) * n
                    let contributions = (0 ..< d).map { Double(row[$0]) * Double(before[$0]) }
                    // The rest of h^l[D+c]: class dimensions of x^{l−1} and the bias.
                    var rest = 0.0
                    for k in d ..< n { rest += Double(row[k]) * Double(before[k]) }
                    rest += Double(bias?[d + c] ?? 0)
                    let increment = Double(hs[l].scalars[d + c]) - rest
                    let scale = max(1, contributions.map(abs).reduce(0, +))
                    incrementError = max(incrementError, abs(contributions.reduce(0, +) - increment) / scale)
                    perClass.append(contributions)
                }
            }
            increments.append(perClass)
        }
        let (insens, units, projectionError) = switchedLinearProjections(x0, hs)
        return SampleAnalysis(index: index, label: label, prediction: prediction, input: features.map(Double.init),
                              layerChanges: layerChanges,
                              cumulativeChanges: cumulative, increments: increments, incrementError: incrementError,
                              insens: insens, insensUnits: units, projectionError: projectionError)
    }

    /// Switched linear projections (Szymanski et al.): with every unit's state fixed at x, unit i
    /// of layer l computes v_i = ŵ_i·x + b̂_i exactly. Â_0 = I, ĉ_0 = 0; Ŵ_l = W_l Â_{l−1},
    /// B̂_l = W_l ĉ_{l−1} + b_l; Â_l = D_l Ŵ_l, ĉ_l = D_l B̂_l + s_l. Insens averages, over the
    /// inactive hidden units (saturated hard-tanh, ReLU at or below 0; the last layer excluded),
    /// the shortest step ω_i = ((v_i − t_i)/‖ŵ_i‖²)·ŵ_i to the unit's switching hyperplane.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func switchedLinearProjections(_ x0: Tensor<Scalar>, _ hs: [Tensor<Scalar>]) -> ([Double], Int, Double) {
        let n = width
        var a = Tensor<Scalar>.identity(n)
        var c = Tensor<Scalar>.zeros([n])
        var insens = [Double](repeating: 0, count: inputFeatures)
        var units = 0
        var worst = 0.0
        for l in 0 ..< layers {
            let w = network.weights[l]
            let projected = matmul(w, a)                                   // Ŵ_l
            var offset = matvec(w, c)                                      // B̂_l
            if let b = network.biases[l] { offset += b }
            // Reproduction: Ŵ_l x + B̂_l = h^l.
            let reproduced = matvec(projected, x0) + offset
            let h = hs[l].scalars
            let scale = max(1, h.map { abs(Double($0)) }.max() ?? 1)
            worst = max(worst, zip(reproduced.scalars, h).map { abs(Double($0 - $1)) }.max()! / scale)
            // States: D (1 passing, 0 switched off) and s (the constant output of saturated units).
            var dState = [Scalar](repeating: 0, count: n), sState = [Scalar](repeating: 0, count: n)
            for i in 0 ..< n {
                switch activation {
                case .hardTanh:
                    if abs(h[i]) < 1 { dState[i] = 1 } else { sState[i] = h[i] > 0 ? 1 : -1 }
                case .relu: dState[i] = h[i] > 0 ? 1 : 0
                case .linear: dState[i] = 1
                case .tanh, .erf: dState[i] = activation.derivative(h[i])
                }
            }
            if l < layers - 1 {
                projected.withUnsafeBufferPointer { e in
                    for i in 0 ..< n where dState[i] == 0 {
                        let row = e.baseAddress! + i * n
                        var norm = 0.0
                        for j in 0 ..< inputFeatures { norm += Double(row[j]) * Double(row[j]) }
                        if norm == 0 { continue }
                        let target: Double = activation == .hardTanh ? Double(sState[i]) : 0
                        let factor = (Double(h[i]) - target) / norm
                        for j in 0 ..< inputFeatures { insens[j] += factor * Double(row[j]) }
                        units += 1
                    }
                }
            }
            a = projected * Tensor(dState).reshaped(n, 1)                  // Â_l = D_l Ŵ_l
            c = offset * Tensor(dState) + Tensor(sState)                   // ĉ_l = D_l B̂_l + s_l
        }
        if units > 0 { insens = insens.map { $0 / Double(units) } }
        return (insens, units, worst)
    }
}
