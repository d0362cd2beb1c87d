import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs one of the package's built executables (they sit beside the test bundle) and returns
/// its exit status, standard output and standard error. A run longer than `timeout` seconds is
/// killed (SIGKILL: a test runner's children may inherit SIGTERM blocked) and its standard
/// error ends with "timed out after N s", so a hang fails the test instead of stalling the suite.
/// `environment` adds variables to the child's environment only (tests run in parallel in one
/// process, so setenv would leak into other tests' children).
public func runExecutable(_ name: String, _ arguments: [String], timeout: Double = 600,
                          environment: [String: String] = [:]) throws -> (status: Int32, output: String, error: String) {
    let process = Process()
    process.executableURL = executableURL(name)
    process.arguments = arguments
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new } }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let pid = process.processIdentifier
    nonisolated(unsafe) var timedOut = false
    let watchdog = DispatchWorkItem { timedOut = true; kill(pid, SIGKILL) }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
    let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let error = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    watchdog.cancel()
    return (process.terminationStatus, output, timedOut ? error + "timed out after \(timeout) s\n" : error)
}

/// Where the built executable `name` is: beside the test runner, or one level up when the
/// runner lives inside an .xctest bundle.
public func executableURL(_ name: String) -> URL {
    let folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let url = folder.appendingPathComponent(name)
    return FileManager.default.fileExists(atPath: url.path) ? url : folder.deletingLastPathComponent().appendingPathComponent(name)
}
