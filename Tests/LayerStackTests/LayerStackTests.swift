import Foundation
import Testing
import FileFormats
import Networks
@_spi(RawBLAS) import TensorAlgebra

func dot<Scalar: BLASScalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>) -> Double {
    zip(a.scalars, b.scalars).reduce(0) { $0 + Double($1.0) * Double($1.1) }
}

@Suite struct LinearisationTests {
    /// ⟨J·v, u⟩ = ⟨v, Jᵀ·u⟩ for several directions at one point, and for one direction per point.
    @Test(arguments: doubleVariants) func jvpAndVjpAreAdjoint(_ variant: Variant) throws {
        let stack = try LayerStack<Double>(pytorchStateDict: fixtureURL(variant.tag, "safetensors"), activation: variant.activation)
        let x: Tensor<Double> = try numpy("\(variant.tag)_inputs")
        var generator = SeededGenerator(seed: 7)
        let v = Tensor<Double>.randomNormal([8, 20], using: &generator)
        let u = Tensor<Double>.randomNormal([8, 5], using: &generator)
        var worst = 0.0
        for (batch, point) in [(1, x.rows(2 ..< 3)), (8, x)] {
            let workspace = stack.makeWorkspace(batchSize: batch, tangentCount: 8)
            stack.forward(point, in: workspace)
            stack.jvp(v, in: workspace)
            stack.vjp(u, in: workspace)
            for k in 0 ..< 8 {
                let left = dot(workspace.tangentOutput.row(k), u.row(k))
                let right = dot(v.row(k), workspace.inputGradient.row(k))
                worst = max(worst, abs(left - right) / max(abs(left), 1e-300))
            }
        }
        #expect(worst <= 1e-13)
        print("\(variant.tag): adjointness relative gap \(worst)")
    }

    /// F(x) = W(x)·x + b(x) at x, and at points near x with the same activation pattern (the
    /// region on which a piecewise-linear stack is that affine map).
    @Test(arguments: [Variant(tag: "relu_f64", activation: .relu)] + floatVariants)
    func piecewiseLinearStacksAreTheirLinearisation(_ variant: Variant) throws {
        // Float fixtures are read in double precision, so the check is to 1e-12 for all.
        let stack = try LayerStack<Double>(pytorchStateDict: fixtureURL(variant.tag, "safetensors"), activation: variant.activation)
        let inputs: Tensor<Double> = (variant.tag.hasSuffix("f32") ? try numpy("\(variant.tag)_inputs", as: Float.self).converted() : try numpy("\(variant.tag)_inputs"))
        var generator = SeededGenerator(seed: 3)
        var worst = 0.0
        for i in 0 ..< 8 {
            let x = inputs.row(i)
            let (w, b) = stack.linearization(at: x)
            #expect(w.shape == [5, 20] && b.shape == [5])
            let nearby = x + Tensor<Double>.randomNormal([20], standardDeviation: 1e-6, using: &generator)
            let patterns = { (point: Tensor<Double>) -> [[Double]] in
                let workspace = stack.makeWorkspace(batchSize: 1)
                stack.forward(point.reshaped([1, 20]), in: workspace)
                return workspace.patterns.map(\.scalars)
            }
            #expect(patterns(x) == patterns(nearby))
            for point in [x, nearby] {
                let affine = matvec(w, point) + b
                worst = max(worst, relativeError(affine, stack(point)))
            }
        }
        #expect(worst <= 1e-12)
        print("\(variant.tag): completeness relative error \(worst)")
    }

    @Test func reluPatternsAreTheActiveUnits() throws {
        let stack = try LayerStack<Double>(pytorchStateDict: fixtureURL("relu_f64", "safetensors"), activation: .relu)
        let workspace = stack.makeWorkspace(batchSize: 8)
        stack.forward(try numpy("relu_f64_inputs"), in: workspace)
        #expect(workspace.patterns[0].count == 0 && workspace.patterns[4].count == 0)   // dense layers: no pattern
        #expect(workspace.patterns[1].scalars == workspace.activations[1].scalars.map { $0 > 0 ? 1 : 0 })
        #expect(workspace.patterns[3].scalars == workspace.activations[3].scalars.map { $0 > 0 ? 1 : 0 })
    }

    @Test func flattenFeedsADenseLayer() {
        var generator = SeededGenerator(seed: 5)
        let stack = LayerStack<Double>(inputShape: [2, 3, 4]) {
            Flatten()
            Dense(inputs: 24, outputs: 6, using: &generator)
            ActivationLayer(.tanh)
            Dense(inputs: 6, outputs: 3, bias: false, using: &generator)
        }
        #expect(stack.shapes == [[2, 3, 4], [24], [6], [6], [3]])
        let x = Tensor<Double>.randomNormal([5, 2, 3, 4], using: &generator)
        let dense = stack.layers[1] as! Dense<Double>, last = stack.layers[3] as! Dense<Double>
        let product: Tensor<Double> = matmul(x.reshaped([5, 24]), dense.weight, transposeB: true) + dense.bias!
        let hidden = product.map { Double.tanh($0) }
        #expect(relativeError(stack(x), matmul(hidden, last.weight, transposeB: true)) <= 1e-15)
        #expect(stack.jacobian(at: x.row(0)).shape == [3, 24])
        // The input gradient comes back in the input's shape.
        let workspace = stack.makeWorkspace(batchSize: 5)
        stack.forward(x, in: workspace)
        stack.backward(Tensor.ones([5, 3]), in: workspace)
        #expect(workspace.inputGradient.shape == [5, 2, 3, 4])
        #expect(relativeError(workspace.inputGradient.row(0).reshaped([1, 24]),
                              matmul(Tensor<Double>.ones([1, 3]), stack.jacobian(at: x.row(0)))) <= 1e-14)
    }

    @Test func aMultilayerPerceptronIsTheSameFunctionAsAStack() {
        var generator = SeededGenerator(seed: 4)
        for activation in Activation.allCases {
            let weights = (0 ..< 3).map { _ in Tensor<Double>.randomNormal([6, 6], standardDeviation: 0.5, using: &generator) }
            let biases = (0 ..< 3).map { _ in Optional(Tensor<Double>.randomNormal([6], using: &generator)) }
            let network = MultilayerPerceptron(weights: weights, biases: biases, activation: activation)
            let stack = LayerStack(network)
            let x = Tensor<Double>.randomNormal([5, 6], using: &generator)
            #expect(relativeError(stack(x), network(x)) <= 1e-15, "\(activation)")
            #expect(stack.parameterNames == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"])
        }
    }

    @Test func theLastLayerIsLinearByDefault() {
        var generator = SeededGenerator(seed: 1)
        let stack = LayerStack<Float>.multilayerPerceptron(widths: [20, 30, 16, 5], activation: .relu, using: &generator)
        #expect(stack.layers.map(\.layerDescription.kind) == ["dense", "relu", "dense", "relu", "dense"])
        #expect(stack.parameterCount == 20 * 30 + 30 + 30 * 16 + 16 + 16 * 5 + 5)
    }
}

@Suite struct WorkspaceTests {
    /// After the first pass, forward, backward (with parameter gradients), J·v and an SGD step
    /// on the parameters write into the same storage: no tensor is allocated per step.
    @Test func passesAllocateNoStorageAfterTheFirst() throws {
        var stack = try LayerStack<Float>(pytorchStateDict: fixtureURL("leaky_f32", "safetensors"), activation: .leakyReLU(slope: 0.1))
        let inputs: Tensor<Float> = try numpy("leaky_f32_inputs")
        let cotangent: Tensor<Float> = try numpy("leaky_f32_cotangent")
        let workspace = stack.makeWorkspace(batchSize: 4)
        func step(_ s: Int) {
            let batch = inputs.rows(4 * (s % 2) ..< 4 * (s % 2) + 4)
            stack.forward(batch, in: workspace)
            stack.backward(cotangent.rows(0 ..< 4), in: workspace)
            stack.jvp(batch, in: workspace)
            stack.updateParameters { l, i, parameter in parameter.addScaled(workspace.parameterGradients[l][i], by: -0.01) }
        }
        func addresses() -> [UnsafePointer<Float>] {
            var buffers: [Tensor<Float>] = Array(workspace.activations.dropFirst())
            buffers += workspace.patterns.filter { $0.count > 0 }
            buffers += workspace.tangents.dropFirst()
            buffers += workspace.cotangents.dropLast()
            buffers += workspace.parameterGradients.joined()
            buffers += stack.parameters.map { $0.value }
            return buffers.map { $0.unsafeReadAddress }
        }
        step(0)
        let first = addresses(), bytes = workspace.allocatedBytes
        for s in 1 ..< 6 { step(s) }
        #expect(addresses() == first)
        #expect(workspace.allocatedBytes == bytes)
        // Layer outputs, the two activation layers' patterns, tangents (as the outputs),
        // cotangents (the input gradient and every layer's but the last's) and gradients.
        let outputs = 4 * (30 + 30 + 16 + 16 + 5)
        let cotangents = 4 * (20 + 30 + 30 + 16 + 16)
        #expect(bytes == 4 * (outputs + 4 * (30 + 16) + outputs + cotangents + stack.parameterCount))
    }

    @Test func aCopyOfAParameterIsLeftAsItWas() throws {
        var stack = try LayerStack<Double>(pytorchStateDict: fixtureURL("relu_f64", "safetensors"), activation: .relu)
        let kept = stack
        stack.updateParameters { _, _, parameter in parameter += 1 }
        #expect(zip(kept.parameters, stack.parameters).allSatisfy { $0.value.scalars.map { $0 + 1 } == $1.value.scalars })
    }
}

/// A layer of a user's own: y = w ⊙ x, one weight per unit.
struct Scale<Scalar: BLASScalar>: Layer {
    var weight: Tensor<Scalar>
    var layerDescription: LayerDescription { LayerDescription(kind: "scale", attributes: ["width": .int(weight.count)]) }
    func outputShape(forInput shape: [Int]) throws(LayerShapeMismatch) -> [Int] {
        guard shape == weight.shape else { throw LayerShapeMismatch(expected: "\(weight.shape)") }
        return shape
    }
    var parameterNames: [String] { ["weight"] }
    var parameters: [Tensor<Scalar>] { [weight] }
    mutating func updateParameters(_ body: (Int, inout Tensor<Scalar>) -> Void) { body(0, &weight) }
    func forward(_ input: Tensor<Scalar>, into output: inout Tensor<Scalar>, pattern: inout Tensor<Scalar>) {
        jvp(input, pattern: pattern, into: &output)
    }
    func jvp(_ tangent: Tensor<Scalar>, pattern: Tensor<Scalar>, into output: inout Tensor<Scalar>) {
        output.assign(tangent * weight)
    }
    func vjp(_ cotangent: Tensor<Scalar>, pattern: Tensor<Scalar>, into inputCotangent: inout Tensor<Scalar>) {
        inputCotangent.assign(cotangent * weight)
    }
}

@Suite struct FileTests {
    func temporaryURL() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("layer-stack-\(UUID().uuidString).safetensors")
    }

    @Test func writeThenReadGivesTheSameStack() throws {
        let stack = try LayerStack<Float>(pytorchStateDict: fixtureURL("leaky_f32", "safetensors"), activation: .leakyReLU(slope: 0.1))
        let url = temporaryURL()
        defer { try? FileManager.default.removeItem(at: url) }
        try stack.write(to: url, metadata: ["note": "test"])
        let read = try LayerStack<Float>(contentsOf: url)
        #expect(read.architecture == stack.architecture)
        #expect(read.parameters.map(\.name) == stack.parameters.map(\.name))
        #expect(zip(read.parameters, stack.parameters).allSatisfy { $0.value == $1.value })
        let x: Tensor<Float> = try numpy("leaky_f32_inputs")
        #expect(read(x) == stack(x))
        // The same file is a PyTorch state dict of the same nn.Sequential.
        let again = try LayerStack<Float>(pytorchStateDict: url, activation: "leaky-relu:0.1")
        #expect(again.architecture == stack.architecture)
        let file = try SafetensorsFile(contentsOf: url)
        #expect(file.metadata["note"] == "test")
        #expect(file.metadata[LayerStackArchitecture.metadataKey] == """
            {"format":"isometry-layer-stack/1","input_shape":[20],"layers":[{"bias":true,"inputs":20,"kind":"dense","outputs":30},\
            {"kind":"leaky-relu","slope":0.1},{"bias":true,"inputs":30,"kind":"dense","outputs":16},{"kind":"leaky-relu","slope":0.1},\
            {"bias":true,"inputs":16,"kind":"dense","outputs":5}]}
            """)
    }

    @Test func aStackWithFlattenNoBiasAndACustomLayerRoundTrips() throws {
        var generator = SeededGenerator(seed: 9)
        let stack = LayerStack<Double>(inputShape: [2, 3]) {
            Flatten()
            Scale(weight: .randomNormal([6], using: &generator))
            Dense(inputs: 6, outputs: 4, bias: false, using: &generator)
            ActivationLayer(.erf)
        }
        #expect(stack.parameterNames == ["1.weight", "2.weight"])
        let url = temporaryURL()
        defer { try? FileManager.default.removeItem(at: url) }
        try stack.write(to: url)
        #expect(throws: LayerStackError.self) { try LayerStack<Double>(contentsOf: url) }
        let read = try LayerStack<Double>(contentsOf: url) { description in
            description.kind == "scale" ? Scale<Double>(weight: .zeros([description.integer("width")!])) : nil
        }
        #expect(read.architecture == stack.architecture)
        let x = Tensor<Double>.randomNormal([3, 2, 3], using: &generator)
        #expect(read(x) == stack(x))
    }

    /// A PyTorch-like state dict of the relu fixture, to break.
    func stateDict() throws -> SafetensorsFile {
        try SafetensorsFile(contentsOf: fixtureURL("relu_f32", "safetensors"))
    }

    func message(_ body: () throws(LayerStackError) -> Void) -> String {
        do { try body() } catch { return error.description }
        return "no error"
    }

    @Test func badStateDictsAreNamedInOneLine() throws {
        let path = "model.safetensors"
        func load(_ file: SafetensorsFile, _ activations: [Nonlinearity] = [.relu, .relu]) -> String {
            message { () throws(LayerStackError) in _ = try LayerStack<Float>(stateDict: file, path: path, activations: activations) }
        }
        var extra = try stateDict()
        extra.set("5.running_mean", Tensor<Float>.zeros([5]))
        #expect(load(extra) == "'model.safetensors': tensor '5.running_mean' belongs to no layer")

        var orphan = try stateDict()
        orphan.entries["2.weight"] = nil
        #expect(load(orphan, [.relu]) == "'model.safetensors': tensor '2.bias' belongs to no layer")

        var unchained = try stateDict()
        unchained.set("2.weight", Tensor<Float>.zeros([16, 31]))
        #expect(load(unchained) == "'model.safetensors': layer 2 (dense 31 → 16) takes [31] but receives [30] from layer 1 (relu)")

        var firstBias = try stateDict()
        firstBias.set("0.bias", Tensor<Float>.zeros([31]))
        #expect(load(firstBias) == "'model.safetensors': '0.bias' of layer 0 (dense 20 → 30) has shape [31], expected [30]")

        var vector = try stateDict()
        vector.set("0.weight", Tensor<Float>.zeros([30]))
        #expect(load(vector) == "'model.safetensors': '0.weight' of layer 0 (dense) has shape [30], expected a non-empty matrix [outputs, inputs]")

        #expect(load(try stateDict(), [.relu]) == "'model.safetensors': 1 activation for 3 dense layers; expected 2 (one after every dense layer but the last, whose outputs are the logits)")
        #expect(load(try stateDict(), [.relu, .relu, .relu]) == "'model.safetensors': 3 activations for 3 dense layers; expected 2 (one after every dense layer but the last, whose outputs are the logits)")

        #expect(load(SafetensorsFile(), []) == "'model.safetensors': no '<index>.weight' tensor (a PyTorch nn.Sequential state dict names them 0.weight, 2.weight, …), found: nothing")

        var infinite = try stateDict()
        var weight: Tensor<Float> = infinite.tensor("2.weight")!
        weight[3, 4] = .nan
        weight[0, 0] = .infinity
        infinite.set("2.weight", weight)
        #expect(load(infinite) == "'model.safetensors': '2.weight' holds 2 NaN or infinite values")

        let missing = URL(fileURLWithPath: "/nonexistent/model.safetensors")
        #expect(message { () throws(LayerStackError) in _ = try LayerStack<Float>(pytorchStateDict: missing, activation: .relu) }
                == "/nonexistent/model.safetensors: cannot read: no such file")
        #expect(message { () throws(LayerStackError) in _ = try LayerStack<Float>(pytorchStateDict: fixtureURL("relu_f32", "safetensors"), activation: "swish") }
                == "'\(fixtureURL("relu_f32", "safetensors").path)': unknown activation 'swish' (expected one of relu, leaky-relu, hard-tanh, tanh, erf, identity)")
    }

    @Test func badArchitecturesAreNamedInOneLine() throws {
        let path = "stack.safetensors"
        var generator = SeededGenerator(seed: 2)
        let stack = LayerStack<Float>.multilayerPerceptron(widths: [4, 3, 2], activation: .relu, using: &generator)
        func load(_ file: SafetensorsFile) -> String {
            message { () throws(LayerStackError) in
                guard let json = file.metadata[LayerStackArchitecture.metadataKey] else {
                    throw LayerStackError(path: path, problem: .missingArchitecture)
                }
                _ = try LayerStack<Float>(architecture: try LayerStack<Float>.decodeArchitecture(json, path: path), parameters: file, path: path)
            }
        }
        func with(_ json: String) -> SafetensorsFile {
            var file = stack.safetensorsFile()
            file.metadata[LayerStackArchitecture.metadataKey] = json
            return file
        }
        #expect(load(stack.safetensorsFile()) == "no error")

        var noBias = stack.safetensorsFile()
        noBias.entries["2.bias"] = nil
        #expect(load(noBias) == "'stack.safetensors': layer 2 (dense 3 → 2) needs tensor '2.bias' of shape [2], not in the file")

        var extra = stack.safetensorsFile()
        extra.set("optimizer.step", Tensor<Float>.zeros([1]))
        #expect(load(extra) == "'stack.safetensors': tensor 'optimizer.step' belongs to no layer")

        var noMetadata = stack.safetensorsFile()
        noMetadata.metadata = [:]
        #expect(load(noMetadata) == "'stack.safetensors': no 'isometry.architecture' metadata; for a PyTorch state dict pass the activations (e.g. activation: .relu)")

        #expect(load(with("[1, 2")) == "'stack.safetensors': metadata 'isometry.architecture' is not a layer-stack architecture: not JSON")
        #expect(load(with(#"{"format":"isometry-layer-stack/1","layers":[]}"#))
                == "'stack.safetensors': metadata 'isometry.architecture' is not a layer-stack architecture: missing \"input_shape\"")
        #expect(load(with(#"{"format":"isometry-layer-stack/2","input_shape":[4],"layers":[{"kind":"flatten"}]}"#))
                == "'stack.safetensors': metadata 'isometry.architecture' is not a layer-stack architecture: format \"isometry-layer-stack/2\", expected \"isometry-layer-stack/1\"")
        #expect(load(with(#"{"format":"isometry-layer-stack/1","input_shape":[4],"layers":[{"kind":"dense","inputs":4,"outputs":3},{"kind":"conv9d"}]}"#))
                == "'stack.safetensors': layer 1 has unknown kind 'conv9d' (known: dense, flatten, conv1d, conv2d, maxpool1d, maxpool2d, avgpool1d, avgpool2d, global-avgpool, relu, leaky-relu, hard-tanh, tanh, erf, identity)")
        #expect(load(with(#"{"format":"isometry-layer-stack/1","input_shape":[4],"layers":[{"kind":"dense","inputs":4,"outputs":0}]}"#))
                == "'stack.safetensors': layer 0 (dense) needs whole numbers inputs ≥ 1 and outputs ≥ 1")
        #expect(load(with(#"{"format":"isometry-layer-stack/1","input_shape":[5],"layers":[{"kind":"dense","inputs":4,"outputs":3}]}"#))
                == "'stack.safetensors': layer 0 (dense 4 → 3) takes [4] but receives [5] from the input")
        let header = #"{"format":"isometry-layer-stack/1","input_shape":[4],"layers":["#
        #expect(load(with(header + #"{"kind":"dense","inputs":4,"outputs":3,"bias":1}]}"#))
                == "'stack.safetensors': layer 0 (dense) bias must be true or false")
        #expect(load(with(header + #"{"kind":"leaky-relu","slope":"steep"}]}"#))
                == "'stack.safetensors': layer 0 (leaky-relu) slope must be a finite number")
        #expect(load(with(#"{"format":"isometry-layer-stack/1","input_shape":[0],"layers":[{"kind":"flatten"}]}"#))
                == "'stack.safetensors': metadata 'isometry.architecture' is not a layer-stack architecture: input_shape [0], expected extents ≥ 1")
        #expect(load(with(header + "]}"))
                == "'stack.safetensors': metadata 'isometry.architecture' is not a layer-stack architecture: no layers")
        var wide = stack.safetensorsFile()
        wide.set("0.weight", Tensor<Float>.zeros([3, 5]))
        #expect(load(wide) == "'stack.safetensors': '0.weight' of layer 0 (dense 4 → 3) has shape [3, 5], so the layer takes [5], but it receives [4] from the input")
    }
}
