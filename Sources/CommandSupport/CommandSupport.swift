import ArgumentParser
import Foundation
import IsometrySupport

#if canImport(Glibc)
import Glibc
#endif

// What every Isometry command shares: one-line errors with exit code 2, atomic writes,
// progress on a terminal, flag checks.

/// An error worth one line to the user. `isInternal` errors exit with 1, the rest with 2.
package struct UserError: Error, CustomStringConvertible {
    package let message: String
    package var isInternal = false
    package init(message: String, isInternal: Bool = false) {
        self.message = message
        self.isInternal = isInternal
    }
    package var description: String { message }
}

extension ParsableCommand {
    /// Parses and runs the command. Bad input is one line on standard error and exit code 2;
    /// `--help` prints as usual.
    package static func mainWithOneLineErrors(name: String) {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            let text = (error as? UserError)?.message ?? message(for: error)
            FileHandle.standardError.write(Data("\(name): error: \(oneLineMessage(text))\n".utf8))
            Foundation.exit((error as? UserError)?.isInternal == true ? 1 : 2)
        }
    }
}

/// The last guard of the one-line errors: whatever a message quotes (a path recorded in a
/// file, metadata, a tensor name), its control characters are escaped (a newline as `\n`, so
/// nothing after it is lost), and it is cut to 2,000 characters.
package func oneLineMessage(_ text: String) -> String {
    quotedValue(text.trimmingCharacters(in: .whitespacesAndNewlines), limit: 2000)
}

package func requirePositive(_ value: Double, _ flag: String) throws {
    guard value.isFinite, value > 0 else {
        throw ValidationError("\(flag) must be a positive finite number, got \(value)")
    }
}

package func requireFinite(_ value: Double, _ flag: String, minimum: Double = 0) throws {
    guard value.isFinite, value >= minimum else {
        throw ValidationError("\(flag) must be a finite number ≥ \(minimum), got \(value)")
    }
}

package func requireRange(_ value: Int, _ range: ClosedRange<Int>, _ flag: String) throws {
    guard range.contains(value) else {
        throw ValidationError("\(flag) must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
    }
}

/// Refuses a plan that the memory budget (``MemoryBudget``) does not allow, before allocating it.
package func checkMemory(_ bytes: Double, what: String) throws {
    let available = Double(MemoryBudget.physicalMemory)
    if !MemoryBudget.allows(bytes) {
        throw ValidationError(String(format: "%@ needs about %.1f GiB but this machine has %.1f GiB", what, bytes / 1_073_741_824, available / 1_073_741_824))
    }
}

/// Writes text durably (``AtomicFile``), turning failures into one-line user errors.
package func writeAtomically(_ text: String, to path: String, flag: String) throws {
    do { try AtomicFile.write(text, to: URL(fileURLWithPath: path)) } catch {
        throw UserError(message: "\(flag): \(error.description)")
    }
}

/// The files of `staging` moved into place, failures as one-line user errors.
package func commit(_ staging: OutputStaging, flag: String) throws {
    do { try staging.commit() } catch { throw UserError(message: "\(flag): \(error.description)") }
}

/// Refuses, before any work, an output file ``AtomicFile`` would refuse: an empty path, a
/// device such as /dev/null, a FIFO, a folder, a symbolic link, or a missing or read-only folder.
package func checkWritable(_ path: String, flag: String) throws {
    do { try AtomicFile.checkDestination(path) } catch {
        throw ValidationError("\(flag): \(error.description)")
    }
}

/// Creates the output folder if needed; an empty path, or one that cannot be a writable
/// folder, is a user error.
package func makeFolder(_ path: String, flag: String = "--output") throws -> URL {
    // URL(fileURLWithPath: "") is the current folder: a run would lock and tidy it.
    guard !path.isEmpty else { throw UserError(message: "\(flag): the path is empty; name an output folder") }
    let url = URL(fileURLWithPath: path)
    var isFolder: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue {
        throw UserError(message: "\(flag): \(path) exists and is not a folder")
    }
    do {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    } catch {
        throw UserError(message: "\(flag): cannot create folder \(path): \((error as NSError).localizedDescription)")
    }
    guard FileManager.default.isWritableFile(atPath: url.path) else {
        throw UserError(message: "\(flag): folder \(path) is not writable")
    }
    return url
}

/// The output folder of a run, ready before any computation: created, locked (shared by the
/// shards of one grid, see ``OutputFolderLock``) and tidied, and every file the run will write
/// there (`files`, relative paths; a name ending in "/" is a subfolder) checked as
/// ``checkWritable(_:flag:)`` checks one.
package func prepareOutputFolder(_ path: String, flag: String = "--output", files: [String], shared: Bool = false) throws -> URL {
    let folder = try makeFolder(path, flag: flag)
    try OutputFolderLock.acquire(folder, flag: flag, shared: shared)
    for file in files {
        var url = folder
        // Subfolders (maps/, figures/) too: a symbolic link or a file in their place is refused.
        for component in file.hasSuffix("/") ? file.split(separator: "/")[...] : file.split(separator: "/").dropLast() {
            url.appendPathComponent(String(component))
            var info = stat()
            if lstat(url.path, &info) == 0, FileKind(mode: info.st_mode) != .directory {
                throw UserError(message: "\(flag): \(url.path) is \(FileKind(mode: info.st_mode).rawValue), not a folder")
            }
        }
        if file.hasSuffix("/") { continue }
        let target = folder.appendingPathComponent(file)
        var info = stat()
        if lstat(target.path, &info) == 0, FileKind(mode: info.st_mode) != .regular {
            throw UserError(message: "\(flag): \(FileWriteError.notRegularFile(target.path, FileKind(mode: info.st_mode)).description)")
        }
    }
    return folder
}

/// Whether standard error is a terminal (for live progress).
package var standardErrorIsTerminal: Bool { isatty(2) != 0 }

/// A progress bar on standard error, drawn only when it is a terminal.
package struct ProgressBar: Sendable {
    package let label: String
    package let enabled: Bool

    package init(label: String) {
        self.label = label
        enabled = standardErrorIsTerminal
    }

    package func update(_ done: Int, _ total: Int, detail: String = "") {
        guard enabled, total > 0 else { return }
        let width = 30
        let filled = width * min(done, total) / total
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) \(bar) \(done)/\(total) \(detail)\u{1B}[K".utf8))
        if done >= total { finish() }
    }

    package func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
