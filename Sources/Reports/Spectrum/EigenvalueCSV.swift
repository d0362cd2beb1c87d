import Spectrum

extension SpectrumReport {
    /// The measured eigenvalues as CSV: a header `sample,index,eigenvalue`, then one row per
    /// eigenvalue (sample and index from 0, each sample's values descending), in Swift's
    /// shortest round-tripping decimal form.
    public var eigenvalueCSV: String {
        var text = "sample,index,eigenvalue\n"
        for (sample, values) in eigenvalues.enumerated() {
            for (index, value) in values.enumerated() { text += "\(sample),\(index),\(value)\n" }
        }
        return text
    }
}
