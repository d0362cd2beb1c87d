import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// The outputs of many perturbed copies of a batch's samples: each perturbed input a sample's
/// ``ActivationPatternCertificate`` covers is answered by it exactly (F(x) + W(x)δ,
/// docs/theory.md §3, "The pattern's certified radius"), with no forward pass; the others go
/// through the network as ``GeneratedBatches`` of at most ``rowsPerBatch`` rows.
struct PerturbedForward<Scalar: BLASScalar> {
    let stack: LayerStack<Scalar>
    /// The samples, checked and flattened `[n, D]`.
    let inputs: Tensor<Scalar>
    let certificates: [ActivationPatternCertificate<Scalar>]?
    /// The engine the forwarded rows go through.
    let batches: GeneratedBatches<Scalar>

    /// GEMM-sized batches: one GEMM per dense layer and batch (fewer rows where a sample's
    /// activations are large: ``GeneratedBatches`` holds a batch to
    /// ``StackLinearisation/workingBytes``).
    static var rowsPerBatch: Int { 256 }

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
        batches = GeneratedBatches(stack, rows: Self.rowsPerBatch)
    }

    /// Sample i's certificate if it covers the flattened input y (within its radius less the
    /// margin), else nil: y then needs a forward pass.
    func certificate(_ i: Int, covering y: UnsafeBufferPointer<Scalar>) -> ActivationPatternCertificate<Scalar>? {
        guard let certificate = certificates?[i],
              certificate.distance(from: y) < certificate.radius * (1 - ActivationPatternCertificate<Scalar>.margin) else { return nil }
        return certificate
    }

    /// Runs `rows` perturbed inputs: row r perturbs sample `origin(r)`, and `fill(r, y)` writes
    /// it (flattened) into y; `consume(r, f)` receives its outputs, rows in any order.
    func run(rows: Int, origin: (Int) -> Int, fill: (Int, UnsafeMutableBufferPointer<Scalar>) -> Void,
             consume: (Int, UnsafeBufferPointer<Scalar>) -> Void) -> PerturbationCounts {
        var counts = PerturbationCounts()
        var answer = [Scalar](repeating: 0, count: certificates == nil ? 0 : batches.outputs)
        batches.forward(rows: rows, fill: { r, y in
            fill(r, y)
            guard let certificate = certificate(origin(r), covering: UnsafeBufferPointer(y)) else {
                counts.forwarded += 1
                return true
            }
            answer.withUnsafeMutableBufferPointer { certificate.addProduct(at: UnsafeBufferPointer(y), into: $0) }
            answer.withUnsafeBufferPointer { consume(r, $0) }
            counts.certified += 1
            return false
        }, read: consume)
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
