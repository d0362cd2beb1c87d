import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// How a metric's perturbed inputs were answered: by a sample's ``ActivationPatternCertificate``
/// (F(x) + W(x)δ, no forward pass) or by the network's forward pass.
public struct PerturbationCounts: Sendable, Codable, Equatable {
    public var certified: Int
    public var forwarded: Int
    public var total: Int { certified + forwarded }

    public init(certified: Int = 0, forwarded: Int = 0) {
        self.certified = certified
        self.forwarded = forwarded
    }

    static func + (a: Self, b: Self) -> Self { Self(certified: a.certified + b.certified, forwarded: a.forwarded + b.forwarded) }
}

/// The outputs of many perturbed copies of a batch's samples: the perturbed inputs are
/// written straight into a workspace's input buffer and go through the network as batches of
/// ``rowsPerBatch`` (one GEMM per dense layer and batch), except those a sample's certificate
/// answers exactly, which skip the forward pass.
struct PerturbedForward<Scalar: BLASScalar> {
    let stack: LayerStack<Scalar>
    /// The samples, checked and flattened `[n, D]`.
    let inputs: Tensor<Scalar>
    let certificates: [ActivationPatternCertificate<Scalar>]?
    let rowsPerBatch: Int

    /// Checked inputs `[n] + inputShape`; `certify` computes every sample's certificate.
    init(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, certify: Bool) throws(InterpretationError) {
        self.stack = stack
        let n = inputs.shape[0], d = stack.inputShape.reduce(1, *)
        self.inputs = inputs.reshaped([n, d])
        if certify {
            var certificates: [ActivationPatternCertificate<Scalar>] = []
            for i in 0 ..< n { certificates.append(try ActivationPatternCertificate(stack, at: self.inputs.row(i))) }
            self.certificates = certificates
        } else {
            certificates = nil
        }
        rowsPerBatch = Self.rowsPerBatch(stack)
    }

    /// Rows a batch holds: 256 (GEMM-sized), fewer when a sample's activations are large, so
    /// that a batch's buffers stay within ``StackLinearisation/workingBytes``.
    static func rowsPerBatch(_ stack: LayerStack<Scalar>) -> Int {
        let perSample = Double(stack.shapes.reduce(0) { $0 + $1.reduce(1, *) } * MemoryLayout<Scalar>.size) * 3
        return max(1, min(256, Int(StackLinearisation<Scalar>.workingBytes / perSample)))
    }

    /// Runs `rows` perturbed inputs: row r perturbs sample `origin(r)`, and `fill(r, y)` writes
    /// it (flattened) into y; `consume(r, f)` receives its outputs, rows in any order.
    func run(rows: Int, origin: (Int) -> Int, fill: (Int, UnsafeMutableBufferPointer<Scalar>) -> Void,
             consume: (Int, UnsafeBufferPointer<Scalar>) -> Void) -> PerturbationCounts {
        let d = inputs.shape[1], o = stack.outputShape.reduce(1, *)
        let capacity = min(rowsPerBatch, max(rows, 1))
        let workspace = stack.makeWorkspace(batchSize: capacity)
        var scratch = [Scalar](repeating: 0, count: d), answer = [Scalar](repeating: 0, count: o)
        var pending: [Int] = []
        pending.reserveCapacity(capacity)
        var counts = PerturbationCounts()

        func flush() {
            guard !pending.isEmpty else { return }
            let output: Tensor<Scalar>
            if pending.count == capacity {
                stack.forwardInputBuffer(in: workspace)
                output = workspace.output
            } else {
                // The last, partial batch: its rows alone through a workspace of their size.
                let rows = workspace.withInputBuffer { $0.rows(0 ..< pending.count) }
                output = stack(rows)
            }
            output.withUnsafeBufferPointer { f in
                for (slot, r) in pending.enumerated() { consume(r, UnsafeBufferPointer(rebasing: f[slot * o ..< (slot + 1) * o])) }
            }
            counts.forwarded += pending.count
            pending.removeAll(keepingCapacity: true)
        }

        for r in 0 ..< rows {
            let i = origin(r)
            if let certificate = certificates?[i] {
                let certified = scratch.withUnsafeMutableBufferPointer { y in
                    fill(r, y)
                    return certificate.distance(from: UnsafeBufferPointer(y)) < certificate.radius * (1 - ActivationPatternCertificate<Scalar>.margin)
                }
                if certified {
                    scratch.withUnsafeBufferPointer { y in
                        answer.withUnsafeMutableBufferPointer { certificate.addProduct(at: y, into: $0) }
                    }
                    answer.withUnsafeBufferPointer { consume(r, $0) }
                    counts.certified += 1
                    continue
                }
                workspace.withInputBuffer { buffer in
                    buffer.withUnsafeMutableBufferPointer { b in
                        scratch.withUnsafeBufferPointer { y in
                            (b.baseAddress! + pending.count * d).update(from: y.baseAddress!, count: d)
                        }
                    }
                }
            } else {
                workspace.withInputBuffer { buffer in
                    buffer.withUnsafeMutableBufferPointer { b in
                        fill(r, UnsafeMutableBufferPointer(rebasing: b[pending.count * d ..< (pending.count + 1) * d]))
                    }
                }
            }
            pending.append(r)
            if pending.count == capacity { flush() }
        }
        flush()
        return counts
    }

    /// The target's ``TargetScore`` in an output row `f`.
    func score(_ f: UnsafeBufferPointer<Scalar>, target: Int, kind: TargetScore) -> Double {
        let units = stack.scoreUnits
        let value = Double(f[units.lowerBound + target])
        guard kind == .softmax else { return value }
        var largest = -Double.infinity
        for u in units { largest = max(largest, Double(f[u])) }
        var sum = 0.0
        for u in units { sum += Foundation.exp(Double(f[u]) - largest) }
        return Foundation.exp(value - largest) / sum
    }
}
