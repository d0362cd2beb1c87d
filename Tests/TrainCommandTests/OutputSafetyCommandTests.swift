import CommandTestSupport
import Foundation
import Glibc
import Testing
import TensorAlgebra

/// Outputs through the commands: a destination that is not a regular file is refused before any
/// work, an empty output path is refused, and a run killed or starved of disk leaves the previous
/// run's files whole.
@Suite(.serialized) struct OutputSafetyCommandTests {
    func dataset() throws -> URL {
        var generator = SeededGenerator(seed: 3)
        return try writeRowClassDataset(prefix: "isometry-outputs", train: 40, test: 12, noise: 100, signal: 150, using: &generator)
    }

    func expectOneLine(_ result: (status: Int32, output: String, error: String), _ mentions: [String],
                       sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == 2, "exit \(result.status): \(result.error)", sourceLocation: sourceLocation)
        #expect(result.error.split(separator: "\n").count == 1, "\(result.error)", sourceLocation: sourceLocation)
        for mention in mentions { #expect(result.error.contains(mention), "\(result.error) lacks \(mention)", sourceLocation: sourceLocation) }
    }

    func kind(_ path: String) -> mode_t {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & S_IFMT : 0
    }

    /// Every file under `folder`, relative path → bytes (hidden files included).
    func snapshot(_ folder: URL) -> [String: Data] {
        var files: [String: Data] = [:]
        let enumerator = FileManager.default.enumerator(atPath: folder.path)
        while let path = enumerator?.nextObject() as? String {
            if let data = FileManager.default.contents(atPath: folder.appendingPathComponent(path).path) { files[path] = data }
        }
        return files
    }

    func hiddenLeftovers(_ folder: URL) -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: folder.path)
        var found: [String] = []
        while let path = enumerator?.nextObject() as? String {
            if (path as NSString).lastPathComponent.hasPrefix("."), !path.hasSuffix(".isometry.lock") { found.append(path) }
        }
        return found
    }

    @Test func spectrumRefusesDevicesFoldersLinksAndEmptyPathsBeforeComputing() throws {
        let folder = try dataset()
        defer { try? FileManager.default.removeItem(at: folder) }
        let target = folder.appendingPathComponent("target.svg")
        try Data("keep".utf8).write(to: target)
        let link = folder.appendingPathComponent("link.svg")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: target)
        let base = ["--layers", "2", "--width", "8", "--samples", "1"]
        for (flag, path, mention) in [("--csv", "/dev/null", "character device"), ("--csv", "", "empty"),
                                      ("--csv", folder.path, "directory"), ("--csv", folder.path + "/", "folder"),
                                      ("--plot", link.path, "symbolic link"), ("--plot", "/dev/stdout", "symbolic link")] {
            let result = try runExecutable("spectrum", base + [flag, path], timeout: 60)
            expectOneLine(result, [flag, mention])
            // Refused before the spectra: the report is printed only after they are computed.
            #expect(result.output.isEmpty, "computed before refusing \(flag) \(path)")
        }
        #expect(kind("/dev/null") == S_IFCHR)
        #expect(kind(link.path) == S_IFLNK)
        #expect(try String(contentsOf: target, encoding: .utf8) == "keep")
    }

    @Test func anEmptyOutputFolderIsRefused() throws {
        let folder = try dataset()
        defer { try? FileManager.default.removeItem(at: folder) }
        for (command, arguments) in [("train", ["--data", folder.path, "--layers", "2", "--batch", "8", "--epochs", "1"]),
                                     ("spectrum", ["sweep", "--sigma-steps", "1", "--q0-steps", "1", "--layers", "2", "--width", "4"]),
                                     ("study", ["--data", folder.path, "--layers", "2", "--init", "identity", "--batch", "8", "--limit", "40"])] {
            let result = try runExecutable(command, arguments + ["--output", ""], timeout: 120)
            expectOneLine(result, ["--output", "empty"])
        }
    }

    @Test func aRunKilledBeforeOrDuringItsCommitLeavesOneRunsReport() throws {
        let folder = try dataset()
        defer { try? FileManager.default.removeItem(at: folder) }
        let trained = folder.appendingPathComponent("trained")
        let train = try runExecutable("train", ["--data", folder.path, "--layers", "2", "--batch", "8", "--epochs", "1", "--output", trained.path])
        #expect(train.status == 0, "\(train.error)")
        let output = folder.appendingPathComponent("report")
        func interpret(_ samples: String, kill point: String? = nil) throws -> (status: Int32, output: String, error: String) {
            try runExecutable("interpret", ["--checkpoint", trained.appendingPathComponent("checkpoint.safetensors").path, "--data", folder.path,
                                            "--samples", samples, "--linearise", "12", "--output", output.path],
                              timeout: 120, environment: point.map { ["ISOMETRY_TEST_KILL": $0] } ?? [:])
        }
        #expect(try interpret("0,1").status == 0)
        let first = snapshot(output)
        #expect(first.keys.contains("report.json") && first.keys.contains { $0.hasPrefix("maps/") })

        // kill -9 after every file is written, before the commit: the old report, whole.
        let killed = try interpret("2,3,4", kill: "before-commit")
        #expect(killed.status == SIGKILL, "\(killed.error)")
        let visible = snapshot(output).filter { !$0.key.hasPrefix(".") }
        #expect(visible == first.filter { !$0.key.hasPrefix(".") }, "a killed run changed the report")

        // The next run removes what the killed one staged, and leaves no temporary file anywhere.
        #expect(try interpret("0,1").status == 0)
        #expect(hiddenLeftovers(output).isEmpty, "\(hiddenLeftovers(output))")

        // kill -9 between two renames of the commit: the next run finishes it, then writes its own.
        let cut = try interpret("2,3,4", kill: "mid-commit")
        #expect(cut.status == SIGKILL, "\(cut.error)")
        let third = try interpret("2,3,4")
        #expect(third.status == 0, "\(third.error)")
        #expect(hiddenLeftovers(output).isEmpty, "\(hiddenLeftovers(output))")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("report.json"))) as! [String: Any]
        #expect((json["samples"] as! [[String: Any]]).count == 3)
    }

    @Test func aFullDiskLeavesThePreviousRunsFilesAsTheyWere() throws {
        let folder = try dataset()
        defer { try? FileManager.default.removeItem(at: folder) }
        let disk = folder.appendingPathComponent("disk")
        try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=512k", "tmpfs", disk.path]
        mount.standardError = FileHandle.nullDevice
        guard getuid() == 0, (try? mount.run()) != nil, ({ mount.waitUntilExit(); return mount.terminationStatus == 0 })() else {
            print("skipped: a small tmpfs cannot be mounted here (needs root and mount rights)")
            return
        }
        defer {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = [disk.path]
            try? umount.run()
            umount.waitUntilExit()
        }
        let output = disk.appendingPathComponent("run")
        let arguments = ["--data", folder.path, "--layers", "2", "--batch", "8", "--output", output.path]
        let first = try runExecutable("train", arguments + ["--epochs", "1"])
        #expect(first.status == 0, "\(first.error)")
        let before = snapshot(output).filter { !$0.key.hasPrefix(".") }
        #expect(before.keys.contains("metrics.json") && before.keys.contains("checkpoint.safetensors"))
        // Fill the disk to the last byte.
        let filler = disk.appendingPathComponent("filler")
        let fd = open(filler.path, O_WRONLY | O_CREAT, 0o644)
        let block = [UInt8](repeating: 1, count: 4096)
        while write(fd, block, block.count) > 0 {}
        var one: UInt8 = 1
        while write(fd, &one, 1) > 0 {}
        close(fd)

        let second = try runExecutable("train", arguments + ["--epochs", "2", "--seed", "7"])
        expectOneLine(second, ["No space left on device"])
        #expect(!second.error.contains("error 1.") && !second.error.contains("NSCocoaErrorDomain"), "\(second.error)")
        #expect(snapshot(output).filter { !$0.key.hasPrefix(".") } == before, "the failed run changed the previous run's files")
        try FileManager.default.removeItem(at: filler)
        #expect(try runExecutable("train", arguments + ["--epochs", "1"]).status == 0)
        #expect(hiddenLeftovers(output).isEmpty, "\(hiddenLeftovers(output))")
    }
}
