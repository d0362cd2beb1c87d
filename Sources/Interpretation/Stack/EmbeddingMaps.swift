import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// The exact linearisation of an embedding network (parametric t-SNE, docs/theory.md §4 and
/// §8.4): each point y = F(x) ∈ R^k is W(x)·x + b(x), W(x) of shape k × d, so row a of W(x) is
/// the map of coordinate a over the input (for an image, the x- and y-direction maps as
/// images) and b(x) the share no input owns. A ``StackLinearisation`` of every output: an
/// embedding stack has no class dimensions.
///
/// ```swift
/// let maps = try EmbeddingMaps(stack, inputs: images)          // images [n, 784]
/// print(maps.weights.shape, maps.completenessError)            // [n, 2, 784], ≤ 1e-5 in float32
/// let move = maps.displacement(from: 0, to: 1, inputs: images) // what moves image 0 to image 1
/// ```
public struct EmbeddingMaps<Scalar: BLASScalar>: Sendable {
    public let linearisation: StackLinearisation<Scalar>
    /// Coordinates of the embedding (k).
    public var dimensions: Int { linearisation.units.count }
    /// [n, k, d]: W(x) of every input.
    public var weights: Tensor<Scalar> { linearisation.weights }
    /// [n, k]: b(x).
    public var biases: Tensor<Scalar> { linearisation.biases }
    /// [n, k]: F(x), the embedding.
    public var outputs: Tensor<Scalar> { linearisation.outputs }
    /// max |W(x)x + b(x) − F(x)| / max(1, |F(x)|) over the inputs and coordinates.
    public var completenessError: Double { linearisation.completenessError }

    public init(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>) throws(InterpretationError) {
        linearisation = try StackLinearisation(stack, inputs: inputs, units: 0 ..< stack.outputShape.reduce(1, *))
    }

    /// max |W(x)x + b(x) − F(x)| over `inputs` (the rows these maps were made from) and the
    /// coordinates, in the embedding's own units, W(x)x summed in Double. ``completenessError``
    /// divides by max(1, |F(x)|), and t-SNE's points lie tens of units from the origin, so the
    /// relative figure alone understates the absolute one there.
    public func absoluteCompletenessError(inputs: Tensor<Scalar>) -> Double {
        let n = outputs.shape[0], k = dimensions, d = inputs.count / max(n, 1)
        var worst = 0.0
        weights.withUnsafeBufferPointer { w in
            inputs.withUnsafeBufferPointer { x in
                for i in 0 ..< n {
                    for a in 0 ..< k {
                        var y = Double(biases[i, a])
                        for f in 0 ..< d { y += Double(w[(i * k + a) * d + f]) * Double(x[i * d + f]) }
                        worst = max(worst, abs(y - Double(outputs[i, a])))
                    }
                }
            }
        }
        return worst
    }

    /// The worst completeness error over all of `inputs` (`[n, d]`), linearised `chunk` rows at a
    /// time so that W(x) of a whole test split never has to fit in memory at once.
    public static func completenessError(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, chunk: Int = 1000) throws(InterpretationError) -> Double {
        try completenessErrors(stack, inputs: inputs, chunk: chunk).relative
    }

    /// The worst relative (``completenessError``) and absolute (``absoluteCompletenessError(inputs:)``)
    /// completeness errors over all of `inputs`, `chunk` rows at a time.
    public static func completenessErrors(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>,
                                          chunk: Int = 1000) throws(InterpretationError) -> (relative: Double, absolute: Double) {
        let n = inputs.shape[0], width = inputs.count / max(n, 1)
        var relative = 0.0, absolute = 0.0, start = 0
        while start < n {
            let rows = min(chunk, n - start)
            var part = Tensor<Scalar>.zeros([rows, width])
            part.withUnsafeMutableBufferPointer { p in
                inputs.withUnsafeBufferPointer { p.baseAddress!.update(from: $0.baseAddress! + start * width, count: rows * width) }
            }
            let maps = try EmbeddingMaps(stack, inputs: part)
            relative = max(relative, maps.completenessError)
            absolute = max(absolute, maps.absoluteCompletenessError(inputs: part))
            start += rows
        }
        return (relative, absolute)
    }

    /// Coordinate a's exact share of input feature f at instance i: W(x_i)_{a f} · x_{i f}, over
    /// all features (`[k][d]`).
    public func contributions(instance i: Int, inputs: Tensor<Scalar>) -> [[Double]] {
        let d = inputs.count / max(inputs.shape[0], 1)
        let row = Array(inputs.scalars[(i * d) ..< ((i + 1) * d)])
        return (0 ..< dimensions).map { linearisation.attribution(instance: i, unit: $0, input: row) }
    }

    /// What separates instance `a`'s point from instance `b`'s, feature by feature:
    /// y_b − y_a = Σ_f (W(x_b)_f x_{b f} − W(x_a)_f x_{a f}) + (b(x_b) − b(x_a)). `pixels` is
    /// `[k][d]` (the first sum's terms), `bias` the second term; their total is `step`, the
    /// displacement from y_a to y_b, exactly (to rounding).
    public func displacement(from a: Int, to b: Int, inputs: Tensor<Scalar>) -> (pixels: [[Double]], bias: [Double], step: [Double]) {
        let from = contributions(instance: a, inputs: inputs), to = contributions(instance: b, inputs: inputs)
        let k = dimensions
        let pixels = (0 ..< k).map { c in zip(to[c], from[c]).map { $0 - $1 } }
        let bias = (0 ..< k).map { c in Double(biases[b, c]) - Double(biases[a, c]) }
        let step = (0 ..< k).map { c in Double(outputs[b, c]) - Double(outputs[a, c]) }
        return (pixels, bias, step)
    }
}
