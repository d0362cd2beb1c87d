import Foundation
import Networks
import Spectrum
import Testing
import TensorAlgebra

@Suite struct CheckpointActivationTests {
    @Test func aCheckpointIsAnalysedWithItsOwnActivation() throws {
        var generator = SeededGenerator(seed: 4)
        let classifier = IdentityClassifier<Double>(inputFeatures: 8, classes: 2, layers: 3, activation: .relu,
                                                    initialization: .orthogonal, sigma: 1.4, using: &generator)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("relu-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try classifier.write(to: url)
        // The configuration's activation is the default (hard-tanh); the file says ReLU.
        let report = try SpectrumExperiment.run(SpectrumConfiguration(samples: 2, weightsPath: url.path))
        #expect(report.configuration.activation == .relu)
        #expect(report.configuration.layers == 3 && report.configuration.width == 10)
        // Asked explicitly, the configuration's activation wins.
        let forced = try SpectrumExperiment.run(SpectrumConfiguration(activation: .hardTanh, samples: 2, weightsPath: url.path,
                                                                      activationFromFile: false))
        #expect(forced.configuration.activation == .hardTanh)
    }
}
