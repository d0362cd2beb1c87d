import Datasets
import Foundation
import Interpretation
import Networks
import Testing
import TensorAlgebra
import TestSupport

/// `interpret` asks the report's own check (`InterpretationReport.check`) instead of repeating
/// it; the check refuses what `init` refuses, and the maps convert to float32 in the library.
@Suite struct ReportCheckTests {
    @Test func checkRefusesWhatInitRefuses() throws {
        let data = tinyData(train: 40, test: 30)
        var generator = SeededGenerator(seed: 0)
        let classifier = IdentityClassifier<Float>(inputFeatures: data.test.features, classes: data.test.classes, layers: 2, using: &generator)
        #expect(throws: InterpretationError.sampleOutOfRange(index: 30, count: 30)) {
            try InterpretationReport.check(classifier, data: data.test, samples: [0, 30])
        }
        #expect(throws: InterpretationError.sampleOutOfRange(index: 30, count: 30)) {
            try InterpretationReport(classifier, data: data.test, samples: [0, 30])
        }
        var tanh = classifier
        tanh.network.activation = .tanh
        #expect(throws: InterpretationError.unsupportedActivation(.tanh)) { try InterpretationReport.check(tanh, data: data.test, samples: [0]) }
        try InterpretationReport.check(classifier, data: data.test, samples: [0, 29])
    }

    @Test func mapsConvertToFloat32() {
        let map = InterpretationReport.Map(name: "m.npy", shape: [2, 2], values: [0.1, 1, 2, 3])
        #expect(map.tensor == Tensor<Float>(shape: [2, 2], scalars: [0.1, 1, 2, 3]))
    }
}
