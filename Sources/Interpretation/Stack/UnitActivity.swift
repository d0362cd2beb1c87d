import IsometrySupport
import Networks
import TensorAlgebra

/// Which hidden units of a piecewise-linear stack are active at each input, layer by layer:
/// the count Szymanski et al. report for their MNIST 2CONV (17 % active).
///
/// A *unit layer* is a layer (dense, convolution, average pool) whose output goes through a
/// chain of activations and max pools (flatten allowed between them) before the next such
/// layer; its units are the entries of its output. A unit is active when its signal passes the
/// whole chain unchanged in kind: every activation it meets is on its identity piece (ReLU and
/// leaky ReLU h > 0, hard-tanh |h| < 1, identity always) and every max pool selects it (a max-pool
/// loser is inactive, as in the paper). The output layer and layers followed by no chain are not
/// unit layers. docs/theory.md §4 defines it.
public struct UnitActivity: Sendable, Codable, Equatable {
    /// The unit layers' indices in the stack.
    public var layers: [Int]
    /// Their kinds ("conv2d", "dense", …).
    public var kinds: [String]
    /// Their unit counts (the size of each one's output).
    public var units: [Int]
    /// active[i][k]: how many units of `layers[k]` are active at instance i.
    public var active: [[Int]]
    /// The chains: for unit layer k, the last layer of its chain.
    let chainEnds: [Int]

    private enum CodingKeys: String, CodingKey { case layers, kinds, units, active, chainEnds }

    /// No instances yet, the unit layers of `stack`.
    public init<Scalar: BLASScalar>(_ stack: LayerStack<Scalar>) {
        func isChainLayer(_ layer: any Layer<Scalar>) -> Bool { layer is ActivationLayer<Scalar> || layer is MaxPool<Scalar> || layer is Flatten<Scalar> }
        var layers: [Int] = [], ends: [Int] = []
        for l in stack.layers.indices where !isChainLayer(stack.layers[l]) {
            var end = l
            while end + 1 < stack.layerCount && isChainLayer(stack.layers[end + 1]) { end += 1 }
            let chain = stack.layers[(l + 1) ..< (end + 1)]
            if chain.contains(where: { !($0 is Flatten<Scalar>) }) {
                layers.append(l)
                ends.append(end)
            }
        }
        self.layers = layers
        chainEnds = ends
        kinds = layers.map { stack.layers[$0].layerDescription.kind }
        units = layers.map { stack.shapes[$0 + 1].reduce(1, *) }
        active = []
    }

    /// The fraction of unit layer k's units active at instance i.
    public func fraction(instance i: Int, layer k: Int) -> Double { Double(active[i][k]) / Double(units[k]) }
    /// The fraction of all units of the unit layers active at instance i.
    public func fraction(instance i: Int) -> Double {
        let total = units.reduce(0, +)
        return total == 0 ? 0 : Double(active[i].reduce(0, +)) / Double(total)
    }
    /// Per unit layer, the mean fraction of active units over the instances.
    public var meanFractions: [Double] {
        layers.indices.map { k in active.isEmpty ? 0 : active.reduce(0.0) { $0 + Double($1[k]) } / Double(active.count * units[k]) }
    }
    /// The fraction of all units of the unit layers active, over every instance.
    public var overallFraction: Double {
        let total = units.reduce(0, +) * active.count
        return total == 0 ? 0 : Double(active.reduce(0) { $0 + $1.reduce(0, +) }) / Double(total)
    }
    /// The instances counted.
    public var instances: Int { active.count }

    /// Adds the instances of `other`, counted on the same stack.
    public mutating func append(contentsOf other: UnitActivity) {
        require(other.layers == layers && other.units == units, "UnitActivity.append: counts of another stack (\(other.layers) vs \(layers))")
        active += other.active
    }

    /// Counts the instances of `workspace`'s last forward pass of `stack` (buffers made for the call).
    mutating func append<Scalar: BLASScalar>(_ stack: LayerStack<Scalar>, _ workspace: LayerStackWorkspace<Scalar>) {
        active += ActivityCounter(self, stack, batchSize: workspace.batchSize).count(workspace)
    }
}

/// The buffers that count a batch's active units (``UnitActivity``), made once per batch size:
/// for every unit layer, ones at the end of its chain carried back through it (activations pass
/// only their identity piece, max pools route onto their winners through their vjp); a unit that
/// receives anything is active.
final class ActivityCounter<Scalar: BLASScalar> {
    let stack: LayerStack<Scalar>
    let layers: [Int], ends: [Int], units: [Int]
    let batchSize: Int
    /// signals[k][m − layers[k]]: the signal over the input of layer m of unit layer k's chain
    /// (index 0: the unit layer's output), the last one over the chain's end.
    var signals: [[Tensor<Scalar>]]

    init(_ activity: UnitActivity, _ stack: LayerStack<Scalar>, batchSize: Int) {
        self.stack = stack
        layers = activity.layers
        ends = activity.chainEnds
        units = activity.units
        self.batchSize = batchSize
        signals = zip(activity.layers, activity.chainEnds).map { l, end in (l + 1 ... end + 1).map { Tensor.zeros([batchSize] + stack.shapes[$0]) } }
    }

    func count(_ workspace: LayerStackWorkspace<Scalar>) -> [[Int]] {
        require(workspace.batchSize == batchSize, "ActivityCounter: a workspace of \(workspace.batchSize) samples for \(batchSize)")
        var counts = [[Int]](repeating: [Int](repeating: 0, count: layers.count), count: batchSize)
        for (k, l) in layers.enumerated() {
            let end = ends[k]
            signals[k][end - l].withUnsafeMutableBufferPointer { $0.update(repeating: 1) }
            for m in stride(from: end, to: l, by: -1) {
                let layer = stack.layers[m]
                let (above, below) = (m - l, m - l - 1)
                if layer is ActivationLayer<Scalar> {
                    let (h, y, p) = (workspace.activations[m], workspace.activations[m + 1], workspace.patterns[m])
                    let signal = signals[k][above]
                    signals[k][below].withUnsafeMutableBufferPointer { b in
                        signal.withUnsafeBufferPointer { s in
                            h.withUnsafeBufferPointer { h in
                                y.withUnsafeBufferPointer { y in
                                    p.withUnsafeBufferPointer { p in
                                        for j in 0 ..< b.count { b[j] = p[j] == 1 && y[j] == h[j] ? s[j] : 0 }
                                    }
                                }
                            }
                        }
                    }
                } else {
                    layer.vjp(signals[k][above], pattern: workspace.patterns[m], into: &signals[k][below])
                }
            }
            let width = units[k]
            signals[k][0].withUnsafeBufferPointer { s in
                for i in 0 ..< batchSize {
                    var active = 0
                    for j in 0 ..< width where s[i * width + j] > 0 { active += 1 }
                    counts[i][k] = active
                }
            }
        }
        return counts
    }
}
