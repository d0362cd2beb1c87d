import Datasets
import Foundation
import GridShards
import Networks
import Spectrum
import Study
import Testing
import TensorAlgebra
import Training
import TestSupport

func tinyGrid(lr: Double = 0.05, activation: Activation = .hardTanh, precision: Precision = .double) -> StudyGrid {
    StudyGrid(depths: [2, 4], sigmas: [1], initializations: [.identity, .orthogonal, .gaussian, .he], seeds: [0, 1],
              activation: activation, training: TrainingConfiguration(batchSize: 20, epochs: 2, learningRate: lr, trainLimit: 200),
              precision: precision, spectrumInputs: 2)
}

@Suite struct StudyGridTests {
    @Test func enumerationIsDepthThenArmThenSeed() {
        let grid = StudyGrid(depths: [2, 5], sigmas: [0.9, 1.1], initializations: [.identity, .gaussian, .orthogonal, .he], seeds: [7, 8])
        #expect(grid.arms.map(\.initialization) == [.identity, .identity, .gaussian, .orthogonal, .he])
        #expect(grid.arms.map(\.sigma) == [0.9, 1.1, 1, 1, 2.0.squareRoot()])
        #expect(grid.pointCount == 2 * 5 * 2)
        let points = (0 ..< grid.pointCount).map(grid.point)
        #expect(points.map(\.index) == Array(0 ..< 20))
        #expect(points[0].depth == 2 && points[0].arm.sigma == 0.9 && points[0].seed == 7)
        #expect(points[1].seed == 8 && points[2].arm.sigma == 1.1 && points[10].depth == 5)
        #expect(Set(points.map { "\($0.depth) \($0.arm) \($0.seed)" }).count == 20, "every point once")
        #expect(grid.model(points[9]).initialization == .he && grid.model(points[9]).sigma == 1)
        #expect(grid.training(points[1]).seed == 8)
    }

    @Test func criticalSigmaWOfEachActivation() {
        #expect(StudyGrid.criticalSigmaW(.hardTanh) == 1)
        #expect(abs(StudyGrid.criticalSigmaW(.relu) - 2.0.squareRoot()) < 1e-12)
        #expect(abs(StudyGrid.criticalSigmaW(.tanh) - 1) < 1e-6)
        // χ = 1 there (hard-tanh: at q* → 0 every unit is active).
        #expect(abs(MeanField(activation: .relu, sigmaW: StudyGrid.criticalSigmaW(.relu), sigmaB: 0).chi(at: 0.3) - 1) < 1e-12)
    }

    @Test func badGridsAreRefusedBeforeTraining() {
        let data = tinyData()
        var grid = tinyGrid()
        grid.depths = []
        #expect(throws: StudyError.self) { try Study(grid: grid, data: data) }
        grid = tinyGrid()
        grid.activation = .linear
        #expect(throws: StudyError.self) { try Study(grid: grid, data: data) }
        // L × width × batch beyond memory: refused with the estimate.
        grid = tinyGrid()
        grid.depths = [2, 10_000]
        grid.training.batchSize = 1_000_000
        do {
            _ = try Study(grid: grid, data: data)
            Issue.record("an impossible grid was accepted")
        } catch {
            guard case .tooLarge(let depth, let width, let batch, let bytes, _) = error else { Issue.record("\(error)"); return }
            #expect(depth == 10_000 && width == 19 && batch == 1_000_000)
            #expect(bytes >= TrainingSession<Double>.estimatedBytes(model: ClassifierConfiguration(layers: 10_000), training: grid.training, width: 19))
            #expect(error.description.contains("GiB"))
        }
        grid = tinyGrid()
        grid.training.batchSize = 500
        #expect(throws: StudyError.training(.batchSizeOutOfRange(batchSize: 500, images: 200))) { try Study(grid: grid, data: data) }
    }
}

@Suite struct StudyFileTests {
    /// A row as a study would write it at `point` (made-up outcomes).
    func result(_ grid: StudyGrid, _ index: Int) -> StudyResult {
        let point = grid.point(index)
        return StudyResult(index: index, depth: point.depth, initialization: point.arm.initialization, sigma: point.arm.sigma, seed: point.seed,
                           testAccuracy: 0.5, testLoss: 1.2, epochTestAccuracy: [0.4, 0.5], theoryMean: .infinity, chi: 1,
                           measuredFraction: 0.9, measuredMean: 2)
    }

    func problem(_ grid: StudyGrid, _ rows: [StudyResult]) -> String? {
        do { _ = try StudyGrid.fileFormat.read(grid.csv(rows), path: "s.csv") } catch { return error.description }
        return nil
    }

    @Test func rowsMustBeTheirPointsAndHoldPossibleValues() {
        let grid = tinyGrid()
        #expect(problem(grid, [result(grid, 2), result(grid, 7)]) == nil)
        // Point 2 is L = 2, orthogonal σ_w = 1, seed 0.
        var row = result(grid, 2)
        (row.depth, row.initialization, row.sigma) = (77, .he, 2.0.squareRoot())
        #expect(problem(grid, [row]) == "s.csv: line 3: point 2 is at L = 2 in the grid, but the row says L = 77")
        row.depth = 2
        #expect(problem(grid, [row]) == "s.csv: line 3: point 2 is orthogonal σ_w = 1 in the grid, but the row says he σ = 1.4142135623730951")
        row = result(grid, 2)
        row.seed = 1
        #expect(problem(grid, [row]) == "s.csv: line 3: point 2 has seed 0 in the grid, but the row says 1")
        row = result(grid, 2)
        row.measuredFraction = .nan
        #expect(problem(grid, [row]) == "s.csv: line 3: measured_fraction is nan, expected a fraction in [0, 1]")
        row = result(grid, 2)
        row.epochTestAccuracy = [0.4, 1.5]
        #expect(problem(grid, [row]) == "s.csv: line 3: epoch_test_accuracy is 1.5, expected a fraction in [0, 1]")
        row = result(grid, 2)
        row.measuredMean = .infinity
        #expect(problem(grid, [row]) == "s.csv: line 3: measured_mean is inf, expected a finite number ≥ 0")
    }

    @Test func depthsAreBounded() {
        var grid = tinyGrid()
        grid.depths = [2, 1_000_000_000_000]
        #expect(grid.problem == .invalidGrid(name: "depths", value: "[2, 1000000000000]", expected: "at least one depth, each between 1 and 10000"))
        #expect(problem(grid, []) == "s.csv: line 1: the grid description is not valid")
    }
}

@Suite(.serialized) struct StudyRunTests {
    @Test func resultsAndTheoryAtAPoint() throws {
        let study = try Study(grid: tinyGrid(), data: tinyData())
        let q0 = study.grid.data!.q0
        #expect(q0 == StudyData.q0(tinyData().train) && q0 > 0 && q0 < 1)
        let identity = try study.run(0)
        #expect(identity.initialization == .identity && identity.depth == 2 && !identity.diverged)
        #expect(identity.epochTestAccuracy.count == 2 && identity.layerAccuracy.count == 2 && identity.distanceFromIdentity.count == 2)
        #expect(identity.testAccuracy == identity.epochTestAccuracy.last)
        #expect(identity.testAccuracy! > 0.6, "the toy problem is learnable: \(identity.testAccuracy!)")
        #expect(identity.theoryUnitFraction == IdentityLaw.hardTanhActiveFraction(sigma: 1, q0: q0, layers: 2))
        #expect(identity.theoryMean == identity.theoryUnitFraction && identity.chi == nil)
        // W = I, inputs in [0, 1): J = I on unsaturated pixels, and pixels stay below 1 here.
        #expect(identity.measuredFraction == 1 && identity.measuredMean == 1)
        let gaussian = try study.run(2 * 2 + 0)  // depth 2, arm 2 (gaussian), seed 0
        #expect(gaussian.initialization == .gaussian && gaussian.sigma == 1 && gaussian.chi != nil && gaussian.theoryUnitFraction == nil)
        // The finite-depth mean from the data's q0 (issue 23 #2), not χ^L: hard-tanh at σ_w = 1,
        // q¹ = q0, χ_l = erf(1/√(2 q^l)), q² = E[hardtanh(√q0 z)²], written out.
        let e1 = erf(1 / (2 * q0).squareRoot())
        let q2 = q0 * e1 - (2 * q0 / Double.pi).squareRoot() * exp(-1 / (2 * q0)) + 1 - e1
        #expect(abs(gaussian.theoryMean! - e1 * erf(1 / (2 * q2).squareRoot())) < 1e-12)
        #expect(gaussian.theoryMean! < pow(gaussian.chi!, 2) - 1e-3)
        #expect(gaussian.measuredFraction! > 0 && gaussian.measuredFraction! <= 1)
        // A point alone gives the numbers it gives within the grid.
        #expect(try study.run(0).withoutTiming == identity.withoutTiming)
    }

    @Test func shardedStudyGivesExactlyTheUnshardedNumbers() throws {
        let data = tinyData()
        let study = try Study(grid: tinyGrid(precision: .float), data: data)
        let grid = study.grid
        let whole = try (0 ..< grid.pointCount).map { try study.run($0) }
        let folder = try temporaryFolder("study")
        defer { try? FileManager.default.removeItem(at: folder) }
        var parts: [(path: String, text: String)] = []
        for k in 1 ... 3 {
            let shard = try Shard(k, of: 3)
            let url = folder.appendingPathComponent(shard.fileName(stem: "study", extension: "csv"))
            let writer = try GridShardWriter(format: StudyGrid.fileFormat, grid: grid, shard: ShardRecord(shard: shard, command: ["study"]), url: url)
            for index in shard.indices(pointCount: grid.pointCount) { try writer.append(try study.run(index)) }
            parts.append((url.path, try String(contentsOf: url, encoding: .utf8)))
        }
        let merged = try StudyGrid.fileFormat.merge(parts)
        #expect(merged.grid == grid)
        #expect(merged.rows.map(\.withoutTiming) == whole.map(\.withoutTiming))
        // And through the text of study.csv: every number survives to the last bit.
        let read = try StudyGrid.fileFormat.read(grid.csv(whole), path: "study.csv")
        #expect(read.rows == whole)
        // A missing shard is named with its file and command.
        do {
            _ = try StudyGrid.fileFormat.merge([parts[0], parts[2]])
            Issue.record("merged without shard 2")
        } catch {
            #expect(error.description.contains(folder.appendingPathComponent("study-part-2-of-3.csv").path))
            #expect(error.description.contains("study --shard 2/3"))
        }
    }

    @Test func resumeSkipsFinishedPoints() throws {
        let study = try Study(grid: tinyGrid(), data: tinyData())
        let folder = try temporaryFolder("study")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("study.csv")
        let all = Array(0 ..< study.grid.pointCount)
        var computed: [Int] = []
        var writer = try GridShardWriter(format: StudyGrid.fileFormat, grid: study.grid, shard: nil, url: url)
        for index in writer.pending(all).prefix(5) {
            computed.append(index)
            try writer.append(try study.run(index))
        }
        // Killed after five points; the re-run computes only the others.
        writer = try GridShardWriter(format: StudyGrid.fileFormat, grid: study.grid, shard: nil, url: url)
        #expect(writer.resumedCount == 5)
        for index in writer.pending(all) {
            computed.append(index)
            try writer.append(try study.run(index))
        }
        #expect(computed == all, "no point computed twice")
        #expect(try StudyGrid.fileFormat.read(String(contentsOf: url, encoding: .utf8), path: url.path).rows.map(\.index) == all)
    }

    @Test func weightsTurnedNonFiniteAtTheLastStepAreADivergedPoint() throws {
        // One step per epoch and float(1e300) = inf: the only step's loss is finite, its update
        // is not, and nothing later would compute a loss.
        var grid = tinyGrid(lr: 1e300, precision: .float)
        grid.depths = [2]
        grid.initializations = [.identity]
        grid.seeds = [0]
        grid.training.epochs = 1
        grid.training.batchSize = 200
        let result = try Study(grid: grid, data: tinyData()).run(0)
        #expect(result.diverged && result.divergedAt == "epoch 1 step 1", "\(result)")
        #expect(result.testAccuracy == nil && result.testLoss == nil && result.epochTestLoss.isEmpty)
    }

    @Test func divergingPointIsRecordedNotThrown() throws {
        var grid = tinyGrid(lr: 1e6, activation: .relu, precision: .float)
        grid.depths = [4]
        grid.initializations = [.he]
        grid.seeds = [0]
        let result = try Study(grid: grid, data: tinyData()).run(0)
        #expect(result.diverged && result.divergedAt != nil, "\(result)")
        #expect(result.testAccuracy == nil && result.layerAccuracy.isEmpty)
        let line = result.csvLine
        #expect(StudyResult(csvLine: line)?.withoutTiming == result.withoutTiming || result.distanceFromIdentity.contains { $0.isNaN })
        #expect(StudyResult(csvLine: line)?.diverged == true)
    }
}
