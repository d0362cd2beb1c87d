import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// Kubota et al.'s per-layer contribution map through the class dimensions (docs/theory.md §1):
/// for readout layer ℓ of a stack with class dimensions, W^ℓ[D+t, j]·x^{ℓ−1}[j] for the D
/// feature coordinates j — exactly what feature j of the layer's input adds to the layer's
/// readout of class t (``SampleAnalysis/increments`` for one image). At the last layer it is
/// the share of each feature of the representation the classifier reads the logit from.
///
/// `layer` counts the readout layers (`LayerStack.readoutLayers()`) from 0 (ℓ = layer + 1);
/// negative values count from the end (−1, the default: the last, the logits). The map has the
/// inputs' shape, its class coordinates 0. One forward pass for the batch.
public struct KubotaContribution<Scalar: BLASScalar>: AttributionMethod {
    public var name: String { "kubota-contribution" }
    public var layer: Int
    public init(layer: Int = -1) { self.layer = layer }

    public func attributions(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, targets: [Int]) throws(InterpretationError) -> Tensor<Scalar> {
        guard let classes = stack.classDimensions else { throw .needsClassDimensions(analysis: "Kubota contribution maps") }
        let readout = try stack.readoutLayers()
        let position = layer < 0 ? readout.count + layer : layer
        guard position >= 0 && position < readout.count else { throw .layerOutOfRange(layer: layer, layers: readout.count) }
        let l = readout[position]
        let batch = try stack.checkedInputs(inputs)
        let count = batch.shape[0], width = classes.width, d = classes.features
        require(targets.count == count, "KubotaContribution: \(targets.count) targets for \(count) inputs")
        for (i, t) in targets.enumerated() {
            require(t >= 0 && t < classes.classes, "attributions: target \(t) of sample \(i) is not among the \(classes.classes) class units")
        }
        let workspace = stack.makeWorkspace(batchSize: count)
        stack.forward(batch, in: workspace)
        let weight = (stack.layers[l] as! Dense<Scalar>).weight
        var maps = Tensor<Scalar>.zeros([count, width])
        maps.withUnsafeMutableBufferPointer { m in
            weight.withUnsafeBufferPointer { w in
                workspace.activations[l].withUnsafeBufferPointer { h in
                    for i in 0 ..< count {
                        let row = w.baseAddress! + (d + targets[i]) * width
                        for j in 0 ..< d { m[i * width + j] = row[j] * h[i * width + j] }
                    }
                }
            }
        }
        return maps.reshaped(inputs.shape)
    }
}
