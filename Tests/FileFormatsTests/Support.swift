import Foundation

/// A committed numpy fixture (written by Scripts/make_fixtures.py into TensorAlgebraTests; the
/// few the format tests read are copied here).
func fixtureURL(_ name: String) -> URL {
    Bundle.module.url(forResource: name, withExtension: "npy", subdirectory: "Fixtures")!
}

/// A fresh temporary folder, removed by the caller.
func temporaryFolder(_ label: String) throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("isometry-\(label)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder
}

/// The process's peak resident memory (VmHWM), in bytes, after resetting it to the current
/// resident size when `reset` (writing 5 to /proc/self/clear_refs).
func peakResidentBytes(reset: Bool = false) -> Int {
    if reset { try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8) }
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kB = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])
    else { return 0 }
    return kB * 1024
}
