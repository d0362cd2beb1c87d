import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// Inputs generated from samples (Integrated Gradients' interpolations, occluded copies, a
/// metric's perturbed inputs), run through a stack as GEMM-sized batches: the rows of many
/// samples stacked, written into the workspace's own input buffer, with the workspace and the
/// cotangents made once per batch size (the full batches and at most one shorter last batch),
/// so the loop allocates nothing. The one engine of the attribution methods and metrics.
final class GeneratedBatches<Scalar: BLASScalar> {
    let stack: LayerStack<Scalar>
    /// Rows per full batch.
    let rows: Int
    let width: Int, outputs: Int
    /// Workspaces and cotangents of two sizes: full batches (``rows``) and the last, shorter
    /// batch of a call. One slot each way would alternate between the two sizes on every call
    /// of a loop (a table's images) and allocate each time.
    private var fullWorkspace: LayerStackWorkspace<Scalar>?
    private var shortWorkspace: LayerStackWorkspace<Scalar>?
    private var fullCotangents = Tensor<Scalar>.zeros([0])
    private var shortCotangents = Tensor<Scalar>.zeros([0])
    /// The rows of the batch being filled by ``forward(rows:fill:read:)``, kept between calls.
    private var pending: [Int] = []

    /// Batches of at most `rows` rows (at least 1), cut further so that the workspace of one
    /// batch stays within ``StackLinearisation/workingBytes``, but never below `minimum` rows.
    init(_ stack: LayerStack<Scalar>, rows: Int, minimum: Int = 1) {
        self.stack = stack
        width = stack.inputShape.reduce(1, *)
        outputs = stack.outputShape.reduce(1, *)
        // Forward activations and patterns, the backward cotangents and the scratch: about
        // three buffers per layer width for every row.
        let widths = stack.shapes.reduce(0) { $0 + $1.reduce(1, *) }
        let perRow = Double(3 * widths) * Double(MemoryLayout<Scalar>.stride)
        let fitting = Int(StackLinearisation<Scalar>.workingBytes / perRow)
        self.rows = max(1, min(rows, max(minimum, fitting)))
    }

    private func workspace(_ size: Int) -> LayerStackWorkspace<Scalar> {
        if size == rows {
            if let fullWorkspace { return fullWorkspace }
            let made = stack.makeWorkspace(batchSize: size)
            fullWorkspace = made
            return made
        }
        if let shortWorkspace, shortWorkspace.batchSize == size { return shortWorkspace }
        let made = stack.makeWorkspace(batchSize: size)
        shortWorkspace = made
        return made
    }

    /// One-hot cotangents `[size] + outputShape` for ``gradients(_:fill:unit:read:)``, kept per size slot.
    private func withCotangents(_ size: Int, _ body: (inout Tensor<Scalar>) -> Void) {
        if size == rows {
            if fullCotangents.shape.first != size { fullCotangents = .zeros([size] + stack.outputShape) }
            body(&fullCotangents)
        } else {
            if shortCotangents.shape.first != size { shortCotangents = .zeros([size] + stack.outputShape) }
            body(&shortCotangents)
        }
    }

    /// Runs `size` rows (≤ ``rows``) forward: `fill` writes them, flattened, into the input
    /// buffer; `read` sees the outputs `[size, outputs]`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func forward(_ size: Int, fill: (UnsafeMutableBufferPointer<Scalar>) -> Void, read: (UnsafeBufferPointer<Scalar>) -> Void) {
        let w = workspace(size)
        w.withInputBuffer { buffer in buffer.withUnsafeMutableBufferPointer(fill) }
        stack.forwardInputBuffer(in: w)
        w.output.withUnsafeBufferPointer(read)
    }

    /// Runs `count` rows forward that `fill(r, y)` writes one at a time, flattened, into a slot
    /// y of the batch being filled. A row for which `fill` returns false was answered by the
    /// caller (a certificate, docs/theory.md §3) and gives its slot to the next row; `read(r, f)`
    /// sees the outputs of every other row, in order, once its batch has run. Batches of
    /// ``rows``, and one shorter last batch.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func forward(rows count: Int, fill: (Int, UnsafeMutableBufferPointer<Scalar>) -> Bool, read: (Int, UnsafeBufferPointer<Scalar>) -> Void) {
        let capacity = min(rows, max(count, 1))
        let full = workspace(capacity)
        pending.removeAll(keepingCapacity: true)
        pending.reserveCapacity(capacity)

        func flush(_ w: LayerStackWorkspace<Scalar>) {
            stack.forwardInputBuffer(in: w)
            w.output.withUnsafeBufferPointer { f in
                for (slot, r) in pending.enumerated() { read(r, UnsafeBufferPointer(rebasing: f[slot * outputs ..< (slot + 1) * outputs])) }
            }
            pending.removeAll(keepingCapacity: true)
        }

        for r in 0 ..< count {
            let slot = pending.count
            let forwarded = full.withInputBuffer { buffer in
                buffer.withUnsafeMutableBufferPointer { fill(r, UnsafeMutableBufferPointer(rebasing: $0[slot * width ..< (slot + 1) * width])) }
            }
            guard forwarded else { continue }
            pending.append(r)
            if pending.count == capacity { flush(full) }
        }
        guard !pending.isEmpty else { return }
        // The last, shorter batch: its rows alone, moved into a workspace of their size.
        let last = workspace(pending.count)
        full.withInputBuffer { from in
            last.withInputBuffer { to in
                from.withUnsafeBufferPointer { x in
                    to.withUnsafeMutableBufferPointer { y in y.baseAddress!.update(from: x.baseAddress!, count: y.count) }
                }
            }
        }
        flush(last)
    }

    /// The gradients of output unit `unit(r)` of row r for `size` rows that `fill` writes:
    /// `read` sees them `[size, inputs]`, flattened.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func gradients(_ size: Int, fill: (UnsafeMutableBufferPointer<Scalar>) -> Void, unit: (Int) -> Int,
                   read: (UnsafeBufferPointer<Scalar>) -> Void) {
        let w = workspace(size)
        w.withInputBuffer { buffer in buffer.withUnsafeMutableBufferPointer(fill) }
        stack.forwardInputBuffer(in: w)
        withCotangents(size) { cotangents in
            cotangents.withUnsafeMutableBufferPointer { c in
                c.update(repeating: 0)
                for r in 0 ..< size { c[r * outputs + unit(r)] = 1 }
            }
            stack.vjp(cotangents, in: w)
        }
        w.inputGradient.withUnsafeBufferPointer(read)
    }

    /// Every row of checked inputs `[count] + inputShape` through the stack, batch by batch,
    /// into `result`: the outputs `[count] + outputShape`, or with `unit`, the gradients
    /// `[count] + inputShape` of output unit `unit(r)` of row r.
    func run(_ inputs: Tensor<Scalar>, into result: inout Tensor<Scalar>, gradientsOf unit: ((Int) -> Int)? = nil) {
        let count = inputs.shape[0], out = unit == nil ? outputs : width
        require(inputs.count == count * width && result.count == count * out,
                "GeneratedBatches.run: inputs of shape \(inputs.shape) and results of shape \(result.shape) for rows of \(width) → \(out)")
        inputs.withUnsafeBufferPointer { x in
            result.withUnsafeMutableBufferPointer { y in
                for start in stride(from: 0, to: count, by: rows) {
                    let size = min(rows, count - start)
                    let fill = { (rows: UnsafeMutableBufferPointer<Scalar>) in
                        rows.baseAddress!.update(from: x.baseAddress! + start * self.width, count: size * self.width)
                    }
                    let read = { (f: UnsafeBufferPointer<Scalar>) in (y.baseAddress! + start * out).update(from: f.baseAddress!, count: size * out) }
                    if let unit {
                        gradients(size, fill: fill, unit: { unit(start + $0) }, read: read)
                    } else {
                        forward(size, fill: fill, read: read)
                    }
                }
            }
        }
    }
}

extension LayerStack {
    /// The stack's outputs `[count] + outputShape` at checked inputs `[count] + inputShape`, in
    /// batches held to ``StackLinearisation/workingBytes`` (one workspace per batch size, not
    /// one for the whole batch: 1,000 CNN images in one workspace take about 0.8 GB).
    func boundedOutputs(_ inputs: Tensor<Scalar>) -> Tensor<Scalar> {
        var result = Tensor<Scalar>.zeros([inputs.shape[0]] + outputShape)
        GeneratedBatches(self, rows: inputs.shape[0]).run(inputs, into: &result)
        return result
    }

    /// ∂F_target/∂x for every sample of checked inputs `[count] + inputShape` with checked
    /// targets: one forward pass and one vector–Jacobian product per batch, through `engine`
    /// (whose batches ``StackLinearisation/workingBytes`` bounds), or one made for the call. A
    /// caller with many calls (SmoothGrad's chunks) passes one engine, so that its workspace
    /// and cotangents are made once. The building block of the gradient-based methods.
    func targetGradients(_ inputs: Tensor<Scalar>, targets: [Int], engine: GeneratedBatches<Scalar>? = nil) -> Tensor<Scalar> {
        let first = scoreUnits.lowerBound
        var gradients = Tensor<Scalar>.zeros([inputs.shape[0]] + inputShape)
        (engine ?? GeneratedBatches(self, rows: inputs.shape[0])).run(inputs, into: &gradients, gradientsOf: { first + targets[$0] })
        return gradients
    }
}
