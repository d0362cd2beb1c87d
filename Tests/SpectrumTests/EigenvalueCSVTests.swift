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
        #expect(identity == 4 * 100 * 100 * 8 + 2 * 100 * 16)
        #expect(gaussian == 13 * 100 * 100 * 8 + 2 * 100 * 16)
        #expect(SpectrumConfiguration(width: 100, layers: 10, samples: 2).estimatedBytes == identity)
    }
}
