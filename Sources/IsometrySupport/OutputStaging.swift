import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A run's files written together: into a staging folder inside the output folder, then moved
/// into place by renames once every one of them is on disk.
///
/// Files are written (through ``AtomicFile``) under `<output>/.isometry-staging-<UUID>/`, at the
/// relative paths they will have (`report.json`, `maps/x.npy`…). ``commit()`` checks every
/// destination (no symbolic link, device or folder is replaced), fsyncs the staged tree, writes
/// the list of files to `.commit` inside the staging folder (the point of no return), renames
/// each file into place, fsyncs the folders and removes the staging folder. Until `.commit`
/// exists nothing of the run is visible and the previous files are untouched; once it exists the
/// run is complete on disk, and a commit cut short by a kill or a power cut is finished by the
/// next ``recover(in:)`` (which every command runs under its folder lock) — a folder never keeps
/// half of one run beside half of another. A run that fails (a full disk, an error) calls
/// ``discard()``, or leaves the staging folder for `recover` to remove: the previous run's files
/// stay as they were.
///
/// Files are renamed one by one into existing subfolders, so files of an earlier run with names
/// this run does not write (a map of another sample) stay, as they always did.
public final class OutputStaging {
    public static let prefix = ".isometry-staging-"
    static let commitName = ".commit"

    /// The output folder the files are for.
    public let folder: URL
    /// Where they are written first.
    public let staging: URL
    private var finished = false

    public init(into folder: URL) throws(FileWriteError) {
        self.folder = folder
        staging = folder.appendingPathComponent(Self.prefix + UUID().uuidString)
        if mkdir(staging.path, 0o755) != 0 {
            throw FileWriteError(path: staging.path, operation: "create the staging folder", reason: String(cString: strerror(errno)))
        }
    }

    deinit { if !finished { discard() } }

    /// Where to write the file that will be `relativePath` in the output folder (its staged
    /// subfolders are created).
    public func url(_ relativePath: String) throws(FileWriteError) -> URL {
        let url = staging.appendingPathComponent(relativePath)
        let parent = url.deletingLastPathComponent()
        do { try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true) } catch {
            throw FileWriteError(path: parent.path, operation: "create folder", reason: (error as NSError).localizedDescription)
        }
        return url
    }

    /// The final place of `relativePath`.
    public func destination(_ relativePath: String) -> URL { folder.appendingPathComponent(relativePath) }

    public func write(_ text: String, to relativePath: String) throws(FileWriteError) {
        try AtomicFile.write(text, to: url(relativePath))
    }

    public func write(_ bytes: [UInt8], to relativePath: String) throws(FileWriteError) {
        try AtomicFile.write(bytes, to: url(relativePath))
    }

    /// The relative paths of the regular files staged so far, sorted.
    package func stagedFiles() -> [String] {
        Self.regularFiles(under: staging).filter { $0 != Self.commitName && !AtomicFile.isTemporaryName(($0 as NSString).lastPathComponent) }.sorted()
    }

    /// Moves every staged file into place (see the type's discussion).
    public func commit() throws(FileWriteError) {
        let files = stagedFiles()
        for file in files {
            let target = destination(file)
            try Self.checkFolders(of: file, in: folder)
            try AtomicFile.refuseAnythingButARegularFile(at: target)
        }
        var folders = Set(files.map { ($0 as NSString).deletingLastPathComponent })
        folders.insert("")
        for sub in folders { try AtomicFile.sync(folder: staging.appendingPathComponent(sub).path, for: staging.path) }
        Self.killForTesting(at: "before-commit")
        try AtomicFile.write(files.joined(separator: "\n") + "\n", to: staging.appendingPathComponent(Self.commitName))
        try Self.moveIntoPlace(files, from: staging, to: folder, killAfterFirst: true)
        finished = true
        Self.remove(staging)
    }

    /// Removes the staging folder and everything in it; the output folder is as it was.
    package func discard() {
        finished = true
        Self.remove(staging)
    }

    /// True for the name of a staging folder (`.isometry-staging-<UUID>`, exactly).
    package static func isStagingName(_ name: String) -> Bool {
        name.hasPrefix(prefix) && UUID(uuidString: String(name.dropFirst(prefix.count))) != nil
            && name.count == prefix.count + 36
    }

    /// Finishes the commits a kill cut short and removes the staging folders of runs that never
    /// committed. Only safe when no other run writes into `folder` (under its exclusive lock).
    public static func recover(in folder: URL) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        for name in names where isStagingName(name) {
            let staging = folder.appendingPathComponent(name)
            var info = stat()
            guard lstat(staging.path, &info) == 0, FileKind(mode: info.st_mode) == .directory else { continue }
            let marker = staging.appendingPathComponent(commitName)
            if let list = try? RegularFileReader.contents(of: marker.path, limit: 1 << 24) {
                let files = String(decoding: list, as: UTF8.self).split(separator: "\n").map(String.init)
                    .filter { !$0.isEmpty && !$0.hasPrefix("/") && !$0.split(separator: "/").contains("..") }
                let present = files.filter { access(staging.appendingPathComponent($0).path, F_OK) == 0 }
                try? moveIntoPlace(present, from: staging, to: folder)
            }
            remove(staging)
        }
    }

    /// The command tests' kill -9 at a chosen point of a commit (`ISOMETRY_TEST_KILL=before-commit`
    /// or `mid-commit`): no timing can hit a window of microseconds reliably.
    private static func killForTesting(at point: String) {
        if ProcessInfo.processInfo.environment["ISOMETRY_TEST_KILL"] == point { raise(SIGKILL) }
    }

    private static func moveIntoPlace(_ files: [String], from staging: URL, to folder: URL, killAfterFirst: Bool = false) throws(FileWriteError) {
        var touched = Set<String>()
        for file in files {
            let target = folder.appendingPathComponent(file)
            let parent = target.deletingLastPathComponent()
            if access(parent.path, F_OK) != 0 {
                do { try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true) } catch {
                    throw FileWriteError(path: parent.path, operation: "create folder", reason: (error as NSError).localizedDescription)
                }
                touched.insert(parent.deletingLastPathComponent().path)
            }
            if rename(staging.appendingPathComponent(file).path, target.path) != 0 {
                throw FileWriteError(path: target.path, operation: "rename into place", reason: String(cString: strerror(errno)))
            }
            touched.insert(parent.path)
            if killAfterFirst { killForTesting(at: "mid-commit") }
        }
        for path in touched.sorted() { try AtomicFile.sync(folder: path, for: path) }
    }

    /// Refuses a subfolder on the way to `file` that is a symbolic link or not a folder: a
    /// rename must not land outside the output folder.
    private static func checkFolders(of file: String, in folder: URL) throws(FileWriteError) {
        var path = folder
        for component in file.split(separator: "/").dropLast() {
            path.appendPathComponent(String(component))
            var info = stat()
            guard lstat(path.path, &info) == 0 else { return }
            let kind = FileKind(mode: info.st_mode)
            if kind != .directory {
                throw FileWriteError(path: path.path, operation: "write into it", reason: "it is \(kind.rawValue), not a folder", refusedKind: kind)
            }
        }
    }

    /// Relative paths of the regular files under `root`, without following symbolic links.
    static func regularFiles(under root: URL, prefix: String = "") -> [String] {
        var found: [String] = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? [] {
            let url = root.appendingPathComponent(name)
            var info = stat()
            guard lstat(url.path, &info) == 0 else { continue }
            switch FileKind(mode: info.st_mode) {
            case .regular: found.append(prefix + name)
            case .directory: found += regularFiles(under: url, prefix: prefix + name + "/")
            default: break
            }
        }
        return found
    }

    private static func remove(_ url: URL) {
        try? FileManager.default.removeItem(at: url)
    }
}

extension AtomicFile {
    /// True for the temporary names Foundation's `Data.write(to:options: .atomic)` gives its
    /// files (`.dat.nosync` and a short suffix of letters, digits and dots), which the grid
    /// files still use.
    package static func isFoundationTemporaryName(_ name: String) -> Bool {
        guard name.hasPrefix(".dat.nosync") else { return false }
        let rest = name.dropFirst(".dat.nosync".count)
        return (1 ... 32).contains(rest.count) && rest.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == ".") }
    }

    /// Removes, under `folder` and its subfolders (symbolic links are not followed), the regular
    /// files whose names are exactly those of interrupted writes (``isTemporaryName(_:)``,
    /// ``isFoundationTemporaryName(_:)``); never a folder, never anything else. Only safe when no
    /// other run writes into `folder`. Returns the relative paths removed.
    @discardableResult
    public static func removeStaleTemporaryFiles(in folder: URL) -> [String] {
        var removed: [String] = []
        for file in OutputStaging.regularFiles(under: folder) {
            let name = (file as NSString).lastPathComponent
            guard isTemporaryName(name) || isFoundationTemporaryName(name) else { continue }
            if unlink(folder.appendingPathComponent(file).path) == 0 { removed.append(file) }
        }
        return removed
    }
}
