import Datasets
import Interpretation
import IsometrySupport
import Testing
import TestSupport

@Suite struct SampleBudgetTests {
    /// `interpret --samples` was unbounded: about 1 MB of maps an image, so the whole test split
    /// of a 10-layer classifier needed some 30 GB before anything said no.
    @Test func tooManyChosenImagesAreRefusedBeforeAnyWork() throws {
        let classifier = perturbedClassifier(.hardTanh, features: 12, classes: 3, layers: 4, seed: 3)
        let data = LabeledImages(pixels: [UInt8](repeating: 100, count: 12), labels: [1], imageShape: [12], classes: 3)
        // 12 × (2·4 + 4·3 + 3 + 4) × 8 bytes, three times: 7,776 bytes an image.
        #expect(InterpretationReport.estimatedBytes(samples: 1, layers: 4, classes: 3, features: 12) == 7776)
        // The 10-layer Fashion-MNIST classifier: about 0.8 MB an image (× 3 copies).
        #expect(abs(InterpretationReport.estimatedBytes(samples: 1, layers: 10, classes: 10, features: 784) / 3 - 840_448) < 1)
        let count = Int(Double(MemoryBudget.defaultLimit) / 7776) + 1
        let samples = [Int](repeating: 0, count: count)
        let expected = InterpretationError.tooManySamples(samples: count, estimatedBytes: Double(count) * 7776,
                                                          limitBytes: Double(MemoryBudget.defaultLimit))
        #expect(throws: expected) { try InterpretationReport(classifier, data: data, samples: samples) }
        #expect(expected.description.hasPrefix("\(count) chosen images need about "))
    }
}
