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
/// inputs' shape, its class coordinates 0. One forward pass, in batches held to
/// ``StackLinearisation/workingBytes``.
///
/// The map of ℓ = 1 is indexed by the input's features (pixels). For ℓ > 1 it is indexed by the
/// D feature units of h^{ℓ−1}, hidden units which line up with pixels only through the identity
/// initialisation (W^ℓ ≈ σI keeps unit j near pixel j): read it as an image only for a network
/// near its initialisation. Every readout layer must read and write the D + C units (square, as
/// the identity classifier's are); a stack whose readout layers read another width throws.
public struct KubotaContribution<Scalar: BLASScalar>: AttributionMethod {
    public var name: String { "kubota-contribution" }
    public var summary: String { "\(name) (readout layer \(layer))" }
    public var layer: Int
    public init(layer: Int = -1) { self.layer = layer }

    public func attributions(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, targets: [Int]) throws(InterpretationError) -> Tensor<Scalar> {
        guard let classes = stack.classDimensions else { throw .needsClassDimensions(analysis: "Kubota contribution maps") }
        let readout = try stack.readoutLayers()
        let position = layer < 0 ? readout.count + layer : layer
        guard position >= 0 && position < readout.count else { throw .layerOutOfRange(layer: layer, layers: readout.count) }
        for r in readout where stack.shapes[r] != [classes.width] {
            throw .invalidAttributionSetting(method: name, setting: "readout layer", value: "\(r) reading shape \(stack.shapes[r])",
                                             requirement: "a dense layer reading the \(classes.width) = D + C units")
        }
        let l = readout[position]
        let batch = try stack.checkedInputs(inputs)
        let count = batch.shape[0], width = classes.width, d = classes.features
        try stack.checkTargets(targets, count: count)
        // Batches held to StackLinearisation.workingBytes: one workspace per batch size.
        let rows = GeneratedBatches(stack, rows: count).rows
        let weight = (stack.layers[l] as! Dense<Scalar>).weight
        let stride = weight.shape[1]
        var maps = Tensor<Scalar>.zeros([count, width])
        var workspace: LayerStackWorkspace<Scalar>?
        for start in Swift.stride(from: 0, to: count, by: rows) {
            let chunk = start ..< min(start + rows, count)
            if workspace?.batchSize != chunk.count { workspace = stack.makeWorkspace(batchSize: chunk.count) }
            stack.forward(batch.rows(chunk), in: workspace!)
            maps.withUnsafeMutableBufferPointer { m in
                weight.withUnsafeBufferPointer { w in
                    workspace!.activations[l].withUnsafeBufferPointer { h in
                        for (s, i) in chunk.enumerated() {
                            let row = w.baseAddress! + (d + targets[i]) * stride
                            for j in 0 ..< d { m[i * width + j] = row[j] * h[s * width + j] }
                        }
                    }
                }
            }
        }
        return maps.reshaped(inputs.shape)
    }
}
