import Foundation
import Testing
import FileFormats
import Networks
import TensorAlgebra

// Convolutional stacks against PyTorch: nn.Sequential CNNs from Scripts/make_conv_fixtures.py,
// read from their plain state dicts given an architecture string; a batch of 4, the loss
// sum(logits · c), torch.func.jacrev Jacobians at 2 samples.
//
// Tolerances: float64 1e-12 relative (sums of ≤ 36 products per layer through 4 layers, ~1e-15
// each); float32 1e-5 (the same sums at 2⁻²⁴ ≈ 6e-8, ×36 terms ×4 layers ≈ 1e-5 worst case,
// and PyTorch's own float32 rounding on the other side).

struct CNNVariant: CustomStringConvertible, Sendable {
    let tag: String
    let architecture: String
    let inputShape: [Int]
    var description: String { tag }
}

let cnn2d = "conv4k3,relu,maxpool2,conv6k3p1,relu,maxpool2,flatten,dense10,relu,dense5"
let cnnVariants64 = [
    CNNVariant(tag: "cnn2d_f64", architecture: cnn2d, inputShape: [1, 12, 12]),
    CNNVariant(tag: "cnn1d_f64", architecture: "conv3k3p1,tanh,avgpool2,conv4k3,relu,maxpool2,flatten,dense5", inputShape: [2, 16]),
    CNNVariant(tag: "gap_f64", architecture: "conv3k3,relu,gap,dense4", inputShape: [2, 6, 6]),
]

func cnnAgreement<Scalar: BLASScalar>(_ variant: CNNVariant, as _: Scalar.Type, tolerance: Double) throws {
    let stack = try LayerStack<Scalar>(pytorchStateDict: fixtureURL(variant.tag, "safetensors"), architecture: variant.architecture,
                                       inputShape: variant.inputShape)
    let x: Tensor<Scalar> = try numpy("\(variant.tag)_inputs")
    let workspace = stack.makeWorkspace(batchSize: 4)
    stack.forward(x, in: workspace)
    let logitsError = relativeError(workspace.output, try numpy("\(variant.tag)_logits"))
    stack.backward(try numpy("\(variant.tag)_cotangent"), in: workspace)
    let inputGradientError = relativeError(workspace.inputGradient, try numpy("\(variant.tag)_input_gradient"))
    let gradients = try SafetensorsFile(contentsOf: fixtureURL("\(variant.tag)_gradients", "safetensors"))
    var parameterError = 0.0
    for (l, layer) in stack.layers.enumerated() {
        for (i, name) in layer.parameterNames.enumerated() {
            let expected: Tensor<Scalar> = gradients.tensor("\(l).\(name)")!
            parameterError = max(parameterError, relativeError(workspace.parameterGradients[l][i], expected))
        }
    }
    let jacobians: Tensor<Scalar> = try numpy("\(variant.tag)_jacobians")
    var jacobianError = 0.0
    for i in 0 ..< 2 { jacobianError = max(jacobianError, relativeError(stack.jacobian(at: x.row(i)), jacobians.row(i))) }
    let errors = [logitsError, inputGradientError, parameterError, jacobianError]
    #expect(errors.allSatisfy { $0 <= tolerance }, "\(variant): logits, input gradient, parameter gradients, Jacobians \(errors)")
    print("\(variant.tag): relative errors logits \(logitsError), input gradient \(inputGradientError), parameter gradients \(parameterError), Jacobians \(jacobianError)")
}

@Suite struct ConvolutionLayerTests {
    @Test func float32CNNAgreesWithPyTorch() throws {
        try cnnAgreement(CNNVariant(tag: "cnn2d_f32", architecture: cnn2d, inputShape: [1, 12, 12]), as: Float.self, tolerance: 1e-5)
    }

    @Test(arguments: cnnVariants64) func float64CNNAgreesWithPyTorch(_ variant: CNNVariant) throws {
        try cnnAgreement(variant, as: Double.self, tolerance: 1e-12)
    }

    @Test func parsedArchitectureHasPyTorchShapesAndNames() throws {
        var generator = SeededGenerator(seed: 1)
        let stack = try LayerStack<Float>(architecture: "conv32k3,relu,maxpool2,conv64k3,relu,maxpool2,flatten,dense128,relu,dense10",
                                          inputShape: [1, 28, 28], using: &generator)
        #expect(stack.shapes == [[1, 28, 28], [32, 26, 26], [32, 26, 26], [32, 13, 13], [64, 11, 11], [64, 11, 11], [64, 5, 5],
                                 [1600], [128], [128], [10]])
        #expect(stack.parameterNames == ["0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias", "9.weight", "9.bias"])
        #expect(stack.layers[0].parameters[0].shape == [32, 1, 3, 3])
        // PyTorch's default: uniform in ±1/√(in·kh·kw) = ±1/3 for the first layer.
        let first = stack.layers[0].parameters[0].scalars
        #expect(first.allSatisfy { abs($0) < 1 / 3 } && first.contains { abs($0) > 0.3 })
        #expect(stack.layers[3].layerDescription.description == "conv2d 32 → 64 kernel 3×3")
        #expect(stack.layers[2].layerDescription.description == "maxpool2d 2×2")
    }

    /// ⟨J v, u⟩ = ⟨v, Jᵀ u⟩ at one input's pattern (max-pool winners, ReLU slopes): the
    /// forward and reverse passes are the same linear map. Double: 1e-12 relative.
    @Test func jvpAndVjpAreAdjoint() throws {
        var generator = SeededGenerator(seed: 5)
        let stack = try LayerStack<Double>(architecture: "conv3k3p1s2,relu,maxpool2,conv4k2d2,tanh,avgpool2p1,flatten,dense6",
                                           inputShape: [2, 15, 13], using: &generator)
        let workspace = stack.makeWorkspace(batchSize: 1, tangentCount: 3)
        stack.forward(Tensor<Double>.randomNormal([1, 2, 15, 13], using: &generator), in: workspace)
        let v = Tensor<Double>.randomNormal([3, 2, 15, 13], using: &generator), u = Tensor<Double>.randomNormal([3, 6], using: &generator)
        stack.jvp(v, in: workspace)
        stack.vjp(u, in: workspace)
        let left = zip(workspace.tangentOutput.scalars, u.scalars).reduce(0) { $0 + $1.0 * $1.1 }
        let right = zip(v.scalars, workspace.inputGradient.scalars).reduce(0) { $0 + $1.0 * $1.1 }
        #expect(abs(left - right) <= 1e-12 * max(abs(left), 1), "⟨Jv, u⟩ \(left), ⟨v, Jᵀu⟩ \(right)")
    }

    @Test func selfDescribingFileRebuildsTheStack() throws {
        var generator = SeededGenerator(seed: 2)
        let stack = try LayerStack<Float>(architecture: "conv4k3s2p1nb,leaky-relu:0.1,avgpool2,conv2k2,relu,maxpool3s1p1,gap,dense3",
                                          inputShape: [3, 9, 10], using: &generator)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("conv-stack-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try stack.write(to: url)
        let read = try LayerStack<Float>(contentsOf: url)
        #expect(read.architecture == stack.architecture)
        let x = Tensor<Float>.randomNormal([2, 3, 9, 10], using: &generator)
        #expect(read(x) == stack(x))
        let conv1d = try LayerStack<Double>(architecture: "conv3k5s2d2,relu,maxpool2,flatten,dense2", inputShape: [2, 30], using: &generator)
        try conv1d.write(to: url)
        #expect(try LayerStack<Double>(contentsOf: url).architecture == conv1d.architecture)
    }

    /// After the first forward and backward pass, further passes write into the same storage,
    /// the im2col scratch included.
    @Test func passesAllocateNoStorageAfterTheFirst() throws {
        var generator = SeededGenerator(seed: 3)
        let stack = try LayerStack<Float>(architecture: "conv4k3,relu,maxpool2,flatten,dense3", inputShape: [1, 8, 8], using: &generator)
        let workspace = stack.makeWorkspace(batchSize: 2)
        func addresses() -> [UnsafeRawPointer] {
            (workspace.activations.dropFirst() + workspace.patterns + workspace.scratch + workspace.cotangents.dropLast()
                + workspace.parameterGradients.joined()).map { $0.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress!) } }
        }
        let x = Tensor<Float>.randomNormal([2, 1, 8, 8], using: &generator), g = Tensor<Float>.ones([2, 3])
        stack.forward(x, in: workspace)
        stack.backward(g, in: workspace)
        let first = addresses()
        stack.forward(x, in: workspace)
        stack.backward(g, in: workspace)
        #expect(addresses() == first)
    }

    @Test func badArchitecturesAreRefusedNamingTheToken() {
        func message(_ text: String, _ shape: [Int] = [1, 28, 28]) -> String {
            do { return "parsed \(try ArchitectureString.parse(text, inputShape: shape).layers.count) layers" } catch { return error.description }
        }
        #expect(message("conv32k3,relu,conv64,dense10")
                == "architecture token 2 'conv64': expected conv<out>k<k>[s<stride>][p<padding>][d<dilation>][nb] with out, k ≥ 1")
        #expect(message("conv32k3,relu,dense128")
                == "architecture token 2 'dense128': (dense) takes a vector but receives [32, 26, 26]; put flatten or gap before it")
        #expect(message("conv8k5,maxpool2,conv8k5,maxpool2,conv8k5")
                == "architecture token 4 'conv8k5': (conv2d 8 → 8 kernel 5×5) takes [8, H, W] with room for its window (kernel 5×5 exceeds the padded input 4×4 (input 4×4, padding 0×0)) but receives [8, 4, 4]")
        #expect(message("maxpool32")
                == "architecture token 0 'maxpool32': (maxpool2d 32×32) takes [C, H, W] with room for its window (kernel 32×32 exceeds the padded input 28×28 (input 28×28, padding 0×0)) but receives [1, 28, 28]")
        #expect(message("maxpool2p2") == "architecture token 0 'maxpool2p2': padding [2, 2] exceeds half the kernel [2, 2]")
        #expect(message("flatten,conv4k3") == "architecture token 1 'conv4k3': (conv) takes [C, L] or [C, H, W] but receives [784]")
        #expect(message("conv4k3,swish") == "architecture token 1 'swish': unknown layer; expected conv<out>k<k>[s<stride>][p<padding>][d<dilation>][nb], maxpool<k>[s<stride>][p<padding>], avgpool<k>[…], gap, flatten, dense<n>[nb], or an activation (relu, leaky-relu, hard-tanh, tanh, erf, identity)")
        #expect(message("conv4k3,,dense2") == "architecture token 1 '': empty token; expected conv<out>k<k>[s<stride>][p<padding>][d<dilation>][nb], maxpool<k>[s<stride>][p<padding>], avgpool<k>[…], gap, flatten, dense<n>[nb], or an activation (relu, leaky-relu, hard-tanh, tanh, erf, identity)")
        #expect(message("dense10") == "architecture token 0 'dense10': (dense) takes a vector but receives [1, 28, 28]; put flatten or gap before it")
        #expect(message("conv4k3s0") == "architecture token 0 'conv4k3s0': expected conv<out>k<k>[s<stride>][p<padding>][d<dilation>][nb], stride and dilation ≥ 1")
        #expect(message("   ") == "architecture is empty; expected tokens such as conv32k3,relu,maxpool2,flatten,dense10")
    }

    @Test func stateDictThatDoesNotFitTheArchitectureIsRefused() throws {
        let url = fixtureURL("cnn2d_f32", "safetensors")
        func message(_ text: String, _ shape: [Int] = [1, 12, 12]) -> String {
            do { return "read \(try LayerStack<Float>(pytorchStateDict: url, architecture: text, inputShape: shape).layerCount) layers" } catch {
                return "\(error)".replacingOccurrences(of: url.path, with: "FILE")
            }
        }
        #expect(message("conv5k3,relu,maxpool2,conv6k3p1,relu,maxpool2,flatten,dense10,relu,dense5")
                == "'FILE': '0.weight' of layer 0 (conv2d 1 → 5 kernel 3×3) has shape [4, 1, 3, 3], expected [5, 1, 3, 3]")
        #expect(message("conv4k3,relu,maxpool2,conv6k3,relu,maxpool2,flatten,dense10,relu,dense5")
                == "'FILE': '7.weight' of layer 7 (dense 6 → 10) has shape [10, 24], so the layer takes [24], but it receives [6] from layer 6 (flatten)")
        #expect(message("conv4k3,relu,maxpool2,conv6k3p1,relu,maxpool2,flatten,dense10,relu")
                == "'FILE': tensors '9.bias', '9.weight' belong to no layer")
        #expect(message(cnn2d, [3, 12, 12]) == "'FILE': '0.weight' of layer 0 (conv2d 3 → 4 kernel 3×3) has shape [4, 1, 3, 3], so the layer takes [1, H, W], but it receives [3, 12, 12] from the input")
    }
}
