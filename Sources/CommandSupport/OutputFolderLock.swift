import Foundation
import IsometrySupport

#if canImport(Glibc)
import Glibc
#endif

/// A lock on a command's output folder for the lifetime of the process, so two runs never
/// write into one folder (one's checkpoint beside the other's metrics). The lock is `flock` on
/// `<folder>/.isometry.lock`, which holds the owner's pid; the kernel releases it when the
/// process ends, however it ends, so a crashed run never leaves the folder locked.
///
/// The lock file is opened with O_NOFOLLOW and must be a regular file: a symbolic link (or a
/// FIFO, a device…) planted under that name is refused, never truncated or written through.
///
/// Runs that own the folder take it exclusively; the shards of one grid (`--shard k/n`), which
/// write their own files into one folder at the same time, share it. Whoever gets it
/// exclusively first tidies the folder (``tidy(_:)``): finishes or removes interrupted staged
/// outputs and removes the temporary files of interrupted writes.
package enum OutputFolderLock {
    /// Descriptors of the locks this process holds (never closed: held until exit).
    nonisolated(unsafe) private static var held: [String: Int32] = [:]

    /// Locks `folder` (exclusively, or `shared` by the shards of one grid). Throws a one-line
    /// error naming the other run's pid when the folder is in use.
    package static func acquire(_ folder: URL, flag: String = "--output", shared: Bool = false) throws {
        let path = folder.appendingPathComponent(".isometry.lock").path
        if held[path] != nil { return }
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let code = errno
            var info = stat()
            if lstat(path, &info) == 0, FileKind(mode: info.st_mode) != .regular {
                throw UserError(message: "\(flag): the lock \(path) is \(FileKind(mode: info.st_mode).rawValue), not a regular file; remove it")
            }
            throw UserError(message: "\(flag): cannot create the lock \(path): \(String(cString: strerror(code)))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, FileKind(mode: info.st_mode) == .regular else {
            close(fd)
            throw UserError(message: "\(flag): the lock \(path) is \(FileKind(mode: info.st_mode).rawValue), not a regular file; remove it")
        }
        let exclusive = flock(fd, LOCK_EX | LOCK_NB) == 0
        if exclusive {
            writePID(fd)
            tidy(folder)
            // Downgrading is not atomic: a run that takes the folder exclusively in between is
            // reported as usual below.
            if shared && flock(fd, LOCK_SH | LOCK_NB) != 0 { throw inUse(fd, folder, flag) }
        } else if !(shared && flock(fd, LOCK_SH | LOCK_NB) == 0) {
            throw inUse(fd, folder, flag)
        }
        held[path] = fd
    }

    private static func writePID(_ fd: Int32) {
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    private static func inUse(_ fd: Int32, _ folder: URL, _ flag: String) -> UserError {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = pread(fd, &buffer, buffer.count, 0)
        close(fd)
        let owner = n > 0 ? String(decoding: buffer[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
        return UserError(message: "\(flag): \(folder.path) is in use by another run (pid \(owner.isEmpty ? "?" : owner)); wait for it or choose another folder")
    }

    /// What an interrupted run left: staged outputs are finished or removed
    /// (``OutputStaging/recover(in:)``) and temporary files of interrupted writes, in the folder
    /// and its subfolders, are removed by their exact names
    /// (``AtomicFile/removeStaleTemporaryFiles(in:)``). Nothing else is touched.
    package static func tidy(_ folder: URL) {
        OutputStaging.recover(in: folder)
        AtomicFile.removeStaleTemporaryFiles(in: folder)
    }
}
