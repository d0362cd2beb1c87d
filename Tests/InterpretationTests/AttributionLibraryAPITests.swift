import Networks
import Testing
import TensorAlgebra
import Interpretation

/// The attribution methods through the public API alone (no `@testable`): docs/interpretation.md's
/// "Attribution methods" example, every registry name on an MLP and a CNN, with the
/// linearisation's decomposition adding up (rounding only in float64: 1e-12).
@Suite struct AttributionLibraryAPITests {
    @Test(arguments: [("dense8,relu,dense6,hard-tanh,dense3", [12]), ("conv3k3p1,relu,maxpool2,conv4k3,hard-tanh,flatten,dense3", [1, 6, 6])])
    func everyMethodByNameGivesMapsOfTheInputsShape(_ architecture: String, _ shape: [Int]) throws {
        var generator = SeededGenerator(seed: 5)
        let stack = try LayerStack<Double>(architecture: architecture, inputShape: shape, using: &generator)
        let images = Tensor<Double>.randomNormal([4] + shape, using: &generator)
        let targets = [0, 2, 1, 2]
        var settings = AttributionSettings<Double>()
        settings.steps = 32
        settings.samples = 8
        let names = AttributionMethodKind.allCases.filter { !$0.needsClassDimensions }.map(\.rawValue).joined(separator: ",")
        let methods: [any AttributionMethod<Double>] = try AttributionMethods.named(names, settings: settings)
        #expect(methods.count == AttributionMethodKind.allCases.count - 1)
        for method in methods {
            let maps = try method.attributions(stack, inputs: images, targets: targets)
            #expect(maps.shape == images.shape, "\(method.name)")
            #expect(maps.nonFiniteCount == 0, "\(method.name)")
        }
        let split = try Linearisation<Double>().decomposition(stack, inputs: images, targets: targets)
        let outputs = stack(images)
        for i in 0 ..< 4 {
            let logit = outputs[i, targets[i]]
            #expect(abs(split.attributions.row(i).scalars.reduce(0, +) + split.biasShares[i] - logit) <= 1e-12 * max(1, abs(logit)))
        }
    }
}
