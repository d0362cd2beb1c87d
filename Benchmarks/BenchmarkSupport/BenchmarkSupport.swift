import Foundation

// What the benchmarks share: medians and running their Python peers. A target of its own so
// that no command and no library product carries it.

/// The median of a non-empty list (the mean of the middle two for an even count); NaN when empty.
public func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/// A peer program that could not start, exited with a failure, or printed nothing usable.
public struct PeerFailure: Error, CustomStringConvertible {
    public var command: String
    public var reason: String

    public init(command: String, reason: String) {
        self.command = command
        self.reason = reason
    }

    public var description: String { "peer \(command) failed: \(reason)" }
}

/// Runs a program (a benchmark's Python peer) to its end; returns its exit status, everything it
/// wrote to standard output, and the last non-empty line of its standard error (where Python
/// puts the exception that stopped it). Throws if it cannot start.
public func runCapturingOutput(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: Data, lastErrorLine: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    // Standard error goes to a file, not a second pipe: a peer that fills one pipe while this
    // process reads the other would block both forever.
    let errorURL = FileManager.default.temporaryDirectory.appendingPathComponent("isometry-peer-\(UUID().uuidString).err")
    _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: errorURL) }
    let errorFile = try FileHandle(forWritingTo: errorURL)
    process.standardError = errorFile
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    try? errorFile.close()
    let errors = (try? String(contentsOf: errorURL, encoding: .utf8)) ?? ""
    let last = errors.split(whereSeparator: \.isNewline).last { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
    return (process.terminationStatus, output, last.map(String.init) ?? "")
}

/// Runs a peer that must succeed: its standard output, or `PeerFailure` naming the command with
/// the last line of its standard error (a missing module, a bad argument) or its exit status.
public func runPeer(_ executable: String, _ arguments: [String]) throws(PeerFailure) -> Data {
    let command = ([executable] + arguments.prefix(1)).joined(separator: " ")
    let run: (status: Int32, output: Data, lastErrorLine: String)
    do { run = try runCapturingOutput(executable, arguments) } catch {
        throw PeerFailure(command: command, reason: "cannot start it: \((error as NSError).localizedDescription)")
    }
    guard run.status == 0 else {
        throw PeerFailure(command: command, reason: run.lastErrorLine.isEmpty ? "exit status \(run.status)" : "\(run.lastErrorLine) (exit status \(run.status))")
    }
    return run.output
}
