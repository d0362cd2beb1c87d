import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// What every file reader and writer of Isometry shares (the .npy, safetensors and IDX readers):
// refusing anything that is not a regular file before reading from it, a memory budget checked
// before any allocation sized from a file, and atomic writes that survive a crash.

/// What a path names: as `fstat` sees it after following symbolic links (readers), or as
/// `lstat` sees it (``AtomicFile``, which never writes through a link).
public enum FileKind: String, Sendable, Equatable {
    case regular = "a regular file"
    case directory = "a directory"
    case fifo = "a FIFO (named pipe)"
    case characterDevice = "a character device"
    case blockDevice = "a block device"
    case socket = "a socket"
    /// Only `lstat` reports it (the writers look at the link itself, never through it).
    case symbolicLink = "a symbolic link"
    case other = "an unknown kind of file"

    public init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        case S_IFIFO: self = .fifo
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        case S_IFSOCK: self = .socket
        case S_IFLNK: self = .symbolicLink
        default: self = .other
        }
    }
}

/// Why a file could not be opened or read, before its format is looked at.
public enum FileAccessProblem: Error, Equatable, Sendable, CustomStringConvertible {
    case notFound
    /// The path names a directory, a FIFO, a device…: refused before any read (a FIFO would
    /// block forever, a device never end).
    case notRegularFile(FileKind)
    case unreadable(String)
    /// Reading the file would need `bytes`, more than `limit` (see ``MemoryBudget``).
    case exceedsMemory(bytes: Int, limit: Int)
    /// The file shrank or grew while it was read.
    case changedWhileReading(expectedBytes: Int, foundBytes: Int)

    public var description: String {
        switch self {
        case .notFound: "no such file"
        case .notRegularFile(let kind): "is \(kind.rawValue), not a regular file"
        case .unreadable(let reason): "cannot read: \(reason)"
        case .exceedsMemory(let bytes, let limit): MemoryBudget.explain(bytes: bytes, limit: limit)
        case .changedWhileReading(let expected, let found):
            "changed while it was read (\(expected) bytes expected, \(found) read)"
        }
    }
}

/// The memory a reader may allocate for what one file implies: 80 % of the machine's physical
/// memory, as the commands' own memory check (`checkMemory` in CommandSupport). Every reader
/// estimates the bytes a header implies with overflow-checked arithmetic and refuses, before
/// allocating, an estimate above the limit.
public enum MemoryBudget {
    public static let physicalMemory = Int(clamping: ProcessInfo.processInfo.physicalMemory)

    /// 80 % of the physical memory.
    public static let defaultLimit = physicalMemory / 5 * 4

    /// `bytes` in the unit that reads best: "512 bytes", "3.2 MB", "80.0 GB" (decimal units).
    public static func format(_ bytes: Int) -> String {
        let value = Double(bytes)
        for (unit, scale) in [("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)] where value >= scale {
            return String(format: "%.1f %@", value / scale, unit)
        }
        return "\(bytes) bytes"
    }

    /// The sentence every reader uses when an estimate is over the limit.
    public static func explain(bytes: Int, limit: Int) -> String {
        "needs \(format(bytes)) (\(bytes) bytes) of memory, more than the \(format(limit)) allowed "
            + "(80 % of the \(format(physicalMemory)) of physical memory)"
    }

    /// Whether a plan estimated at `bytes` fits the budget (`limit`, 80 % of physical memory by
    /// default): the one rule the readers, the trainer, the study and the commands apply before
    /// allocating what an estimate describes.
    public static func allows(_ bytes: Double, limit: Int = defaultLimit) -> Bool {
        bytes.isFinite && bytes <= Double(limit)
    }

    /// `factors` multiplied, or nil on overflow.
    public static func product(_ factors: [Int]) -> Int? {
        var result = 1
        for factor in factors {
            let (next, overflow) = result.multipliedReportingOverflow(by: factor)
            if overflow { return nil }
            result = next
        }
        return result
    }

    /// True when the product of the non-zero `extents` (times `scale`) is addressable: a shape
    /// like [0, 2³², 2³²] holds no element, but any code that multiplies the other extents (the
    /// size of one image, one row…) must not overflow either.
    public static func nonZeroProductFits(_ extents: [Int], scale: Int = 1) -> Bool {
        product(extents.filter { $0 != 0 } + [scale]) != nil
    }
}

/// A file opened for reading after checking, on the open descriptor, that it is a regular
/// file. Opening uses O_NONBLOCK so that a FIFO without a writer cannot block the open; the
/// check then refuses it.
public final class RegularFileReader {
    public let path: String
    /// The file's size when it was opened.
    public let size: Int
    private var descriptor: Int32

    public init(path: String) throws(FileAccessProblem) {
        self.path = path
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw .notFound }
            // A FIFO or device that cannot even be opened still deserves its name.
            var info = stat()
            if stat(path, &info) == 0, FileKind(mode: info.st_mode) != .regular {
                throw .notRegularFile(FileKind(mode: info.st_mode))
            }
            throw .unreadable(String(cString: strerror(code)))
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw .unreadable(reason)
        }
        let kind = FileKind(mode: info.st_mode)
        guard kind == .regular else {
            close(fd)
            throw .notRegularFile(kind)
        }
        // Regular files ignore O_NONBLOCK, but clear it so nothing downstream is surprised.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        descriptor = fd
        size = Int(info.st_size)
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    /// Hands the descriptor over (to zlib's `gzdopen`, which closes it); the reader no longer
    /// owns it.
    public func takeDescriptor() -> Int32 {
        let fd = descriptor
        descriptor = -1
        return fd
    }

    /// Reads the whole file, refusing before any allocation a size above `limit`.
    public func readAll(limit: Int = MemoryBudget.defaultLimit) throws(FileAccessProblem) -> [UInt8] {
        guard size <= limit else { throw .exceedsMemory(bytes: size, limit: limit) }
        if descriptor < 0 { fatalError("readAll after takeDescriptor") }
        let fd = descriptor
        var failure: FileAccessProblem?
        let bytes = [UInt8](unsafeUninitializedCapacity: size + 1) { buffer, initialized in
            var done = 0
            // One byte more than the size, to notice a file that grew.
            while done < size + 1 {
                let n = read(fd, buffer.baseAddress! + done, min(size + 1 - done, 1 << 30))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = .unreadable(String(cString: strerror(errno)))
                    break
                }
                if n == 0 { break }
                done += n
            }
            initialized = done
        }
        if let failure { throw failure }
        guard bytes.count == size else { throw .changedWhileReading(expectedBytes: size, foundBytes: bytes.count) }
        return bytes
    }

    /// Opens and reads `path` whole.
    public static func contents(of path: String, limit: Int = MemoryBudget.defaultLimit) throws(FileAccessProblem) -> [UInt8] {
        try RegularFileReader(path: path).readAll(limit: limit)
    }
}

/// Why a durable write failed: the path, the operation and the system's reason, or the kind of
/// file that stands where a regular file should be written (refused before any byte is
/// written). Printed the same by every printer, `description` and `localizedDescription`
/// alike: "out/metrics.json: cannot write: No space left on device".
public struct FileWriteError: Error, Equatable, CustomStringConvertible, LocalizedError {
    public let path: String
    public let operation: String
    public let reason: String
    /// Set when the destination was refused for what it is (a FIFO, a device, a folder, a
    /// symbolic link…), nil for a failure of the system.
    public let refusedKind: FileKind?

    public init(path: String, operation: String, reason: String, refusedKind: FileKind? = nil) {
        self.path = path
        self.operation = operation
        self.reason = reason
        self.refusedKind = refusedKind
    }

    /// The destination `path` is `kind`, which a writer never replaces.
    public static func notRegularFile(_ path: String, _ kind: FileKind) -> FileWriteError {
        FileWriteError(path: path, operation: "write", reason: "it is \(kind.rawValue), not a regular file; refusing to replace it",
                       refusedKind: kind)
    }

    public var description: String { "\(path): cannot \(operation): \(reason)" }
    public var errorDescription: String? { description }
}

/// The one durable writer of Isometry: every file the package writes (bytes, text, streamed
/// tensors) goes through it.
///
/// The bytes go to a temporary file in the destination's folder, named
/// `.<name>.partial-<UUID>`, which is flushed to disk (fsync) and renamed over the destination;
/// the folder is then fsynced so the rename itself survives a power cut. A crash leaves
/// either the previous file or the new one under the final name, never a partial one; a
/// crash before the rename may leave a `.<name>.partial-<UUID>` file behind, which
/// ``isTemporaryName(_:)`` recognises exactly (and nothing else writes).
///
/// Only regular files are replaced. A destination that exists and is anything else — a
/// directory, a FIFO, a character or block device such as `/dev/null`, a socket — is refused
/// with ``FileWriteError/refusedKind`` naming it, and so is a **symbolic link**, which is
/// neither followed nor replaced: a rename would replace the link itself (so writing "through"
/// it would silently break it), and a program run as root must not be steered by a link into
/// rewriting a file elsewhere. ``checkDestination(_:)`` applies the same rules before any
/// work, so commands can refuse an output at once rather than after the computation.
public enum AtomicFile {
    /// The temporary file used while writing `url`.
    package static func temporaryURL(for url: URL) -> URL {
        url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial-\(UUID().uuidString)")
    }

    /// True for the name of a temporary file left by an interrupted write of `finalName`.
    package static func isTemporary(_ name: String, for finalName: String) -> Bool {
        guard name.hasPrefix(".\(finalName).partial-") else { return false }
        return UUID(uuidString: String(name.dropFirst(".\(finalName).partial-".count))) != nil
    }

    /// True exactly for the names this writer gives its temporary files:
    /// `.<name>.partial-<UUID>` with a non-empty name and a well-formed UUID.
    package static func isTemporaryName(_ name: String) -> Bool {
        guard name.hasPrefix("."), let marker = name.range(of: ".partial-", options: .backwards),
              marker.lowerBound > name.index(after: name.startIndex) else { return false }
        let uuid = name[marker.upperBound...]
        return uuid.count == 36 && UUID(uuidString: String(uuid)) != nil
    }

    /// Refuses, before any work, a destination this writer would refuse: an empty path, a
    /// path that exists and is not a regular file (or is a symbolic link), or one whose folder
    /// does not exist, is not a folder or cannot be written.
    public static func checkDestination(_ path: String) throws(FileWriteError) {
        guard !path.isEmpty else { throw FileWriteError(path: "''", operation: "write", reason: "the path is empty") }
        guard !path.hasSuffix("/") else {
            throw FileWriteError(path: path, operation: "write", reason: "the path names a folder, not a file", refusedKind: .directory)
        }
        try checkDestination(URL(fileURLWithPath: path))
    }

    /// ``checkDestination(_:)-(String)`` for a URL.
    public static func checkDestination(_ url: URL) throws(FileWriteError) {
        try refuseAnythingButARegularFile(at: url)
        let folder = url.deletingLastPathComponent().path
        var folderInfo = stat()
        guard stat(folder, &folderInfo) == 0 else {
            throw FileWriteError(path: url.path, operation: "write", reason: "its folder \(folder) does not exist")
        }
        guard FileKind(mode: folderInfo.st_mode) == .directory else {
            throw FileWriteError(path: url.path, operation: "write", reason: "\(folder) is not a folder")
        }
        guard access(folder, W_OK) == 0 else {
            throw FileWriteError(path: url.path, operation: "write", reason: "its folder \(folder) is not writable")
        }
    }

    /// Refuses what exists at `url` and is not a regular file (as `lstat` sees it); nothing
    /// there is fine.
    static func refuseAnythingButARegularFile(at url: URL) throws(FileWriteError) {
        var info = stat()
        if lstat(url.path, &info) == 0 {
            let kind = FileKind(mode: info.st_mode)
            if kind != .regular { throw .notRegularFile(url.path, kind) }
        } else if errno != ENOENT && errno != ENOTDIR {
            throw FileWriteError(path: url.path, operation: "write", reason: String(cString: strerror(errno)))
        }
    }

    public static func write(_ bytes: [UInt8], to url: URL) throws(FileWriteError) {
        try write(parts: [bytes], to: url)
    }

    /// Text, as UTF-8.
    public static func write(_ text: String, to url: URL) throws(FileWriteError) {
        try write(parts: [Array(text.utf8)], to: url)
    }

    public static func write(_ data: Data, to url: URL) throws(FileWriteError) {
        try write(to: url) { emit in data.withUnsafeBytes { emit($0) } }
    }

    /// The same for a file given as consecutive parts, written one after another.
    public static func write(parts: [[UInt8]], to url: URL) throws(FileWriteError) {
        try write(to: url) { emit in
            for bytes in parts { bytes.withUnsafeBytes { emit($0) } }
        }
    }

    /// The same for bytes that `produce` hands over piece by piece through `emit` (e.g. straight
    /// from tensors' storage, so nothing is concatenated in memory first).
    public static func write(to url: URL, producing produce: ((UnsafeRawBufferPointer) -> Void) -> Void) throws(FileWriteError) {
        try checkDestination(url)
        let temporary = temporaryURL(for: url)
        func fail(_ operation: String, _ code: Int32) -> FileWriteError {
            FileWriteError(path: url.path, operation: operation, reason: String(cString: strerror(code)))
        }
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw fail("create \(temporary.lastPathComponent)", errno) }
        var failure: FileWriteError?
        produce { raw in
            guard failure == nil, raw.count > 0 else { return }
            if let code = systemWriteAll(fd, raw) { failure = fail("write", code) }
        }
        if failure == nil, fsync(fd) != 0 { failure = fail("fsync", errno) }
        if close(fd) != 0, failure == nil { failure = fail("close", errno) }
        // What stands at the destination may have changed during a long write.
        if failure == nil {
            do throws(FileWriteError) { try checkDestination(url) } catch { failure = error }
        }
        if failure == nil, rename(temporary.path, url.path) != 0 { failure = fail("rename into place", errno) }
        if let failure {
            unlink(temporary.path)
            throw failure
        }
        try syncFolder(of: url)
    }

    /// fsyncs the folder holding `url`, so that a rename into it is durable.
    package static func syncFolder(of url: URL) throws(FileWriteError) {
        try sync(folder: url.deletingLastPathComponent().path, for: url.path)
    }

    static func sync(folder: String, for path: String) throws(FileWriteError) {
        let fd = open(folder.isEmpty ? "." : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw FileWriteError(path: path, operation: "open its folder to fsync it", reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        // Some file systems refuse fsync on a folder (EINVAL); the rename is then as durable as
        // they make it.
        if fsync(fd) != 0, errno != EINVAL {
            throw FileWriteError(path: path, operation: "fsync its folder", reason: String(cString: strerror(errno)))
        }
    }
}
