import IsometrySupport
import Networks
import TensorAlgebra

/// What one layer of channels (a convolution, an average pool) does for one score at one input,
/// channel by channel (docs/theory.md §4, "Channel maps"): the contribution of each of its units
/// to the score, and the Insens of its inactive units.
///
/// * **Contributions.** Above layer l the stack is affine at x's pattern, so the score is exactly
///   F_k(x) = Σ_i G_i·h_i + b_above with h the layer's output, G = ∂F_k/∂h at the pattern and
///   b_above the intercepts the layers above collect; channel c's map is G ⊙ h over its
///   positions. The maps and ``downstreamBias`` add up to ``score``.
/// * **Insens per channel.** Ω restricted to the inactive units of channel c that enter the
///   activation after the layer: the mean of their ω_i = ((h_i − t_i)/‖ŵ_i‖²)·ŵ_i over the input
///   features. Weighted by ``insensUnits`` and summed over every layer that enters an
///   activation, they give ``SwitchedLinearProjections/insens(features:)``'s Ω.
public struct ChannelMaps: Sendable, Codable, Equatable {
    /// The layer whose output holds the channels.
    public var layer: Int
    /// Its kind ("conv2d", …).
    public var kind: String
    /// Its output shape: `[channels] + positions` (`[units]` for a dense layer, one channel).
    public var shape: [Int]
    /// The output unit whose score is split (a flat index into the stack's output).
    public var unit: Int
    /// contributions[c]: G ⊙ h over channel c's positions (row-major).
    public var contributions: [[Double]]
    /// b_above: what the layers above the channel layer add to the score at x's pattern.
    public var downstreamBias: Double
    /// F_unit(x), from the forward pass.
    public var score: Double
    /// insens[c]: Ω of channel c's inactive units over the input features (zeros when none).
    public var insens: [[Double]]
    /// insensUnits[c]: how many of channel c's units entered it.
    public var insensUnits: [Int]

    public var channels: Int { contributions.count }
    /// Σ of each channel's map: its share of the score.
    public var channelTotals: [Double] { contributions.map { $0.reduce(0, +) } }
    /// |Σ channels + b_above − F| / max(1, |F|): zero up to rounding.
    public var completenessError: Double {
        abs(channelTotals.reduce(0, +) + downstreamBias - score) / max(1, abs(score))
    }
    /// The channels by decreasing |total|, the first `count`.
    public func leadingChannels(_ count: Int) -> [Int] {
        let totals = channelTotals
        return Array(totals.indices.sorted { abs(totals[$0]) > abs(totals[$1]) || (abs(totals[$0]) == abs(totals[$1]) && $0 < $1) }.prefix(count))
    }
}

extension LayerStack {
    /// The layers the report draws per channel: those with channels and positions (an output of
    /// rank ≥ 2: convolutions, average pools) that are unit layers (``UnitActivity``: an
    /// activation or max pool follows them).
    public var channelLayers: [Int] {
        UnitActivity(self).layers.filter { shapes[$0 + 1].count >= 2 }
    }
}

extension SwitchedLinearProjections {
    /// The ``ChannelMaps`` of layer `layer` for output unit `unit` (a flat index into the
    /// stack's output) at this input; Insens over `features` (as ``insens(features:)``).
    /// Throws for a layer outside the stack or the last layer (nothing above it), or a unit
    /// outside the output.
    public func channelMaps(layer: Int, unit: Int, features: Range<Int>? = nil) throws(InterpretationError) -> ChannelMaps {
        guard layer >= 0 && layer < stack.layerCount - 1 else { throw .layerOutOfRange(layer: layer, layers: stack.layerCount - 1) }
        let outputs = stack.outputShape.reduce(1, *)
        guard unit >= 0 && unit < outputs else { throw .unitOutOfRange(layer: stack.layerCount - 1, unit: [unit], shape: stack.outputShape) }
        let shape = stack.shapes[layer + 1]
        let channels = shape.count >= 2 ? shape[0] : 1
        let positions = shape.reduce(1, *) / channels
        // The layers above as a stack of their own, fed the layer's output: the same arithmetic
        // as the full forward pass from there, so the same pattern, and its linearisation is G.
        let above = LayerStack(inputShape: shape, layers: Array(stack.layers[(layer + 1)...]))
        let h = activations[layer + 1]
        let linear = StackLinearisation(checked: above, inputs: h, units: unit ..< unit + 1)
        let g = linear.weights.scalars, values = h.scalars
        let contributions = (0 ..< channels).map { c in
            (c * positions ..< (c + 1) * positions).map { Double(g[$0]) * Double(values[$0]) }
        }
        let (insens, counts) = insensByChannel(layer: layer, channels: channels, features: features)
        return ChannelMaps(layer: layer, kind: stack.layers[layer].layerDescription.kind, shape: shape, unit: unit,
                           contributions: contributions, downstreamBias: Double(linear.biases[0, 0]),
                           score: Double(self.outputs[stack.layerCount - 1].scalars[unit]), insens: insens, insensUnits: counts)
    }

    /// Ω per channel of layer `layer`'s inactive units entering the activation after it (all
    /// zero, no units, when none follows): two forward-mode streams through the layer, the
    /// first for ‖ŵ_i‖², the second for the maps.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func insensByChannel(layer: Int, channels: Int, features: Range<Int>?) -> (maps: [[Double]], units: [Int]) {
        let inputs = input.count
        let range = features ?? stack.classDimensions.map { 0 ..< $0.features } ?? 0 ..< inputs
        require(range.lowerBound >= 0 && range.upperBound <= inputs, "insens: features \(range) are not within the \(inputs) inputs")
        var maps = [[Double]](repeating: [Double](repeating: 0, count: range.count), count: channels)
        var counts = [Int](repeating: 0, count: channels)
        guard let activation = stack.layers[layer + 1] as? ActivationLayer<Scalar> else { return (maps, counts) }
        let entering = Self.inactiveUnits(activation.function, activations[layer + 1].scalars)
        guard !entering.isEmpty else { return (maps, counts) }
        let positions = stack.shapes[layer + 1].reduce(1, *) / channels
        var norms = [Double](repeating: 0, count: entering.count)
        stream(through: layer) { l, chunk, tangents in
            guard l == layer else { return }
            tangents.withUnsafeBufferPointer { t in
                let width = t.count / chunk.count
                for j in 0 ..< chunk.count where range.contains(chunk.lowerBound + j) {
                    let row = t.baseAddress! + j * width
                    for (k, unit) in entering.enumerated() { norms[k] += Double(row[unit.unit]) * Double(row[unit.unit]) }
                }
            }
        }
        let factors = entering.indices.map { norms[$0] == 0 ? 0 : entering[$0].offset / norms[$0] }
        for (k, unit) in entering.enumerated() where norms[k] != 0 { counts[unit.unit / positions] += 1 }
        stream(through: layer) { l, chunk, tangents in
            guard l == layer else { return }
            tangents.withUnsafeBufferPointer { t in
                let width = t.count / chunk.count
                for j in 0 ..< chunk.count where range.contains(chunk.lowerBound + j) {
                    let row = t.baseAddress! + j * width
                    for (k, unit) in entering.enumerated() where factors[k] != 0 {
                        maps[unit.unit / positions][chunk.lowerBound + j - range.lowerBound] += factors[k] * Double(row[unit.unit])
                    }
                }
            }
        }
        for c in 0 ..< channels where counts[c] > 0 { maps[c] = maps[c].map { $0 / Double(counts[c]) } }
        return (maps, counts)
    }

    /// The inactive units among an activation's inputs `h` and their targets' offsets h_i − t_i
    /// (ReLU and leaky ReLU at or below 0, hard-tanh saturated; none for smooth or identity).
    static func inactiveUnits(_ function: Nonlinearity, _ h: [Scalar]) -> [(unit: Int, offset: Double)] {
        var inactive: [(unit: Int, offset: Double)] = []
        for i in h.indices {
            switch function {
            case .relu, .leakyReLU:
                if h[i] <= 0 { inactive.append((i, Double(h[i]))) }
            case .hardTanh:
                if abs(h[i]) >= 1 { inactive.append((i, Double(h[i]) - (h[i] > 0 ? 1 : -1))) }
            case .identity, .tanh, .erf: break
            }
        }
        return inactive
    }
}
