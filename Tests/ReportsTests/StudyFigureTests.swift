import Reports
import Study
import Testing
import TestSupport
import Training

@Suite struct StudyFigureTests {
    @Test func aDivergedPointIsMarkedWhereItsAccuracyWouldBe() throws {
        let grid = StudyGrid(depths: [4], sigmas: [1], initializations: [.he], seeds: [0], activation: .relu,
                             training: TrainingConfiguration(batchSize: 20, epochs: 2, learningRate: 1e6, trainLimit: 200),
                             precision: .float, spectrumInputs: 2)
        let result = try Study(grid: grid, data: tinyData()).run(0)
        #expect(result.diverged)
        #expect(grid.figure([result]).render().contains("✕"))
    }
}
