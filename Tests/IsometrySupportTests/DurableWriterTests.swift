import CommandSupport
import Foundation
import Glibc
import IsometrySupport
import Testing

/// The rules of the one durable writer (AtomicFile), of staged outputs and of the output-folder
/// lock: nothing that is not a regular file is ever replaced, written through or deleted.
@Suite struct DurableWriterTests {
    func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("isometry-writer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func kind(_ url: URL) -> FileKind? {
        var info = stat()
        return lstat(url.path, &info) == 0 ? FileKind(mode: info.st_mode) : nil
    }

    func expectRefused(_ url: URL, as expected: FileKind, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            try AtomicFile.write("new", to: url)
            Issue.record("wrote over \(expected.rawValue)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.refusedKind == expected, sourceLocation: sourceLocation)
            #expect(error.description.contains(url.path) && error.description.contains(expected.rawValue), "\(error)", sourceLocation: sourceLocation)
            #expect(error.localizedDescription == error.description, sourceLocation: sourceLocation)
        }
        #expect(throws: FileWriteError.self, sourceLocation: sourceLocation) { try AtomicFile.checkDestination(url.path) }
        #expect(kind(url) == expected, sourceLocation: sourceLocation)
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path))?.filter(AtomicFile.isTemporaryName) ?? []
        #expect(leftovers.isEmpty, "\(leftovers)", sourceLocation: sourceLocation)
    }

    @Test func aRegularFileIsReplacedDurably() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("a.txt")
        try AtomicFile.write("one", to: url)
        try AtomicFile.write(Data("two".utf8), to: url)
        #expect(try String(contentsOf: url, encoding: .utf8) == "two")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["a.txt"])
    }

    @Test func aSymbolicLinkIsRefusedAndNeitherItNorItsTargetChanges() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("target.txt")
        try Data("keep".utf8).write(to: target)
        let link = dir.appendingPathComponent("link.csv")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: target)
        expectRefused(link, as: .symbolicLink)
        #expect(try String(contentsOf: target, encoding: .utf8) == "keep")
        // A dangling link too: writing would create a file wherever it points.
        let dangling = dir.appendingPathComponent("dangling.svg")
        try FileManager.default.createSymbolicLink(atPath: dangling.path, withDestinationPath: dir.appendingPathComponent("nowhere").path)
        expectRefused(dangling, as: .symbolicLink)
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("nowhere").path))
    }

    @Test func aFIFOIsRefusedWithoutBlocking() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("pipe.csv")
        #expect(mkfifo(fifo.path, 0o644) == 0)
        expectRefused(fifo, as: .fifo)
    }

    @Test func aCharacterDeviceIsRefused() throws {
        // /dev/null itself is only looked at; the write is tried on a copy of its node.
        #expect(throws: FileWriteError.self) { try AtomicFile.checkDestination("/dev/null") }
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let device = dir.appendingPathComponent("null")
        // dev_t((1 << 8) | 3) is makedev(1, 3), a macro Swift cannot see.
        guard mknod(device.path, S_IFCHR | 0o666, dev_t((1 << 8) | 3)) == 0 else {
            print("skipped: mknod of a character device needs root (errno \(errno)); checked /dev/null without writing")
            return
        }
        expectRefused(device, as: .characterDevice)
    }

    @Test func aDirectoryIsRefused() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let sub = dir.appendingPathComponent("figure.svg")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: false)
        try Data("mine".utf8).write(to: sub.appendingPathComponent("inside"))
        expectRefused(sub, as: .directory)
        #expect(try String(contentsOf: sub.appendingPathComponent("inside"), encoding: .utf8) == "mine")
    }

    @Test func emptyAndFolderPathsAreRefusedBeforeAnyWork() {
        for path in ["", "/tmp/", "/nonexistent-folder-\(UUID().uuidString)/x.csv"] {
            #expect(throws: FileWriteError.self, "\(path)") { try AtomicFile.checkDestination(path) }
        }
        #expect(throws: (any Error).self) { try checkWritable("", flag: "--csv") }
        #expect(throws: UserError.self) { _ = try makeFolder("") }
    }

    @Test func aSystemFailureNamesThePathAndTheReason() {
        let error = FileWriteError(path: "/out/metrics.json", operation: "write", reason: String(cString: strerror(ENOSPC)))
        #expect(error.localizedDescription == "/out/metrics.json: cannot write: No space left on device")
        #expect("\(error)" == error.localizedDescription)
    }

    @Test func theCleanupRemovesOnlyRegularFilesNamedExactlyAsInterruptedWrites() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let uuid = UUID().uuidString
        let fm = FileManager.default
        try fm.createDirectory(at: dir.appendingPathComponent("maps"), withIntermediateDirectories: true)
        let stale = [".checkpoint.safetensors.partial-\(uuid)", "maps/.m.npy.partial-\(uuid)", ".dat.nosync1a2b"]
        for name in stale { try Data(count: 10).write(to: dir.appendingPathComponent(name)) }
        // The user's: a folder named like a temporary file, a file with a suffix that is no UUID,
        // a folder with a real UUID suffix, and a link named like one (to a file that must stay).
        try fm.createDirectory(at: dir.appendingPathComponent(".notes.partial-keep"), withIntermediateDirectories: true)
        try Data("notes".utf8).write(to: dir.appendingPathComponent(".notes.partial-keep/notes.txt"))
        try Data("x".utf8).write(to: dir.appendingPathComponent(".x.partial-0A1B"))
        try fm.createDirectory(at: dir.appendingPathComponent(".y.partial-\(uuid)"), withIntermediateDirectories: true)
        try Data("z".utf8).write(to: dir.appendingPathComponent("keep.txt"))
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent(".z.partial-\(uuid)").path, withDestinationPath: "keep.txt")
        let outside = try folder()
        defer { try? fm.removeItem(at: outside) }
        try Data(count: 1).write(to: outside.appendingPathComponent(".o.partial-\(uuid)"))
        try fm.createSymbolicLink(at: dir.appendingPathComponent("linked"), withDestinationURL: outside)

        OutputFolderLock.tidy(dir)
        for name in stale { #expect(!fm.fileExists(atPath: dir.appendingPathComponent(name).path), "\(name)") }
        for name in [".notes.partial-keep/notes.txt", ".x.partial-0A1B", ".y.partial-\(uuid)", "keep.txt"] {
            #expect(fm.fileExists(atPath: dir.appendingPathComponent(name).path), "\(name) was removed")
        }
        #expect(kind(dir.appendingPathComponent(".z.partial-\(uuid)")) == .symbolicLink)
        #expect(fm.fileExists(atPath: outside.appendingPathComponent(".o.partial-\(uuid)").path), "followed a link out of the folder")
    }

    @Test func aSymbolicLinkAtTheLockIsRefusedAndItsTargetKept() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let victim = dir.appendingPathComponent("victim.txt")
        try Data("precious".utf8).write(to: victim)
        let output = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: output.appendingPathComponent(".isometry.lock"), withDestinationURL: victim)
        #expect(throws: UserError.self) { try OutputFolderLock.acquire(output) }
        #expect(try String(contentsOf: victim, encoding: .utf8) == "precious")
        // A FIFO there neither blocks nor is taken for a lock.
        let other = dir.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        #expect(mkfifo(other.appendingPathComponent(".isometry.lock").path, 0o644) == 0)
        #expect(throws: UserError.self) { try OutputFolderLock.acquire(other) }
    }

    @Test func stagedFilesAppearTogetherOrNotAtAll() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        try AtomicFile.write("old report", to: dir.appendingPathComponent("report.json"))
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("maps"), withIntermediateDirectories: true)
        try AtomicFile.write("old map", to: dir.appendingPathComponent("maps/a.npy"))

        // A run that fails leaves the previous files as they were.
        let failed = try OutputStaging(into: dir)
        try failed.write("new map", to: "maps/a.npy")
        failed.discard()
        #expect(try String(contentsOf: dir.appendingPathComponent("maps/a.npy"), encoding: .utf8) == "old map")

        let run = try OutputStaging(into: dir)
        try run.write("new map", to: "maps/a.npy")
        try run.write("new report", to: "report.json")
        try run.write("figure", to: "figures/f.svg")
        try run.commit()
        #expect(try String(contentsOf: dir.appendingPathComponent("maps/a.npy"), encoding: .utf8) == "new map")
        #expect(try String(contentsOf: dir.appendingPathComponent("report.json"), encoding: .utf8) == "new report")
        #expect(try String(contentsOf: dir.appendingPathComponent("figures/f.svg"), encoding: .utf8) == "figure")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["figures", "maps", "report.json"])
    }

    @Test func aKilledRunsStagingIsRemovedAndACommitCutShortIsFinished() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        try AtomicFile.write("old", to: dir.appendingPathComponent("report.json"))
        try AtomicFile.write("old", to: dir.appendingPathComponent("report.html"))
        // Killed while writing: no commit list, so nothing of it may appear.
        let uncommitted = dir.appendingPathComponent(OutputStaging.prefix + UUID().uuidString)
        try FileManager.default.createDirectory(at: uncommitted.appendingPathComponent("maps"), withIntermediateDirectories: true)
        try Data("half".utf8).write(to: uncommitted.appendingPathComponent("report.json"))
        // Killed between two renames of a commit: the list is on disk, one file already moved.
        let cut = dir.appendingPathComponent(OutputStaging.prefix + UUID().uuidString)
        try FileManager.default.createDirectory(at: cut, withIntermediateDirectories: true)
        try Data("new".utf8).write(to: dir.appendingPathComponent("report.json"))
        try Data("new".utf8).write(to: cut.appendingPathComponent("report.html"))
        try Data("report.html\nreport.json\n".utf8).write(to: cut.appendingPathComponent(".commit"))

        OutputFolderLock.tidy(dir)
        #expect(try String(contentsOf: dir.appendingPathComponent("report.json"), encoding: .utf8) == "new")
        #expect(try String(contentsOf: dir.appendingPathComponent("report.html"), encoding: .utf8) == "new")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["report.html", "report.json"])
    }

    @Test func aCommitRefusesALinkedDestinationBeforeMovingAnything() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let victim = dir.appendingPathComponent("victim")
        try Data("keep".utf8).write(to: victim)
        try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent("b.svg"), withDestinationURL: victim)
        let run = try OutputStaging(into: dir)
        try run.write("a", to: "a.json")
        try run.write("b", to: "b.svg")
        #expect(throws: FileWriteError.self) { try run.commit() }
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("a.json").path))
        #expect(try String(contentsOf: victim, encoding: .utf8) == "keep")
    }
}
