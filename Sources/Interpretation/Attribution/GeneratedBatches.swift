import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// Inputs a method generates from its samples (Integrated Gradients' interpolations, occluded
/// copies), run through a stack as GEMM-sized batches: the rows of many samples stacked, written
/// into the workspace's own input buffer, with the workspace and the cotangents made once per
/// batch size (the full batches and at most one shorter last batch), so the loop allocates nothing.
final class GeneratedBatches<Scalar: BLASScalar> {
    let stack: LayerStack<Scalar>
    /// Rows per full batch.
    let rows: Int
    let width: Int, outputs: Int
    private var workspace: LayerStackWorkspace<Scalar>?
    private var cotangents = Tensor<Scalar>.zeros([0])

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
        if let workspace, workspace.batchSize == size { return workspace }
        let made = stack.makeWorkspace(batchSize: size)
        workspace = made
        return made
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

    /// The gradients of output unit `unit(r)` of row r for `size` rows that `fill` writes:
    /// `read` sees them `[size, inputs]`, flattened.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func gradients(_ size: Int, fill: (UnsafeMutableBufferPointer<Scalar>) -> Void, unit: (Int) -> Int,
                   read: (UnsafeBufferPointer<Scalar>) -> Void) {
        let w = workspace(size)
        w.withInputBuffer { buffer in buffer.withUnsafeMutableBufferPointer(fill) }
        stack.forwardInputBuffer(in: w)
        if cotangents.shape.first != size { cotangents = .zeros([size] + stack.outputShape) }
        cotangents.withUnsafeMutableBufferPointer { c in
            c.update(repeating: 0)
            for r in 0 ..< size { c[r * outputs + unit(r)] = 1 }
        }
        stack.vjp(cotangents, in: w)
        w.inputGradient.withUnsafeBufferPointer(read)
    }
}

extension LayerStack {
    /// The stack's outputs `[count] + outputShape` at checked inputs `[count] + inputShape`, in
    /// batches held to ``StackLinearisation/workingBytes`` (one workspace per batch size, not
    /// one for the whole batch: 1,000 CNN images in one workspace take about 0.8 GB).
    func boundedOutputs(_ inputs: Tensor<Scalar>) -> Tensor<Scalar> {
        let count = inputs.shape[0]
        let engine = GeneratedBatches(self, rows: count)
        let (width, outputs) = (engine.width, engine.outputs)
        var result = Tensor<Scalar>.zeros([count] + outputShape)
        inputs.withUnsafeBufferPointer { x in
            result.withUnsafeMutableBufferPointer { out in
                for start in stride(from: 0, to: count, by: engine.rows) {
                    let size = min(engine.rows, count - start)
                    engine.forward(size, fill: { rows in
                        rows.baseAddress!.update(from: x.baseAddress! + start * width, count: size * width)
                    }, read: { f in
                        (out.baseAddress! + start * outputs).update(from: f.baseAddress!, count: size * outputs)
                    })
                }
            }
        }
        return result
    }
}
