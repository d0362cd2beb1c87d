import Foundation
import IsometrySupport
import Reports
import Spectrum
import Testing

@Suite struct EigenvalueCSVTests {
    /// The CSV `spectrum --csv` writes, now public API of Reports: a header, then sample, index
    /// and value per eigenvalue, each sample descending.
    @Test func eigenvalueCSVListsEverySample() throws {
        let report = try SpectrumReport(eigenvalues: [[1, 3], [0.5, 2]], law: nil)
        #expect(report.eigenvalueCSV == "sample,index,eigenvalue\n0,0,3.0\n0,1,1.0\n1,0,2.0\n1,1,0.5\n")
    }

    /// The memory model `spectrum` checks flags against is the library's.
    @Test func memoryModelCountsSharedIdentityWeightsOnce() {
        let identity = SpectrumConfiguration.estimatedBytes(width: 100, layers: 10, samples: 2, initialization: .identity, precision: .double)
        let gaussian = SpectrumConfiguration.estimatedBytes(width: 100, layers: 10, samples: 2, initialization: .gaussian, precision: .double)
        #expect(identity == 5 * 100 * 100 * 8 + 2 * 100 * 16)
        #expect(gaussian == 14 * 100 * 100 * 8 + 2 * 100 * 16)
        #expect(SpectrumConfiguration(width: 100, layers: 10, samples: 2).estimatedBytes == identity)
    }
}

/// A checkpoint too large to load in the run's precision is refused before it is read, with the
/// load's estimate (the reader's own budget counts its bytes twice, not the weights' conversion).
@Suite struct CheckpointLoadBudgetTests {
    @Test func theLoadIsBudgetedBeforeReading() throws {
        // A sparse file: its size is what the estimate reads, nothing is written to disk.
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("huge-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        FileManager.default.createFile(atPath: url.path, contents: nil)
        let handle = try FileHandle(forWritingTo: url)
        let size = UInt64(MemoryBudget.defaultLimit) / 5 * 2
        try handle.truncate(atOffset: size)
        try handle.close()
        // In double: S + S/4·8 = 3·S = 1.2 × the budget; the reader's 2·S = 0.8 × alone passed.
        var configuration = SpectrumConfiguration(samples: 1)
        configuration.weightsPath = url.path
        configuration.precision = .double
        do {
            _ = try SpectrumExperiment.run(configuration)
            Issue.record("a load of about 3 × \(size) bytes was not refused")
        } catch {
            guard case .tooLarge(let what, let bytes, _) = error else { Issue.record("\(error)"); return }
            #expect(what.hasPrefix("loading \(url.path)"))
            #expect(bytes == 3 * Double(size))
        }
    }
}
