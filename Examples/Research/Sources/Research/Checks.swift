import Foundation

/// Every check of the study: printed as it runs, counted, and turned into the exit status.
enum Checks {
    nonisolated(unsafe) static var failures: [String] = []
    nonisolated(unsafe) static var passed = 0

    static func expect(_ condition: Bool, _ what: String) {
        if condition {
            passed += 1
            print("  ok    \(what)")
        } else {
            failures.append(what)
            print("  FAIL  \(what)")
        }
    }

    /// |actual − expected| ≤ tolerance · max(1, |expected|).
    static func expectClose(_ actual: Double, _ expected: Double, tolerance: Double, _ what: String) {
        let error = abs(actual - expected) / max(1, abs(expected))
        expect(error <= tolerance, "\(what): \(actual) vs \(expected) (relative error \(String(format: "%.1e", error)), bound \(tolerance))")
    }
}
