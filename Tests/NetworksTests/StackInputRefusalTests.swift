import Datasets
import FileFormats
import Foundation
import Networks
import Testing
import TensorAlgebra

/// Whether `message` is `start` followed by the memory budget's sentence for `bytes` ("needs
/// 6.3 TB (6272000000000 bytes) of memory, more than the … allowed (80 % of the … of physical
/// memory)"; the limit is the machine's).
func refusesOverBudget(_ message: String, _ start: String, bytes: Int) -> Bool {
    message.hasPrefix(start + "needs ") && message.contains(" (\(bytes) bytes) of memory, more than the ")
        && message.hasSuffix(" of physical memory)")
}

/// Bad input to a convolutional stack — kernels larger than the padded input, windows that
/// leave no output, channel counts that do not chain, strings that do not parse, images of
/// another shape, sizes beyond the memory budget — refused in one line naming the layer and
/// the shapes, before anything of the size in question is allocated. (A case that allocated
/// first would not come back with an error here: terabytes of weights or buffers stop the
/// process instead.)
@Suite struct StackInputRefusalTests {
    func parsed(_ text: String, _ shape: [Int]) -> String {
        do { return "parsed \(try ArchitectureString.parse(text, inputShape: shape).layers.count) layers" } catch { return error.description }
    }

    @Test func windowsThatDoNotFitTheirInputNameTheTokenAndTheShapes() {
        #expect(parsed("conv4k9", [2, 8])
                == "architecture token 0 'conv4k9': (conv1d 2 → 4 kernel 9) takes [2, L] with room for its window (kernel 9 exceeds the padded input 8 (input 8, padding 0)) but receives [2, 8]")
        // The dilated span 4·(3 − 1) + 1 = 9 exceeds 8 + 2·0; padding 1 gives it room (10).
        #expect(parsed("conv4k3d4", [1, 8, 8])
                == "architecture token 0 'conv4k3d4': (conv2d 1 → 4 kernel 3×3 dilation 4×4) takes [1, H, W] with room for its window (kernel 3×3 (dilated 9×9) exceeds the padded input 8×8 (input 8×8, padding 0×0)) but receives [1, 8, 8]")
        #expect(parsed("conv4k3d4p1", [1, 8, 8]) == "parsed 1 layers")
        // A pool after a stride-2 convolution that left 2×2: no room for a 3×3 window.
        #expect(parsed("conv4k3s2,maxpool3", [1, 5, 5])
                == "architecture token 1 'maxpool3': (maxpool2d 3×3) takes [C, H, W] with room for its window (kernel 3×3 exceeds the padded input 2×2 (input 2×2, padding 0×0)) but receives [4, 2, 2]")
        #expect(parsed("avgpool2,avgpool2,avgpool2", [3, 5])
                == "architecture token 2 'avgpool2': (avgpool1d 2) takes [C, L] with room for its window (kernel 2 exceeds the padded input 1 (input 1, padding 0)) but receives [3, 1]")
        // Channels are implied, so what does not chain is a rank: a convolution after gap.
        #expect(parsed("conv4k3,gap,conv4k1", [1, 8, 8]) == "architecture token 2 'conv4k1': (conv) takes [C, L] or [C, H, W] but receives [4]")
        #expect(parsed("conv4k1000000000", [1, 8, 8]) == "architecture token 0 'conv4k1000000000': k, s, p and d go up to 999999999, got 1000000000")
        #expect(parsed("maxpool2s1000000000", [1, 8, 8]) == "architecture token 0 'maxpool2s1000000000': k, s and p go up to 999999999, got 1000000000")
        #expect(parsed("flatten,dense1234567890123456789", [1, 8, 8]) == "architecture token 1 'dense1234567890123456789': expected dense<n>[nb] with n ≥ 1")
    }

    @Test func sizesBeyondTheBudgetAreRefusedBeforeAnyWeight() {
        // dense 784 → 2·10⁹: 784·2·10⁹ + 2·10⁹ parameters, 4 bytes each in float32.
        let dense = 784 * 2_000_000_000 + 2_000_000_000
        let start = "architecture token 1 'dense2000000000': (dense 784 → 2000000000) has \(dense) parameters; holding them with the layers before it "
        #expect(refusesOverBudget(parsed("flatten,dense2000000000", [1, 28, 28]), start, bytes: dense * 4), "\(parsed("flatten,dense2000000000", [1, 28, 28]))")
        // Double doubles the bytes: the stack's own init checks in its scalar.
        var generator = SeededGenerator(seed: 1)
        do {
            _ = try LayerStack<Double>(architecture: "flatten,dense2000000000", inputShape: [1, 28, 28], using: &generator)
            Issue.record("built")
        } catch {
            #expect(refusesOverBudget(error.description, start, bytes: dense * 8), "\(error)")
        }
        // 10⁸ channels of 28×28 per sample: 7.84·10¹⁰ values, 4 bytes each, for one sample.
        #expect(refusesOverBudget(parsed("conv100000000k1", [1, 28, 28]),
                                  "architecture token 0 'conv100000000k1': (conv2d 1 → 100000000 kernel 1×1) outputs [100000000, 28, 28] per sample, which ",
                                  bytes: 100_000_000 * 784 * 4))
        // Padding 10⁹ − 1 makes planes of 2·10⁹ + 26 a side: more values than an Int counts.
        #expect(parsed("conv9k1p999999999", [1, 28, 28])
                == "architecture token 0 'conv9k1p999999999': (conv2d 1 → 9 kernel 1×1 padding 999999999×999999999) outputs [9, 2000000026, 2000000026] per sample, which holds more values than memory can address")
        #expect(parsed("flatten", [1 << 40, 1 << 40]) == "input shape [1099511627776, 1099511627776]: one sample holds more values than memory can address")
    }

    @Test func imagesOfAnotherShapeThanTheFirstLayerNameBothShapes() throws {
        var generator = SeededGenerator(seed: 3)
        let conv1d = try LayerStack<Float>(architecture: "conv4k3,relu,gap,dense3", inputShape: [1, 784], using: &generator)
        #expect(throws: LayerStackInputError.sampleShape(source: "images", sampleShape: [28, 28], inputShape: [1, 784],
                                                          firstLayer: "conv1d 1 → 4 kernel 3")) {
            try conv1d.checkSamples(shape: [28, 28], source: "images")
        }
        #expect(LayerStackInputError.sampleShape(source: "images", sampleShape: [28, 28], inputShape: [1, 784], firstLayer: "conv1d 1 → 4 kernel 3").description
                == "'images': samples of shape [28, 28] (784 values), but layer 0 (conv1d 1 → 4 kernel 3) takes [1, 784]; only a stack whose input is a vector flattens its samples")
        try conv1d.checkSamples(shape: [784], source: "sequences")
        let rgb = try LayerStack<Float>(architecture: "conv4k3,relu,gap,dense3", inputShape: [3, 28, 28], using: &generator)
        #expect(throws: LayerStackInputError.self) { try rgb.checkSamples(shape: [28, 28], source: "images") }
        let gray = try LayerStack<Float>(architecture: "conv4k3,relu,gap,dense3", inputShape: [1, 28, 28], using: &generator)
        try gray.checkSamples(shape: [28, 28], source: "images")
        try gray.checkSamples(shape: [1, 28, 28], source: "images")
        #expect(throws: LayerStackInputError.self) { try gray.checkSamples(shape: [784], source: "flat") }
        // A stack that takes a vector flattens any samples of as many values.
        let mlp = LayerStack<Float>.multilayerPerceptron(widths: [784, 5, 3], activation: .relu, using: &generator)
        try mlp.checkSamples(shape: [28, 28], source: "images")
        #expect(throws: LayerStackInputError.self) { try mlp.checkSamples(shape: [27, 28], source: "images") }
        let data = try TensorDataset(features: Array(repeating: 0, count: 2 * 784), sampleShape: [28, 28], labels: [0, 1])
        #expect(throws: LayerStackInputError.self) { try conv1d.checkSamples(of: data) }
    }

    /// The estimate, written out for conv4k3,relu,gap,dense10 on [1, 8, 8] (float32): shapes
    /// 64, 144, 144, 4, 10 values (366); the ReLU's pattern 144; the convolution's columns
    /// [1·9, 6·6] = 324; parameters 4·9 + 4 + 4·10 + 10 = 90.
    @Test func trainingMemoryIsEstimatedFromTheShapesAndRefusedOverTheLimit() throws {
        var generator = SeededGenerator(seed: 4)
        let stack = try LayerStack<Float>(architecture: "conv4k3,relu,gap,dense10", inputShape: [1, 8, 8], using: &generator)
        let expected = 4 * (4 * 90 + 324 + 5 * (2 * 366 + 144) + 3 * (366 + 144))
        #expect(stack.estimatedTrainingBytes(batchSize: 5, evaluationBatchSize: 3) == Double(expected))
        // An upper bound of what a workspace that ran forward and backward holds.
        let workspace = stack.makeWorkspace(batchSize: 5)
        stack.forward(Tensor<Float>.zeros([5, 1, 8, 8]), in: workspace)
        stack.backward(Tensor<Float>.zeros([5, 10]), in: workspace)
        #expect(Double(workspace.allocatedBytes) <= stack.estimatedTrainingBytes(batchSize: 5))
        try stack.checkTrainingMemory(batchSize: 5, evaluationBatchSize: 3, limit: expected)
        #expect(throws: LayerStackInputError.exceedsMemory(batchSize: 5, evaluationBatchSize: 3, estimatedBytes: expected, limitBytes: expected - 1,
                                                            largestLayer: 0, kind: "conv2d 1 → 4 kernel 3×3", outputShape: [4, 6, 6])) {
            try stack.checkTrainingMemory(batchSize: 5, evaluationBatchSize: 3, limit: expected - 1)
        }
        // 10⁵ channels of 26×26 through ReLU: 128 samples need tens of GB, refused before any workspace.
        let wide = try LayerStack<Float>(architecture: "conv100000k3,relu,gap,dense10", inputShape: [1, 28, 28], using: &generator)
        do { try wide.checkTrainingMemory(batchSize: 128, limit: 1_000_000_000); Issue.record("allowed") } catch {
            #expect(error.description.hasPrefix("training on batches of 128 needs "), "\(error)")
            #expect(error.description.hasSuffix("; the largest buffers are layer 0's (conv2d 1 → 100000 kernel 3×3) outputs, [100000, 26, 26] per sample"), "\(error)")
        }
    }
}

/// Stack files whose architecture claims more than their tensors: refused naming the tensor
/// and both shapes, before the claimed weights are allocated.
@Suite struct HostileStackFileTests {
    func load(_ layers: String, inputShape: String = "[1, 8, 8]", tensors: [String: [Int]]) -> String {
        var file = SafetensorsFile()
        for (name, shape) in tensors { file.set(name, Tensor<Float>.zeros(shape)) }
        let json = #"{"format":"isometry-layer-stack/1","input_shape":\#(inputShape),"layers":[\#(layers)]}"#
        do {
            let architecture = try LayerStack<Float>.decodeArchitecture(json, path: "f")
            return "read \(try LayerStack<Float>(architecture: architecture, parameters: file, path: "f").layerCount) layers"
        } catch { return error.description }
    }

    @Test func claimsBeyondTheFileAreNamedBeforeAllocation() {
        // 10¹² output channels: 36 TB of float32 weight claimed, 144 bytes held.
        #expect(load(#"{"kind":"conv2d","in_channels":1,"out_channels":1000000000000,"kernel":[3,3]}"#, tensors: ["0.weight": [4, 1, 3, 3], "0.bias": [4]])
                == "'f': '0.weight' of layer 0 (conv2d 1 → 1000000000000 kernel 3×3) has shape [4, 1, 3, 3], expected [1000000000000, 1, 3, 3]")
        // A weight product that overflows Int.
        #expect(load(#"{"kind":"dense","inputs":4611686018427387904,"outputs":4}"#, inputShape: "[4]", tensors: ["0.weight": [4, 4], "0.bias": [4]])
                == "'f': '0.weight' of layer 0 (dense 4611686018427387904 → 4) has shape [4, 4], expected [4, 4611686018427387904]")
        #expect(load(#"{"kind":"conv2d","in_channels":1,"out_channels":4,"kernel":[3,3],"padding":[4611686018427387904,0]}"#,
                     tensors: ["0.weight": [4, 1, 3, 3], "0.bias": [4]])
                == "'f': layer 0 (conv2d) padding must be a list of 2 whole numbers from 0 to 999999999")
        #expect(load(#"{"kind":"flatten"}"#, inputShape: "[4294967296, 4294967296]", tensors: [:])
                == "'f': metadata 'isometry.architecture' is not a layer-stack architecture: input_shape [4294967296, 4294967296]: one sample holds more values than memory can address")
        // Padding 99999 makes planes of 200006 a side: 4·10¹⁰ values, 160 GB for one sample.
        #expect(refusesOverBudget(load(#"{"kind":"conv2d","in_channels":1,"out_channels":1,"kernel":[1,1],"padding":[99999,99999]}"#,
                                       tensors: ["0.weight": [1, 1, 1, 1], "0.bias": [1]]),
                                  "'f': layer 0 (conv2d 1 → 1 kernel 1×1 padding 99999×99999) outputs [1, 200006, 200006] per sample, which ",
                                  bytes: 200_006 * 200_006 * 4))
        #expect(load(#"{"kind":"conv2d","in_channels":1,"out_channels":9,"kernel":[1,1],"padding":[999999999,999999999]}"#,
                     tensors: ["0.weight": [9, 1, 1, 1], "0.bias": [9]])
                == "'f': layer 0 (conv2d 1 → 9 kernel 1×1 padding 999999999×999999999) outputs [9, 2000000006, 2000000006] per sample, which holds more values than memory can address")
    }

    @Test func channelsThatDoNotChainNameTheLayerBefore() {
        let conv = #"{"kind":"conv2d","in_channels":1,"out_channels":4,"kernel":[3,3]},{"kind":"relu"},"#
        // The description says 5 input channels where the layer before gives 4.
        #expect(load(conv + #"{"kind":"conv2d","in_channels":5,"out_channels":2,"kernel":[3,3]}"#,
                     tensors: ["0.weight": [4, 1, 3, 3], "0.bias": [4], "2.weight": [2, 5, 3, 3], "2.bias": [2]])
                == "'f': layer 2 (conv2d 5 → 2 kernel 3×3) takes [5, H, W] but receives [4, 6, 6] from layer 1 (relu)")
        // The description agrees with the layer before, the tensor was made for 5 channels.
        #expect(load(conv + #"{"kind":"conv2d","in_channels":4,"out_channels":2,"kernel":[3,3]}"#,
                     tensors: ["0.weight": [4, 1, 3, 3], "0.bias": [4], "2.weight": [2, 5, 3, 3], "2.bias": [2]])
                == "'f': '2.weight' of layer 2 (conv2d 4 → 2 kernel 3×3) has shape [2, 5, 3, 3], so the layer takes [5, H, W], but it receives [4, 6, 6] from layer 1 (relu)")
    }
}
