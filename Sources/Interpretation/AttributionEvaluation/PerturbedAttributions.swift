import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// The method's attributions at every x_i + δ_{i,s}, `[n · draws, D]` (row i · draws + s), with
/// the targets of their samples: through the method in batches of ``PerturbedForward``'s size,
/// except, for a ``PatternLocalAttribution`` with `certify`, the perturbations the sample's
/// certificate covers (``PerturbedForward/certificate(_:covering:)``), which take W(x)'s target
/// row. ``MaxSensitivity``'s engine: what ``PerturbedForward`` is for outputs, for attributions.
func perturbedAttributions<Scalar: BLASScalar>(
    _ stack: LayerStack<Scalar>, method: any AttributionMethod<Scalar>, inputs batch: Tensor<Scalar>, targets: [Int],
    deltas: Tensor<Scalar>, certify: Bool
) throws(InterpretationError) -> (Tensor<Scalar>, PerturbationCounts) {
    let n = batch.shape[0], d = stack.inputShape.reduce(1, *), draws = deltas.shape[1]
    let local = method as? any PatternLocalAttribution<Scalar>
    let routing = try PerturbedForward(stack, inputs: batch, certify: certify && local != nil)
    let x = routing.inputs
    var result = Tensor<Scalar>.zeros([n * draws, d])
    var counts = PerturbationCounts()
    var pending: [Int] = []
    let capacity = routing.batches.rows
    var buffer = Tensor<Scalar>.zeros([capacity, d])
    var row = [Scalar](repeating: 0, count: d)

    func flush() throws(InterpretationError) {
        guard !pending.isEmpty else { return }
        let inputs = (pending.count == capacity ? buffer : buffer.rows(0 ..< pending.count)).reshaped([pending.count] + stack.inputShape)
        let maps = try method.attributions(stack, inputs: inputs, targets: pending.map { targets[$0 / draws] })
        maps.withUnsafeBufferPointer { m in
            result.withUnsafeMutableBufferPointer { out in
                for (slot, r) in pending.enumerated() { (out.baseAddress! + r * d).update(from: m.baseAddress! + slot * d, count: d) }
            }
        }
        counts.forwarded += pending.count
        pending.removeAll(keepingCapacity: true)
    }

    for r in 0 ..< n * draws {
        let i = r / draws
        x.withUnsafeBufferPointer { x in
            deltas.withUnsafeBufferPointer { delta in
                for j in 0 ..< d { row[j] = x[i * d + j] + delta[r * d + j] }
            }
        }
        if let local, let certificate = row.withUnsafeBufferPointer({ routing.certificate(i, covering: $0) }) {
            let unit = stack.scoreUnits.lowerBound + targets[i]
            certificate.weights.withUnsafeBufferPointer { w in
                row.withUnsafeBufferPointer { y in
                    result.withUnsafeMutableBufferPointer { out in
                        local.attributions(gradient: UnsafeBufferPointer(rebasing: w[unit * d ..< (unit + 1) * d]), at: y,
                                           into: UnsafeMutableBufferPointer(rebasing: out[r * d ..< (r + 1) * d]))
                    }
                }
            }
            counts.certified += 1
            continue
        }
        buffer.withUnsafeMutableBufferPointer { b in
            row.withUnsafeBufferPointer { y in (b.baseAddress! + pending.count * d).update(from: y.baseAddress!, count: d) }
        }
        pending.append(r)
        if pending.count == capacity { try flush() }
    }
    try flush()
    return (result, counts)
}
