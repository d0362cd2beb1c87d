import Foundation

/// Runs one of the package's built executables (they sit beside the test bundle) and returns
/// its exit status, standard output and standard error.
public func runExecutable(_ name: String, _ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
    let process = Process()
    process.executableURL = executableURL(name)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let error = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, output, error)
}

/// Where the built executable `name` is: beside the test runner, or one level up when the
/// runner lives inside an .xctest bundle.
public func executableURL(_ name: String) -> URL {
    let folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let url = folder.appendingPathComponent(name)
    return FileManager.default.fileExists(atPath: url.path) ? url : folder.deletingLastPathComponent().appendingPathComponent(name)
}
