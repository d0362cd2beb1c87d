import BenchmarkSupport
import Foundation
import Testing

@Suite struct PeerTests {
    static let peers = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Peers")

    /// Issue: `bench-interpret` discarded its peer's standard error and printed "–" for jacrev
    /// and Integrated Gradients when the peer failed (safetensors missing); a failing peer is
    /// now an error that shows the peer's last line of standard error.
    @Test func failingPeerIsAnErrorWithItsMessage() throws {
        let script = "echo 'Traceback (most recent call last):' >&2; echo \"ModuleNotFoundError: No module named 'safetensors'\" >&2; exit 1"
        do {
            _ = try runPeer("/bin/sh", ["-c", script])
            Issue.record("a failing peer returned normally")
        } catch {
            #expect(error.description.contains("ModuleNotFoundError: No module named 'safetensors'"), "\(error.description)")
            #expect(error.description.contains("exit status 1"), "\(error.description)")
        }
        do {
            _ = try runPeer("/nonexistent/python", [])
            Issue.record("a peer that cannot start returned normally")
        } catch {
            #expect(error.description.contains("cannot start"), "\(error.description)")
        }
        let output = try runPeer("/bin/sh", ["-c", "echo '{\"a\": 1}'; echo warning >&2"])
        #expect(String(decoding: output, as: UTF8.self) == "{\"a\": 1}\n")
    }

    /// A peer that writes much to standard error before its output does not block.
    @Test func largeStandardErrorDoesNotBlock() throws {
        let run = try runCapturingOutput("/bin/sh", ["-c", "head -c 1000000 /dev/zero | tr '\\0' x >&2; echo >&2; echo last >&2; echo done"])
        #expect(run.status == 0)
        #expect(run.lastErrorLine == "last")
        #expect(String(decoding: run.output, as: UTF8.self).hasSuffix("done\n"))
    }

    /// Issue: Benchmarks/Peers/README.md's set-up line did not install safetensors, which
    /// interpret_peer.py imports. Every package a peer imports outside Python's standard
    /// library is on that line.
    @Test func setUpLineInstallsEveryImportOfThePeers() throws {
        let readme = try String(contentsOf: Self.peers.appendingPathComponent("README.md"), encoding: .utf8)
        let setUp = try #require(readme.split(separator: "\n").first { $0.contains("pip install") })
        // Package names without extras or pinned versions ("jax[cpu]", "quantus==0.6.0"), and the
        // import names of packages that install under another name.
        var installed = Set(setUp.split(separator: " ").map {
            $0.replacingOccurrences(of: "\"", with: "").split(separator: "[")[0].split(separator: "=")[0]
        }.map(String.init))
        if installed.contains("scikit-learn") { installed.insert("sklearn") }
        let standard = try pythonStandardLibrary()
        var imported = Set<String>()
        for name in try FileManager.default.contentsOfDirectory(atPath: Self.peers.path) where name.hasSuffix(".py") {
            let text = try String(contentsOf: Self.peers.appendingPathComponent(name), encoding: .utf8)
            for line in text.split(separator: "\n") {
                let words = line.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1)
                guard words.count == 2, words[0] == "import" || words[0] == "from" else { continue }
                let modules = words[0] == "from" ? [words[1].split(separator: " ")[0]] : words[1].split(separator: ",")
                for module in modules {
                    let top = module.trimmingCharacters(in: .whitespaces).split(separator: " ")[0].split(separator: ".")[0]
                    imported.insert(String(top))
                }
            }
        }
        // A module beside the peers (isometry_data.py) is theirs, not a package to install.
        let local = Set(try FileManager.default.contentsOfDirectory(atPath: Self.peers.path)
            .filter { $0.hasSuffix(".py") }.map { String($0.dropLast(3)) })
        let missing = imported.subtracting(standard).subtracting(installed).subtracting(local)
        #expect(imported.contains("safetensors"))
        #expect(missing.isEmpty, "imported by the peers but not installed by the set-up line: \(missing.sorted())")
    }

    func pythonStandardLibrary() throws -> Set<String> {
        let run = try runCapturingOutput("/usr/bin/env", ["python3", "-c", "import sys; print('\\n'.join(sorted(sys.stdlib_module_names)))"])
        try #require(run.status == 0, "python3: \(run.lastErrorLine)")
        return Set(String(decoding: run.output, as: UTF8.self).split(separator: "\n").map(String.init))
    }
}
