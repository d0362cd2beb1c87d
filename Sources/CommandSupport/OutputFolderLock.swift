import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on a command's output folder for the lifetime of the process, so two
/// runs never write into one folder (one's checkpoint beside the other's metrics). The lock is
/// `flock` on `<folder>/.isometry.lock`, which holds the owner's pid; the kernel releases it
/// when the process ends, however it ends, so a crashed run never leaves the folder locked.
public enum OutputFolderLock {
    /// Descriptors of the locks this process holds (never closed: held until exit).
    nonisolated(unsafe) private static var held: [String: Int32] = [:]

    /// Locks `folder`, then removes the temporary files that interrupted writes left in it
    /// (safe once the lock is ours: no other live run writes there). Throws a one-line error
    /// naming the other run's pid when the folder is in use.
    public static func acquire(_ folder: URL, flag: String = "--output") throws {
        let path = folder.appendingPathComponent(".isometry.lock").path
        if held[path] != nil { return }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw UserError(message: "\(flag): cannot create the lock \(path): \(String(cString: strerror(errno)))")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let owner = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            close(fd)
            throw UserError(message: "\(flag): \(folder.path) is in use by another run (pid \(owner.isEmpty ? "?" : owner)); wait for it or choose another folder")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
        held[path] = fd
        removeStaleTemporaryFiles(in: folder)
    }

    /// Temporary files of interrupted atomic writes: Isometry's `.<name>.partial-<UUID>` and
    /// Foundation's `.dat.nosync…`.
    public static func removeStaleTemporaryFiles(in folder: URL) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        for name in names where name.hasPrefix(".") && (name.contains(".partial-") || name.hasPrefix(".dat.nosync")) {
            try? FileManager.default.removeItem(at: folder.appendingPathComponent(name))
        }
    }
}
