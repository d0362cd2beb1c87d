import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// Szymanski et al.'s Insens map Ω(x) as an attribution (docs/theory.md §3): the mean, over the
/// units that x's pattern switches off (ReLU at or below 0, hard-tanh saturated, every channel
/// and position of a convolution), of ω_i = ((h_i − t_i)/‖ŵ_i‖²)·ŵ_i, the displacement from
/// unit i's switching hyperplane to x (``SwitchedLinearProjections/insens(features:)``).
///
/// **Class-agnostic**: Ω(x) depends on the input's activation pattern, not on the output
/// explained, so every target of a sample gets the same map; `targets` are checked and
/// otherwise unused. With class dimensions the map covers the D features (the class
/// coordinates of the input are zero and read as 0 here); without, every input. One
/// ``SwitchedLinearProjections`` per sample (its forward-mode streams are per input); the samples
/// are spread over `threads` workers (default: OpenBLAS's thread count), each with
/// single-threaded BLAS, which leaves the numbers unchanged.
public struct Insens<Scalar: BLASScalar>: AttributionMethod {
    public var name: String { "insens" }
    public var threads: Int?
    public init(threads: Int? = nil) { self.threads = threads }

    public func attributions(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, targets: [Int]) throws(InterpretationError) -> Tensor<Scalar> {
        try stack.checkInterpretable()
        let batch = try stack.checkedInputs(inputs)
        let count = batch.shape[0], width = stack.inputShape.reduce(1, *)
        try stack.checkTargets(targets, count: count)
        let features = stack.classDimensions.map { 0 ..< $0.features } ?? 0 ..< width
        var maps = [[Double]](repeating: [], count: count)
        let workers = max(1, min(threads ?? OpenBLAS.threads, count))
        let results = UnsafeMutableBufferPointer<[Double]>.allocate(capacity: count)
        results.initialize(repeating: [])
        defer { results.deallocate() }
        let shared = SharedResults(results)
        let work: @Sendable (Int) -> Void = { worker in
            for i in stride(from: worker, to: count, by: workers) {
                // Inputs already checked: the projections cannot throw on them.
                let projections = try! SwitchedLinearProjections(stack, at: batch.row(i))
                shared.pointer[i] = projections.insens(features: features).map
            }
        }
        if workers == 1 { work(0) } else { OpenBLAS.withThreads(1) { DispatchQueue.concurrentPerform(iterations: workers, execute: work) } }
        for i in 0 ..< count { maps[i] = results[i] }
        var result = Tensor<Scalar>.zeros([count, width])
        result.withUnsafeMutableBufferPointer { r in
            for i in 0 ..< count { for (k, j) in features.enumerated() { r[i * width + j] = Scalar(maps[i][k]) } }
        }
        return result.reshaped(inputs.shape)
    }
}

/// Per-sample results written by concurrent workers, each to its own samples' slots.
struct SharedResults<Element>: @unchecked Sendable {
    let pointer: UnsafeMutableBufferPointer<Element>
    init(_ pointer: UnsafeMutableBufferPointer<Element>) { self.pointer = pointer }
}
