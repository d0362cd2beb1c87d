import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A file that only grows, for records finished one at a time (the rows of a grid run): each
/// `append` writes its bytes at the end with one `write` loop and then fsyncs, so a record is
/// on disk before the caller moves on, without rewriting what is already there.
///
/// A crash can still leave the last record torn (a prefix of its bytes). Readers must therefore
/// treat only newline-terminated records as finished; `truncate(to:)` drops a torn tail before
/// appending resumes. The file itself is created elsewhere, durably, by ``AtomicFile`` (so its
/// header is never torn); this type never creates files.
public final class AppendOnlyFile {
    public let url: URL
    private var descriptor: Int32

    /// Opens the existing regular file at `url` for appending.
    public init(url: URL) throws(FileWriteError) {
        self.url = url
        let fd = open(url.path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { throw FileWriteError(path: url.path, operation: "open for appending", reason: String(cString: strerror(errno))) }
        var info = stat()
        guard fstat(fd, &info) == 0, FileKind(mode: info.st_mode) == .regular else {
            close(fd)
            throw FileWriteError(path: url.path, operation: "open for appending", reason: "not a regular file")
        }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// The file's current size in bytes.
    public func size() throws(FileWriteError) -> Int {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw fail("stat", errno) }
        return Int(info.st_size)
    }

    /// Writes `bytes` at the end of the file and fsyncs it.
    public func append(_ bytes: [UInt8]) throws(FileWriteError) {
        if let code = bytes.withUnsafeBytes({ systemWriteAll(descriptor, $0) }) { throw fail("append", code) }
        guard fsync(descriptor) == 0 else { throw fail("fsync", errno) }
    }

    /// Cuts the file to its first `length` bytes (a torn last record) and fsyncs it.
    public func truncate(to length: Int) throws(FileWriteError) {
        guard ftruncate(descriptor, off_t(length)) == 0 else { throw fail("truncate to \(length) bytes", errno) }
        guard fsync(descriptor) == 0 else { throw fail("fsync", errno) }
    }

    private func fail(_ operation: String, _ code: Int32) -> FileWriteError {
        FileWriteError(path: url.path, operation: operation, reason: String(cString: strerror(code)))
    }
}
