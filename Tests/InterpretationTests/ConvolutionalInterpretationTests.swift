import Datasets
import Foundation
import Networks
import Testing
import TensorAlgebra
@testable import Interpretation

// The interpreter on convolutional stacks, against PyTorch (Scripts/make_cnn_interpretation_fixtures.py):
// torch.func.jacrev for W(x), module outputs and autograd gradients for the switched projections.

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

/// One PyTorch CNN of the fixtures and its reference numbers.
struct CNNFixture {
    let folder: URL
    let prefix: String
    let architecture: String
    let inputShape: [Int]

    static let cnn2d = CNNFixture(folder: fixtures.appendingPathComponent("CNNInterpretation"), prefix: "cnn2d_",
                                  architecture: "conv4k3p1,hard-tanh,maxpool3s2,conv6k3,relu,avgpool2s1,flatten,dense8,leaky-relu:0.1,dense5",
                                  inputShape: [2, 12, 12])
    static let cnn1d = CNNFixture(folder: fixtures.appendingPathComponent("CNNInterpretation"), prefix: "cnn1d_",
                                  architecture: "conv3k5s2,leaky-relu:0.05,maxpool2,conv4k3p2d2,identity,gap,dense3", inputShape: [2, 40])
    static let fashion = CNNFixture(folder: fixtures.appendingPathComponent("FashionCNN"), prefix: "",
                                    architecture: "conv32k3,relu,maxpool2,conv64k3,relu,maxpool2,flatten,dense128,relu,dense10",
                                    inputShape: [1, 28, 28])

    func url(_ name: String) -> URL { folder.appendingPathComponent(prefix + name) }
    func stack<Scalar: BLASScalar>(_: Scalar.Type) throws -> LayerStack<Scalar> {
        try LayerStack<Scalar>(pytorchStateDict: url("model.safetensors"), architecture: architecture, inputShape: inputShape)
    }
    func array<Scalar: BLASScalar>(_ name: String, as _: Scalar.Type = Double.self) throws -> Tensor<Scalar> {
        try Tensor<Scalar>(contentsOfNumpyFile: url(name))
    }
    func integers(_ name: String) throws -> [Int] { try array(name).scalars.map { Int($0) } }
}

/// max |a − b| / max |b|: the error of a whole map relative to its largest entry.
func relativeToLargest(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "\(a.count) vs \(b.count) values")
    return zip(a, b).map { abs($0 - $1) }.max()! / max(b.map(abs).max()!, .leastNormalMagnitude)
}

extension Tensor {
    var doubles: [Double] { scalars.map { Double($0) } }
}

@Suite struct ConvolutionalLinearisationTests {
    /// W(x) is torch.func.jacrev's Jacobian and F(x) PyTorch's output, per input, to 1e-5 of the
    /// largest entry in float32 (sums of up to 72 products and a 3×3 pool in another order: a
    /// few ulps) and 1e-10 in float64 (the same sums in double: ~1e-15, far below); completeness
    /// holds to 1e-5 and 1e-12.
    @Test(arguments: [CNNFixture.cnn2d, .cnn1d])
    func matchesJacrevAndIsComplete(_ fixture: CNNFixture) throws {
        let float = try fixture.stack(Float.self), double = try fixture.stack(Double.self)
        let inputs = try fixture.array("inputs.npy", as: Float.self)
        let count = inputs.shape[0]
        let jacobians32 = try fixture.array("jacobians32.npy", as: Float.self), outputs = try fixture.array("outputs.npy", as: Float.self)
        let linear = try StackLinearisation(float, inputs: inputs)
        let outputCount = float.outputShape[0], width = inputs.count / count
        #expect(linear.weights.shape == [count, outputCount, width])
        #expect(linear.completenessError <= 1e-5, "\(linear.completenessError)")
        for i in 0 ..< count {
            let error = relativeToLargest(linear.weights.row(i).doubles, jacobians32.row(i).doubles)
            #expect(error <= 1e-5, "\(fixture.prefix) input \(i): W(x) differs from jacrev by \(error)")
            #expect(relativeToLargest(linear.outputs.row(i).doubles, outputs.row(i).doubles) <= 1e-5, "input \(i)")
        }
        let jacobians64 = try fixture.array("jacobians64.npy", as: Double.self)
        let exact = try StackLinearisation(double, inputs: inputs.converted(to: Double.self).rows(0 ..< jacobians64.shape[0]))
        #expect(exact.completenessError <= 1e-12, "\(exact.completenessError)")
        for i in 0 ..< jacobians64.shape[0] {
            let error = relativeToLargest(exact.weights.row(i).scalars, jacobians64.row(i).scalars)
            #expect(error <= 1e-10, "\(fixture.prefix) input \(i): W(x) differs from jacrev by \(error) in float64")
        }
    }

    /// Each layer's share of b(x) is its intercept — a convolution's bias at every position of
    /// its channel, an activation's constants s = φ(h) − P ⊙ h — carried forward through the
    /// layers above by their jvp (forward mode, an independent path); the shares sum to b(x).
    /// The hard-tanh layer of cnn2d saturates and its max pool picks saturated winners, so its
    /// share is far from zero.
    @Test func layerBiasSharesAreTheInterceptsCarriedForward() throws {
        let stack = try CNNFixture.cnn2d.stack(Double.self)
        let inputs = try CNNFixture.cnn2d.array("inputs.npy", as: Double.self)
        let linear = try StackLinearisation(stack, inputs: inputs)
        let count = inputs.shape[0], o = linear.units.count
        let workspace = stack.makeWorkspace(batchSize: count)
        stack.forward(inputs, in: workspace)
        var saturatedShare = 0.0, saturatedWinners = 0
        for l in 0 ..< stack.layerCount {
            // c_l: the layer's intercept per input.
            var intercept = Tensor<Double>.zeros([count] + stack.shapes[l + 1])
            let layer = stack.layers[l]
            if layer is ActivationLayer<Double> {
                intercept = workspace.activations[l + 1] - workspace.activations[l] * workspace.patterns[l]
            } else if layer is Conv2d<Double>, let bias = layer.parameters.last, layer.parameterNames.last == "bias" {
                let plane = stack.shapes[l + 1].dropFirst().reduce(1, *)
                intercept.withUnsafeMutableBufferPointer { c in
                    for i in 0 ..< c.count { c[i] = bias[(i / plane) % bias.count] }
                }
            } else if let dense = layer as? Dense<Double>, let bias = dense.bias {
                intercept.withUnsafeMutableBufferPointer { c in for i in 0 ..< c.count { c[i] = bias[i % bias.count] } }
            }
            for m in l + 1 ..< stack.layerCount {
                var next = Tensor<Double>.zeros([count] + stack.shapes[m + 1])
                stack.layers[m].jvp(intercept, pattern: workspace.patterns[m], into: &next)
                intercept = next
            }
            let share = linear.layerBiasShares.row(l)
            #expect(relativeError(share.scalars, intercept.scalars) <= 1e-12, "layer \(l)")
            if l == 1 { saturatedShare = share.scalars.map(abs).max()! }
        }
        let summed = (0 ..< stack.layerCount).reduce(Tensor<Double>.zeros([count, o])) { $0 + linear.layerBiasShares.row($1) }
        #expect(relativeError(summed.scalars, linear.biases.scalars) <= 1e-12)
        // Saturated units among the max pool's winners: their ±1 reaches the output.
        let (h, winners) = (workspace.activations[1], workspace.patterns[2])
        for i in 0 ..< count {
            for c in 0 ..< 4 {
                for w in 0 ..< 25 where abs(h[i, c, Int(winners[i, c, w / 5, w % 5]) / 12, Int(winners[i, c, w / 5, w % 5]) % 12]) >= 1 {
                    saturatedWinners += 1
                }
            }
        }
        #expect(saturatedWinners > 100 && saturatedShare > 0.1, "\(saturatedWinners) saturated winners, share \(saturatedShare)")
    }

    /// Chunks cut anywhere and spread over threads give the same numbers (the rows of an
    /// instance never meet another's).
    @Test func chunksAndThreadsDoNotChangeTheNumbers() throws {
        let stack = try CNNFixture.cnn2d.stack(Double.self)
        let inputs = try CNNFixture.cnn2d.array("inputs.npy", as: Double.self)
        let whole = StackLinearisation(checked: stack, inputs: inputs, units: 0 ..< 5, threads: 1)
        for (chunk, threads) in [(1, 1), (4, 1), (1, 2), (2, 3)] {
            let cut = StackLinearisation(checked: stack, inputs: inputs, units: 0 ..< 5, chunk: chunk, threads: threads)
            // Forward GEMMs of other row counts may round differently: 1e-14, not equality.
            #expect(relativeError(cut.outputs.scalars, whole.outputs.scalars) <= 1e-14, "chunk \(chunk), threads \(threads)")
            #expect(relativeError(cut.weights.scalars, whole.weights.scalars) <= 1e-14, "chunk \(chunk)")
            #expect(relativeError(cut.layerBiasShares.scalars, whole.layerBiasShares.scalars) <= 1e-14, "chunk \(chunk)")
            #expect(cut.activity == whole.activity)
        }
        // Two units of the outputs only: the same rows as all five.
        let two = try StackLinearisation(stack, inputs: inputs, units: 1 ..< 3)
        for i in 0 ..< inputs.shape[0] {
            #expect(relativeError(two.weights.row(i).scalars, whole.weights.row(i).rows(1 ..< 3).scalars) <= 1e-14)
        }
    }

    /// Active units against an independent count: a unit of the first convolution is active when
    /// its hard-tanh is unsaturated and it wins a window of the 3×3/2 max pool (winners found
    /// here by scanning the windows), of the second when its ReLU passes (the average pool after
    /// it selects nothing), of the dense layer when its leaky ReLU is positive.
    @Test func activeUnitsCountUnsaturatedWinners() throws {
        let stack = try CNNFixture.cnn2d.stack(Double.self)
        let inputs = try CNNFixture.cnn2d.array("inputs.npy", as: Double.self)
        let linear = try StackLinearisation(stack, inputs: inputs)
        let activity = linear.activity
        #expect(activity.layers == [0, 3, 7] && activity.units == [4 * 144, 6 * 9, 8] && activity.kinds == ["conv2d", "conv2d", "dense"])
        let workspace = stack.makeWorkspace(batchSize: inputs.shape[0])
        stack.forward(inputs, in: workspace)
        for i in 0 ..< inputs.shape[0] {
            // The pool compares the hard-tanh outputs (ties of saturated units: the first in scan order wins).
            let (h, y) = (workspace.activations[1].row(i), workspace.activations[2].row(i))
            var winners = Set<Int>()
            for c in 0 ..< 4 {
                for oy in 0 ..< 5 {
                    for ox in 0 ..< 5 {
                        var best = -Double.infinity, at = 0
                        for r in 2 * oy ..< 2 * oy + 3 {
                            for q in 2 * ox ..< 2 * ox + 3 where y[c, r, q] > best { best = y[c, r, q]; at = (c * 12 + r) * 12 + q }
                        }
                        winners.insert(at)
                    }
                }
            }
            let first = winners.filter { abs(h.scalars[$0]) < 1 }.count
            let second = workspace.activations[4].row(i).scalars.filter { $0 > 0 }.count
            let dense = workspace.activations[8].row(i).scalars.filter { $0 > 0 }.count
            #expect(activity.active[i] == [first, second, dense], "input \(i)")
        }
        #expect(abs(activity.overallFraction - Double(activity.active.joined().reduce(0, +)) / Double(6 * (576 + 54 + 8))) < 1e-15)
    }

    /// A smooth activation in a CNN, a unit or a layer outside the stack: typed errors, one line.
    @Test func errorsNameTheLayerAndTheUnit() throws {
        var generator = SeededGenerator(seed: 5)
        let smooth = try LayerStack<Double>(architecture: "conv2k3,tanh,flatten,dense3", inputShape: [1, 5, 5], using: &generator)
        #expect(throws: InterpretationError.smoothLayer(layer: 1, kind: "tanh")) { try StackLinearisation(smooth, inputs: Tensor.zeros([1, 25])) }
        let stack = try CNNFixture.cnn2d.stack(Double.self)
        let projections = try SwitchedLinearProjections(stack, at: try CNNFixture.cnn2d.array("inputs.npy", as: Double.self).row(0))
        #expect(throws: InterpretationError.unitOutOfRange(layer: 2, unit: [4, 0, 0], shape: [4, 5, 5])) { try projections.projection(layer: 2, unit: [4, 0, 0]) }
        #expect(InterpretationError.unitOutOfRange(layer: 2, unit: [4, 0, 0], shape: [4, 5, 5]).description
            == "unit [4, 0, 0] is outside layer 2's output of shape [4, 5, 5]")
        #expect(throws: InterpretationError.unitOutOfRange(layer: 2, unit: [1, 2], shape: [4, 5, 5])) { try projections.projection(layer: 2, unit: [1, 2]) }
        #expect(InterpretationError.unitOutOfRange(layer: 2, unit: [1, 2], shape: [4, 5, 5]).description
            == "unit [1, 2] is outside layer 2's output of shape [4, 5, 5] (give 3 indices, or 1 flat index below 100)")
        #expect(throws: InterpretationError.unitOutOfRange(layer: 0, unit: [576], shape: [4, 12, 12])) { try projections.projections(layer: 0, units: [3, 576]) }
        #expect(throws: InterpretationError.layerOutOfRange(layer: 10, layers: 10)) { try projections.weights(layer: 10) }
        #expect(InterpretationError.layerOutOfRange(layer: 10, layers: 10).description == "layer 10 is out of range: the network has layers 0 ..< 10")
    }
}

@Suite struct ConvolutionalProjectionTests {
    /// Random units of every layer: ŵ·x + b̂ is PyTorch's module output (float64, 1e-10 of the
    /// layer's largest output or 1), ŵ is autograd's gradient of the unit (1e-10 of its largest
    /// entry); in float32 the projections reproduce their forward values to 1e-5.
    @Test(arguments: [CNNFixture.cnn2d, .cnn1d])
    func unitsReproducePyTorch(_ fixture: CNNFixture) throws {
        let double = try fixture.stack(Double.self), float = try fixture.stack(Float.self)
        let inputs = try fixture.array("inputs.npy", as: Double.self)
        let (layers, indices, samples) = (try fixture.integers("unit_layers.npy"), try fixture.integers("unit_indices.npy"), try fixture.integers("unit_samples.npy"))
        let values = try fixture.array("unit_values64.npy", as: Double.self).scalars
        let gradients = try fixture.array("unit_gradients64.npy", as: Double.self)
        var projections: [Int: SwitchedLinearProjections<Double>] = [:]
        for k in layers.indices {
            let s = samples[k]
            if projections[s] == nil { projections[s] = try SwitchedLinearProjections(double, at: inputs.row(s)) }
            let at = projections[s]!
            let unit = try at.projections(layer: layers[k], units: [indices[k]])
            let scale = max(1, at.outputs[layers[k]].scalars.map(abs).max()!)
            let reproduced = (matvec(unit.weights, inputs.row(s).reshaped([-1])) + unit.biases).scalars[0]
            #expect(abs(reproduced - values[k]) / scale <= 1e-10, "unit \(k): layer \(layers[k]) index \(indices[k])")
            #expect(unit.reproductionError <= 1e-12)
            if k < gradients.shape[0] {
                #expect(relativeToLargest(unit.weights.scalars, gradients.row(k).scalars) <= 1e-10, "unit \(k) gradient")
            }
        }
        for s in Set(samples) {
            #expect(projections[s]!.reproductionError() <= 1e-12, "every unit of every layer, input \(s)")
            let single = try SwitchedLinearProjections(float, at: inputs.row(s).converted(to: Float.self))
            #expect(single.reproductionError() <= 1e-5, "float32, input \(s): \(single.reproductionError())")
        }
    }

    /// A unit named by (channel, row, column) is its flat index; every unit of a convolution by
    /// forward mode (``SwitchedLinearProjections/weights(layer:)``) equals its backward rows, and
    /// the last layer's projections are W(x) and b(x). Chunks of rows and of basis vectors cut
    /// small give the same numbers.
    @Test func forwardAndBackwardProjectionsAgree() throws {
        let stack = try CNNFixture.cnn2d.stack(Double.self)
        let x = try CNNFixture.cnn2d.array("inputs.npy", as: Double.self).row(3)
        var projections = try SwitchedLinearProjections(stack, at: x)
        let named = try projections.projection(layer: 3, unit: [5, 1, 2])
        #expect(named.units == [5 * 9 + 1 * 3 + 2])
        for layer in [0, 2, 3, 5, 9] {
            let all = try projections.weights(layer: layer)
            let units = Array(0 ..< all.shape[0])
            let rows = try projections.projections(layer: layer, units: units)
            #expect(relativeError(rows.weights.scalars, all.scalars) <= 1e-13, "layer \(layer)")
            #expect(relativeError(rows.biases.scalars, projections.biases[layer].scalars) <= 1e-13, "layer \(layer)")
            projections.workingBytes = 3000
            let small = try projections.projections(layer: layer, units: units)
            #expect(relativeError(small.weights.scalars, rows.weights.scalars) <= 1e-14, "layer \(layer): rows in chunks")
            #expect(relativeError(try projections.weights(layer: layer).scalars, all.scalars) <= 1e-14, "layer \(layer): basis vectors in chunks")
            projections.workingBytes = StackLinearisation<Double>.workingBytes
        }
        let linear = try StackLinearisation(stack, inputs: x.reshaped([1, 288]))
        #expect(relativeError(try projections.weights(layer: 9).scalars, linear.weights.scalars) <= 1e-13)
        #expect(relativeError(projections.biases[9].scalars, linear.biases.scalars) <= 1e-13)
    }

    /// Insens on a CNN against its definition, term by term: every inactive unit entering an
    /// activation (saturated hard-tanh after the first convolution, ReLU at or below 0 after the
    /// second, leaky ReLU at or below 0 after the dense layer), its ŵ from backward rows,
    /// ω = ((h − t)/‖ŵ‖²)·ŵ averaged; the forward-mode map, in one chunk or many, equals it.
    @Test func insensIsTheMeanDisplacementOfTheInactiveUnits() throws {
        let stack = try CNNFixture.cnn2d.stack(Double.self)
        let x = try CNNFixture.cnn2d.array("inputs.npy", as: Double.self).row(1)
        var projections = try SwitchedLinearProjections(stack, at: x)
        var reference = [Double](repeating: 0, count: 288)
        var units = 0
        for (activation, entering) in [(1, 0), (4, 3), (8, 7)] {
            let h = projections.outputs[entering].scalars
            let function = (stack.layers[activation] as! ActivationLayer<Double>).function
            let inactive = h.indices.filter { function == .hardTanh ? abs(h[$0]) >= 1 : h[$0] <= 0 }
            let rows = try projections.projections(layer: entering, units: inactive)
            for (k, i) in inactive.enumerated() {
                let w = rows.weights.row(k).scalars
                let norm = w.reduce(0) { $0 + $1 * $1 }
                guard norm > 0 else { continue }
                let target = function == .hardTanh ? (h[i] > 0 ? 1.0 : -1.0) : 0
                for j in w.indices { reference[j] += (h[i] - target) / norm * w[j] }
                units += 1
            }
        }
        reference = reference.map { $0 / Double(units) }
        let (map, count) = projections.insens()
        #expect(count == units && units > 300, "\(count) vs \(units)")
        #expect(relativeToLargest(map, reference) <= 1e-12)
        projections.workingBytes = 40_000
        let (chunked, chunkedCount) = projections.insens()
        #expect(chunkedCount == units && relativeToLargest(chunked, reference) <= 1e-12)
    }
}

/// The Fashion-MNIST CNN of issue 20 trained one epoch in PyTorch (Tests/Fixtures/FashionCNN).
@Suite struct FashionCNNInterpretationTests {
    let fixture = CNNFixture.fashion

    /// At the first 100 test images W(x) is jacrev's to 1e-5 of each image's largest entry in
    /// float32 (sums of up to 1600 products in another order: the float32 rounding of the dense
    /// layer's sums, ~1e-6 relative), completeness ≤ 1e-5; in float64 at 10 images, 1e-10 and 1e-12.
    @Test func matchesJacrevAtAHundredImages() throws {
        let stack = try fixture.stack(Float.self)
        let inputs = try fixture.array("inputs.npy", as: Float.self)
        let jacobians = try fixture.array("jacobians32.npy", as: Float.self), outputs = try fixture.array("outputs.npy", as: Float.self)
        let linear = try StackLinearisation(stack, inputs: inputs)
        #expect(linear.weights.shape == [100, 10, 784] && linear.completenessError <= 1e-5, "\(linear.completenessError)")
        var worst = 0.0
        for i in 0 ..< 100 {
            worst = max(worst, relativeToLargest(linear.weights.row(i).doubles, jacobians.row(i).doubles))
            #expect(relativeToLargest(linear.outputs.row(i).doubles, outputs.row(i).doubles) <= 1e-5, "image \(i)")
        }
        #expect(worst <= 1e-5, "W(x) differs from jacrev by \(worst)")
        let jacobians64 = try fixture.array("jacobians64.npy", as: Double.self)
        let exact = try StackLinearisation(try fixture.stack(Double.self), inputs: inputs.converted(to: Double.self).rows(0 ..< jacobians64.shape[0]))
        #expect(exact.completenessError <= 1e-12, "\(exact.completenessError)")
        for i in 0 ..< jacobians64.shape[0] {
            #expect(relativeToLargest(exact.weights.row(i).scalars, jacobians64.row(i).scalars) <= 1e-10, "image \(i), float64")
        }
        // A ReLU CNN: units are on or off, so b(x) holds the biases alone, and about a fifth of
        // the units pass (max-pool losers count as inactive).
        #expect(linear.activity.layers == [0, 3, 7] && linear.activity.units == [21632, 7744, 128])
        #expect(linear.activity.overallFraction > 0.05 && linear.activity.overallFraction < 0.5, "\(linear.activity.meanFractions)")
    }

    /// 1,000 random units of every layer at the first images: ŵ·x + b̂ equals PyTorch's module
    /// output in float64 to 1e-10 of the layer's scale, ŵ autograd's gradient (32 units).
    @Test func randomUnitsReproducePyTorch() throws {
        let stack = try fixture.stack(Double.self)
        let inputs = try fixture.array("inputs.npy", as: Double.self)
        let (layers, indices, samples) = (try fixture.integers("unit_layers.npy"), try fixture.integers("unit_indices.npy"), try fixture.integers("unit_samples.npy"))
        let values = try fixture.array("unit_values64.npy", as: Double.self).scalars
        let gradients = try fixture.array("unit_gradients64.npy", as: Double.self)
        #expect(layers.count == 1000)
        // Grouped by image and layer: one backward pass of rows for each group.
        var groups: [[Int]: [Int]] = [:]
        for k in layers.indices { groups[[samples[k], layers[k]], default: []].append(k) }
        var projections: [Int: SwitchedLinearProjections<Double>] = [:]
        var worst = 0.0, worstGradient = 0.0
        for (key, members) in groups {
            let (s, l) = (key[0], key[1])
            if projections[s] == nil { projections[s] = try SwitchedLinearProjections(stack, at: inputs.row(s)) }
            let at = projections[s]!
            let units = try at.projections(layer: l, units: members.map { indices[$0] })
            let scale = max(1, at.outputs[l].scalars.map(abs).max()!)
            let reproduced = (matvec(units.weights, inputs.row(s).reshaped([784])) + units.biases).scalars
            for (r, k) in members.enumerated() {
                worst = max(worst, abs(reproduced[r] - values[k]) / scale)
                if k < gradients.shape[0] { worstGradient = max(worstGradient, relativeToLargest(units.weights.row(r).scalars, gradients.row(k).scalars)) }
            }
            #expect(units.reproductionError <= 1e-12)
        }
        #expect(worst <= 1e-10 && worstGradient <= 1e-10, "values \(worst), gradients \(worstGradient)")
    }

    /// The imported network predicts what PyTorch predicts, image by image (the first 1,000 test
    /// images: the whole test split takes minutes in a debug build; predictions.npy holds all).
    @Test func predictionsArePyTorchs() throws {
        let test = try ImageDataset(folder: ImageDataset.fashionMNISTFolder).test.prefix(1000)
        let evaluation = try StackEvaluation(try fixture.stack(Float.self), data: test)
        let reference = Array(try fixture.integers("predictions.npy").prefix(1000))
        let differing = zip(evaluation.predictions, reference).filter { $0 != $1 }.count
        #expect(differing == 0, "\(differing) predictions differ")
    }
}
