import Foundation
import Testing
import FileFormats
import Networks
import TensorAlgebra

// The layer stack against PyTorch: fixtures from Scripts/make_layer_fixtures.py (MLPs
// 20 → 30 → 16 → 5 with biases, nn.Sequential state dicts, a batch of 8 inputs, the loss
// sum(logits · c), torch.func.jacrev Jacobians).

func fixtureURL(_ name: String, _ ext: String) -> URL {
    Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures")!
}

func numpy<Scalar: BLASScalar>(_ name: String, as _: Scalar.Type = Scalar.self) throws -> Tensor<Scalar> {
    try Tensor<Scalar>(contentsOfNumpyFile: fixtureURL(name, "npy"))
}

/// max |a − b| / max |b|.
func relativeError<Scalar: BLASScalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>) -> Double {
    #expect(a.shape == b.shape)
    let scale = b.scalars.reduce(0) { max($0, Double($1.magnitude)) }
    let error = zip(a.scalars, b.scalars).reduce(0) { max($0, Double(($1.0 - $1.1).magnitude)) }
    return error / max(scale, .leastNormalMagnitude)
}

struct Variant: CustomStringConvertible, Sendable {
    let tag: String
    let activation: Nonlinearity
    var description: String { tag }
}

let floatVariants = [
    Variant(tag: "relu_f32", activation: .relu), Variant(tag: "leaky_f32", activation: .leakyReLU(slope: 0.1)),
    Variant(tag: "hardtanh_f32", activation: .hardTanh),
]
let doubleVariants = [Variant(tag: "relu_f64", activation: .relu), Variant(tag: "tanh_f64", activation: .tanh)]

/// Worst relative errors, printed so the numbers measured show in the test log.
func agreement<Scalar: BLASScalar>(_ variant: Variant, as _: Scalar.Type, tolerance: Double) throws {
    let stack = try LayerStack<Scalar>(pytorchStateDict: fixtureURL(variant.tag, "safetensors"), activation: variant.activation)
    #expect(stack.shapes == [[20], [30], [30], [16], [16], [5]])
    #expect(stack.parameterNames == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"])
    #expect(stack.layers.last is Dense<Scalar>)

    let x: Tensor<Scalar> = try numpy("\(variant.tag)_inputs")
    let workspace = stack.makeWorkspace(batchSize: 8)
    stack.forward(x, in: workspace)
    let logitsError = relativeError(workspace.output, try numpy("\(variant.tag)_logits"))
    #expect(logitsError <= tolerance, "logits \(variant)")

    stack.backward(try numpy("\(variant.tag)_cotangent"), in: workspace)
    let inputGradientError = relativeError(workspace.inputGradient, try numpy("\(variant.tag)_input_gradient"))
    #expect(inputGradientError <= tolerance, "input gradient \(variant)")

    let gradients = try SafetensorsFile(contentsOf: fixtureURL("\(variant.tag)_gradients", "safetensors"))
    var parameterError = 0.0
    for (l, layer) in stack.layers.enumerated() {
        for (i, name) in layer.parameterNames.enumerated() {
            let expected: Tensor<Scalar> = gradients.tensor("\(l).\(name)")!
            parameterError = max(parameterError, relativeError(workspace.parameterGradients[l][i], expected))
        }
    }
    #expect(parameterError <= tolerance, "parameter gradients \(variant)")

    let jacobians: Tensor<Scalar> = try numpy("\(variant.tag)_jacobians")
    var jacobianError = 0.0
    for i in 0 ..< 3 { jacobianError = max(jacobianError, relativeError(stack.jacobian(at: x.row(i)), jacobians.row(i))) }
    #expect(jacobianError <= tolerance, "Jacobians \(variant)")
    print("\(variant.tag): relative errors logits \(logitsError), input gradient \(inputGradientError), parameter gradients \(parameterError), Jacobians \(jacobianError)")
}

@Suite struct PyTorchAgreementTests {
    @Test(arguments: floatVariants) func float32AgreesWithPyTorch(_ variant: Variant) throws {
        try agreement(variant, as: Float.self, tolerance: 1e-5)
    }

    @Test(arguments: doubleVariants) func float64AgreesWithPyTorch(_ variant: Variant) throws {
        try agreement(variant, as: Double.self, tolerance: 1e-12)
    }

    @Test func hardTanhFixtureSaturatesSomeUnits() throws {
        // Otherwise the hard-tanh comparison would not exercise the saturated pieces.
        let stack = try LayerStack<Float>(pytorchStateDict: fixtureURL("hardtanh_f32", "safetensors"), activation: "hard-tanh")
        let workspace = stack.makeWorkspace(batchSize: 8)
        stack.forward(try numpy("hardtanh_f32_inputs"), in: workspace)
        let slopes = workspace.patterns[1].scalars
        #expect(slopes.contains(0) && slopes.contains(1) && slopes.allSatisfy { $0 == 0 || $0 == 1 })
    }
}
