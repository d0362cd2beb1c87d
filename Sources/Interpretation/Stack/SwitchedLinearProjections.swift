import IsometrySupport
import Networks
import TensorAlgebra

/// Switched linear projections of a piecewise-linear ``LayerStack`` at one input (Szymanski et
/// al.; docs/theory.md §3, §4): with every unit's state fixed at x (activation slopes, max-pool
/// winners), unit i of layer l's output — a dense unit, or a (channel, position) of a
/// convolution or pool — is exactly ŵ_i·x + b̂_i.
///
/// Three ways in, each at the cost its question needs:
/// * ``projections(layer:units:)`` and ``projection(layer:unit:)``: (ŵ, b̂) of chosen units by
///   backward rows through the layers' vjp (one row per unit; no convolution unrolled).
/// * ``weights(layer:)``: ŵ of every unit of one layer, `[units, inputs]`, by forward mode:
///   the input's basis vectors carried through the layers' jvp (cheaper than one backward row
///   per unit when a layer has more units than the input has features, as convolutions do).
/// * The reproduction error over every unit of every layer (``reproductionError()``) and the
///   Insens map (``insens(features:)``) come from the same forward mode, streamed layer by
///   layer in chunks of basis vectors sized by the memory budget, so no layer's ŵ is kept.
///   The intercepts b̂ of every unit (``biases``) take one forward recursion, at `init`.
///
/// ```swift
/// let projections = try SwitchedLinearProjections(stack, at: x)
/// let unit = try projections.projection(layer: 0, unit: [5, 10, 12])   // channel 5 at (10, 12)
/// print(unit.weights.shape, unit.biases[0], unit.values[0])             // [1, 784], b̂, its value
/// print(projections.reproductionError(), projections.insens().units)
/// ```
public struct SwitchedLinearProjections<Scalar: BLASScalar>: Sendable {
    public let stack: LayerStack<Scalar>
    /// biases[l]: b̂ of every unit of layer l's output, flattened.
    public var biases: [Tensor<Scalar>]
    /// outputs[l]: layer l's output of the forward pass at x, flattened, which ŵ·x + b̂ reproduces.
    public var outputs: [Tensor<Scalar>]
    /// The flattened input x.
    public var input: Tensor<Scalar>
    /// The active units at x (``UnitActivity``, one instance).
    public var activity: UnitActivity
    /// The forward pass at x: activations `[1] + shapes[l]` and patterns.
    let activations: [Tensor<Scalar>]
    let patterns: [Tensor<Scalar>]
    /// The working memory of one chunk of rows or basis vectors (tests make it small to cut chunks).
    var workingBytes = StackLinearisation<Scalar>.workingBytes

    /// The projections at `x` (shape `inputShape` or flattened). Throws as
    /// ``StackLinearisation/init(_:inputs:units:)`` does.
    public init(_ stack: LayerStack<Scalar>, at x: Tensor<Scalar>) throws(InterpretationError) {
        try stack.checkInterpretable()
        let inputs = stack.inputShape.reduce(1, *)
        let batch = try stack.checkedInputs(x.reshaped([1] + (x.count == inputs ? [inputs] : x.shape)))
        let workspace = stack.makeWorkspace(batchSize: 1)
        stack.forward(batch, in: workspace)
        self.stack = stack
        activations = workspace.activations
        patterns = workspace.patterns
        input = batch.reshaped([inputs])
        outputs = (1 ... stack.layerCount).map { workspace.activations[$0].reshaped([workspace.activations[$0].count]) }
        var activity = UnitActivity(stack)
        activity.append(stack, workspace)
        self.activity = activity
        biases = Self.intercepts(stack, activations: workspace.activations, patterns: workspace.patterns)
    }

    /// b̂ of every layer by the forward recursion from b̂ = 0 at the input: an affine layer
    /// maps b̂ as it maps any input (its bias included), an activation to P ⊙ b̂ + s, a max pool
    /// selects its winners' b̂.
    static func intercepts(_ stack: LayerStack<Scalar>, activations: [Tensor<Scalar>], patterns: [Tensor<Scalar>]) -> [Tensor<Scalar>] {
        var intercept = Tensor<Scalar>.zeros([1] + stack.inputShape)
        var result: [Tensor<Scalar>] = []
        for (l, layer) in stack.layers.enumerated() {
            var next = Tensor<Scalar>.zeros([1] + stack.shapes[l + 1])
            if layer is ActivationLayer<Scalar> {
                let (h, y, p) = (activations[l], activations[l + 1], patterns[l])
                next.withUnsafeMutableBufferPointer { n in
                    intercept.withUnsafeBufferPointer { c in
                        h.withUnsafeBufferPointer { h in
                            y.withUnsafeBufferPointer { y in
                                p.withUnsafeBufferPointer { p in
                                    for j in 0 ..< n.count { n[j] = p[j] * c[j] + (y[j] - p[j] * h[j]) }
                                }
                            }
                        }
                    }
                }
            } else if layer.patternShape(forInput: stack.shapes[l]) == nil {
                var unused = Tensor<Scalar>.zeros([0])
                var scratch = layer.scratchShape(forInput: stack.shapes[l]).map { Tensor<Scalar>.zeros($0) } ?? Tensor.zeros([0])
                layer.forward(intercept, into: &next, pattern: &unused, scratch: &scratch)
            } else {
                layer.jvp(intercept, pattern: patterns[l], into: &next)
            }
            intercept = next
            result.append(next.reshaped([next.count]))
        }
        return result
    }

    // MARK: Chosen units, by backward rows

    /// (ŵ, b̂) of units `units` (flat indices into layer `layer`'s output) at x: `weights`
    /// `[units, inputs]`, `biases` and the forward pass's `values`. Throws for a layer or a unit
    /// outside the stack.
    public func projections(layer: Int, units: [Int]) throws(InterpretationError) -> UnitProjections<Scalar> {
        guard layer >= 0 && layer < stack.layerCount else { throw .layerOutOfRange(layer: layer, layers: stack.layerCount) }
        let shape = stack.shapes[layer + 1], width = shape.reduce(1, *)
        if let bad = units.first(where: { $0 < 0 || $0 >= width }) { throw .unitOutOfRange(layer: layer, unit: [bad], shape: shape) }
        let inputs = input.count, k = units.count
        let bytes = Double(k) * Double(inputs + 3) * Double(MemoryLayout<Scalar>.stride)
        if !MemoryBudget.allows(bytes) {
            throw .tooLargeForMemory(what: "projections of \(k) units over \(inputs) inputs", estimatedBytes: bytes, limitBytes: Double(MemoryBudget.defaultLimit))
        }
        var weights = Tensor<Scalar>.zeros([k, inputs])
        var biases = Tensor<Scalar>.zeros([k])
        let perRow = BackwardRows<Scalar>.bytes(stack, rows: 1, top: layer)
        let chunk = max(1, min(k, Int(workingBytes / perRow)))
        var engine: BackwardRows<Scalar>?
        for start in stride(from: 0, to: k, by: chunk) {
            let size = min(chunk, k - start)
            if engine?.perInstance != size { engine = BackwardRows(stack, instances: 1, perInstance: size, top: layer) }
            let rows = engine!
            rows.rows[layer + 1].withUnsafeMutableBufferPointer { r in
                r.update(repeating: 0)
                for row in 0 ..< size { r[row * width + units[start + row]] = 1 }
            }
            rows.run(activations: activations, patterns: patterns, from: layer)
            weights.withUnsafeMutableBufferPointer { w in
                rows.rows[0].withUnsafeBufferPointer { r in (w.baseAddress! + start * inputs).update(from: r.baseAddress!, count: size * inputs) }
            }
            biases.withUnsafeMutableBufferPointer { b in
                for l in 0 ... layer {
                    rows.shares[l].withUnsafeBufferPointer { s in for row in 0 ..< size { b[start + row] += s[row] } }
                }
            }
        }
        let values = outputs[layer].scalars
        return UnitProjections(layer: layer, units: units, weights: weights, biases: biases,
                               values: Tensor(shape: [k], scalars: units.map { values[$0] }), input: input,
                               scale: max(1, values.map { abs(Double($0)) }.max() ?? 0))
    }

    /// (ŵ, b̂) of one unit of layer `layer`, given by its position in the layer's output
    /// (`[channel, row, column]` of a 2-D convolution or pool, `[channel, t]` in 1-D, `[i]`
    /// for a dense layer) or by one flat index. Throws naming the unit and the layer's shape.
    public func projection(layer: Int, unit: [Int]) throws(InterpretationError) -> UnitProjections<Scalar> {
        guard layer >= 0 && layer < stack.layerCount else { throw .layerOutOfRange(layer: layer, layers: stack.layerCount) }
        let shape = stack.shapes[layer + 1]
        var flat = 0
        if unit.count == 1 {
            flat = unit[0]
            guard flat >= 0 && flat < shape.reduce(1, *) else { throw .unitOutOfRange(layer: layer, unit: unit, shape: shape) }
        } else {
            guard unit.count == shape.count, zip(unit, shape).allSatisfy({ $0 >= 0 && $0 < $1 }) else {
                throw .unitOutOfRange(layer: layer, unit: unit, shape: shape)
            }
            for (index, extent) in zip(unit, shape) { flat = flat * extent + index }
        }
        return try projections(layer: layer, units: [flat])
    }

    // MARK: Every unit, by forward mode

    /// ŵ of every unit of layer `layer`'s output, `[units, inputs]` (row i is ŵ_i).
    public func weights(layer: Int) throws(InterpretationError) -> Tensor<Scalar> {
        guard layer >= 0 && layer < stack.layerCount else { throw .layerOutOfRange(layer: layer, layers: stack.layerCount) }
        let (inputs, units) = (input.count, stack.shapes[layer + 1].reduce(1, *))
        let bytes = Double(units) * Double(inputs) * Double(MemoryLayout<Scalar>.stride)
        if !MemoryBudget.allows(bytes) {
            throw .tooLargeForMemory(what: "ŵ of \(units) units over \(inputs) inputs", estimatedBytes: bytes, limitBytes: Double(MemoryBudget.defaultLimit))
        }
        var result = Tensor<Scalar>.zeros([units, inputs])
        stream(through: layer) { l, chunk, tangents in
            guard l == layer else { return }
            // tangents[j, i] = ŵ_i[chunk.lowerBound + j]: transposed into rows.
            result.withUnsafeMutableBufferPointer { w in
                tangents.withUnsafeBufferPointer { t in
                    for j in 0 ..< chunk.count {
                        for i in 0 ..< units { w[i * inputs + chunk.lowerBound + j] = t[j * units + i] }
                    }
                }
            }
        }
        return result
    }

    /// Basis vectors e_j per chunk of inputs, carried forward through layers 0 ... `last` at
    /// x's patterns; `visit(l, inputs, tangents)` sees layer l's `[chunk, units of l]` (l = −1:
    /// the basis vectors themselves).
    func stream(through last: Int, _ visit: (_ layer: Int, _ inputs: Range<Int>, _ tangents: Tensor<Scalar>) -> Void) {
        let inputs = input.count
        let widths = stack.shapes[0 ... last + 1].map { $0.reduce(1, *) }
        let perTangent = Double(widths.reduce(0, +)) * Double(MemoryLayout<Scalar>.stride)
        let chunk = max(1, min(inputs, Int(workingBytes / perTangent)))
        var scratch = (0 ... last).map { stack.layers[$0].scratchShape(forInput: stack.shapes[$0]).map { Tensor<Scalar>.zeros($0) } ?? Tensor.zeros([0]) }
        for start in stride(from: 0, to: inputs, by: chunk) {
            let size = min(chunk, inputs - start)
            var tangent = Tensor<Scalar>.zeros([size] + stack.shapes[0])
            tangent.withUnsafeMutableBufferPointer { t in for j in 0 ..< size { t[j * inputs + start + j] = 1 } }
            visit(-1, start ..< start + size, tangent.reshaped([size, inputs]))
            for l in 0 ... last {
                var next = Tensor<Scalar>.zeros([size] + stack.shapes[l + 1])
                stack.layers[l].jvp(tangent, pattern: patterns[l], scratch: &scratch[l], into: &next)
                tangent = next
                visit(l, start ..< start + size, tangent.reshaped([size, widths[l + 1]]))
            }
        }
    }

    /// max over layers of max_i |ŵ_i·x + b̂_i − output_i| / max(1, max_i |output_i|), every unit
    /// of every layer: ŵ_i·x accumulated over the chunks of a forward-mode stream (one GEMV per
    /// layer and chunk), plus b̂_i, against the forward pass. As costly as ``weights(layer:)``
    /// for every layer, so computed when asked.
    public func reproductionError() -> Double {
        var dots = stack.shapes.dropFirst().map { [Double](repeating: 0, count: $0.reduce(1, *)) }
        stream(through: stack.layerCount - 1) { l, chunk, tangents in
            guard l >= 0 else { return }
            // tangents is [chunk, units]: its transpose times the chunk of x.
            let part = matvec(tangents, input.rows(chunk), transposeA: true).scalars
            for i in part.indices { dots[l][i] += Double(part[i]) }
        }
        var worst = 0.0
        for l in dots.indices {
            let (b, h) = (biases[l].scalars, outputs[l].scalars)
            let scale = max(1, h.map { abs(Double($0)) }.max() ?? 0)
            for i in h.indices { worst = max(worst, abs(dots[l][i] + Double(b[i]) - Double(h[i])) / scale) }
        }
        return worst
    }

    // MARK: Insens

    /// The Insens map Ω(x) (docs/theory.md §3): the mean, over the inactive units entering
    /// every activation layer (ReLU and leaky ReLU at or below 0, hard-tanh saturated; the
    /// channels and positions of a convolution alike), of ω_i = ((h_i − t_i)/‖ŵ_i‖²)·ŵ_i, the
    /// displacement from unit i's switching hyperplane h = t_i to x, over `features` (default:
    /// the D features of a stack with class dimensions, else every input). Max-pool losers do
    /// not enter: their switch is against another unit, not a hyperplane of their own.
    // Specialised: its inner loops convert Scalar to Double per entry, which unspecialised
    // generic code does through a witness call (callgrind/perf: 2 s per CNN image, most of it there).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func insens(features: Range<Int>? = nil) -> (map: [Double], units: Int) {
        let inputs = input.count
        let range = features ?? stack.classDimensions.map { 0 ..< $0.features } ?? 0 ..< inputs
        require(range.lowerBound >= 0 && range.upperBound <= inputs, "insens: features \(range) are not within the \(inputs) inputs")
        // The activation layers and, for each, the inactive units entering it and their targets t_i,
        // indexed by the layer whose output they are (index l + 1 for layer l, 0 for the input).
        // Arrays, not a dictionary: the loops below touch every (basis vector, inactive unit)
        // pair, and a hashed lookup per pair was a third of a CNN image's Insens (perf).
        var units = [[Int]](repeating: [], count: stack.layerCount + 1)
        var offsets = [[Double]](repeating: [], count: stack.layerCount + 1)
        var last: Int?
        for (m, layer) in stack.layers.enumerated() {
            guard let activation = layer as? ActivationLayer<Scalar> else { continue }
            let inactive = Self.inactiveUnits(activation.function, activations[m].scalars)
            guard !inactive.isEmpty else { continue }
            units[m] += inactive.map(\.unit)
            offsets[m] += inactive.map(\.offset)
            last = max(last ?? m - 1, m - 1)
        }
        guard let last else { return ([Double](repeating: 0, count: range.count), 0) }
        var norms = units.map { [Double](repeating: 0, count: $0.count) }
        var factors = units.map { [Double](repeating: 0, count: $0.count) }
        var map = [Double](repeating: 0, count: range.count)
        // Over the basis vectors of `chunk` that are features, the squared norms (norm) or the
        // map's terms (factors) of the inactive units of layer l's output, in the order the sums
        // have always been taken: vector by vector, unit by unit.
        func accumulate(_ l: Int, _ chunk: Range<Int>, _ t: UnsafeBufferPointer<Scalar>, norm: Bool) {
            let k = l + 1
            guard !units[k].isEmpty else { return }
            let width = t.count / chunk.count
            let columns = max(chunk.lowerBound, range.lowerBound) ..< min(chunk.upperBound, range.upperBound)
            guard !columns.isEmpty else { return }
            units[k].withUnsafeBufferPointer { u in
                if norm {
                    norms[k].withUnsafeMutableBufferPointer { n in
                        for j in columns {
                            let row = t.baseAddress! + (j - chunk.lowerBound) * width
                            for (e, unit) in u.enumerated() { n[e] += Double(row[unit]) * Double(row[unit]) }
                        }
                    }
                } else {
                    factors[k].withUnsafeBufferPointer { f in
                        map.withUnsafeMutableBufferPointer { out in
                            for j in columns {
                                let row = t.baseAddress! + (j - chunk.lowerBound) * width
                                var sum = 0.0
                                for (e, unit) in u.enumerated() where f[e] != 0 { sum += f[e] * Double(row[unit]) }
                                out[j - range.lowerBound] += sum
                            }
                        }
                    }
                }
            }
        }
        var count = 0
        func makeFactors(_ k: Int) {
            for e in units[k].indices { factors[k][e] = norms[k][e] == 0 ? 0 : offsets[k][e] / norms[k][e] }
        }
        // One stream when one chunk holds every input (norms, then the map, at each layer);
        // otherwise a first stream for the norms and a second for the map.
        var single = false
        stream(through: max(last, 0)) { l, chunk, tangents in
            if chunk.count == inputs { single = true }
            tangents.withUnsafeBufferPointer { t in accumulate(l, chunk, t, norm: true) }
            if single {
                makeFactors(l + 1)
                tangents.withUnsafeBufferPointer { t in accumulate(l, chunk, t, norm: false) }
            }
        }
        if !single {
            for k in units.indices { makeFactors(k) }
            stream(through: max(last, 0)) { l, chunk, tangents in
                tangents.withUnsafeBufferPointer { t in accumulate(l, chunk, t, norm: false) }
            }
        }
        for k in units.indices { count += norms[k].filter { $0 != 0 }.count }
        if count > 0 { map = map.map { $0 / Double(count) } }
        return (map, count)
    }
}

/// The switched linear projections (ŵ, b̂) of chosen units of one layer at one input.
public struct UnitProjections<Scalar: BLASScalar>: Sendable {
    /// The layer whose output holds the units.
    public var layer: Int
    /// The units, as flat indices into the layer's output.
    public var units: [Int]
    /// [units, inputs]: row k is ŵ of unit k over the flattened input.
    public var weights: Tensor<Scalar>
    /// [units]: b̂.
    public var biases: Tensor<Scalar>
    /// [units]: the units' values in the forward pass at x.
    public var values: Tensor<Scalar>
    /// max_k |ŵ_k·x + b̂_k − value_k| / max(1, max |layer output|).
    public var reproductionError: Double

    init(layer: Int, units: [Int], weights: Tensor<Scalar>, biases: Tensor<Scalar>, values: Tensor<Scalar>, input: Tensor<Scalar>, scale: Double) {
        self.layer = layer
        self.units = units
        self.weights = weights
        self.biases = biases
        self.values = values
        let inputs = input.count
        var worst = 0.0
        weights.withUnsafeBufferPointer { w in
            input.withUnsafeBufferPointer { x in
                for k in units.indices {
                    var total = Double(biases[k])
                    for j in 0 ..< inputs { total += Double(w[k * inputs + j]) * Double(x[j]) }
                    worst = max(worst, abs(total - Double(values[k])) / scale)
                }
            }
        }
        reproductionError = worst
    }
}
