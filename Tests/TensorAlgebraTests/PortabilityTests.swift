import Foundation
import Testing

/// The sources build off x86-64 glibc: aarch64 (no `<cpuid.h>`, no `__builtin_cpu_supports`)
/// and musl (no `Glibc` module).
@Suite struct PortabilityTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Issue: Sources/CBLAS/shim.h included `<cpuid.h>` and called `__builtin_cpu_supports`
    /// unguarded, so no aarch64 build compiled it. Preprocessed for aarch64 with empty stand-ins
    /// for the other headers, it must need neither.
    @Test func blasShimPreprocessesForAarch64() throws {
        let stubs = FileManager.default.temporaryDirectory.appendingPathComponent("isometry-shim-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: stubs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: stubs) }
        for header in ["cblas.h", "stdlib.h", "string.h"] {
            try Data().write(to: stubs.appendingPathComponent(header))
        }
        guard let clang = ["/opt/swift/usr/bin/clang", "/usr/bin/clang"].first(where: FileManager.default.isExecutableFile(atPath:)) else {
            Issue.record("no clang to preprocess the shim with")
            return
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: clang)
        process.arguments = ["-E", "-P", "-nostdinc", "-I", stubs.path, "-target", "aarch64-unknown-linux-gnu", "-x", "c",
                             Self.root.appendingPathComponent("Sources/CBLAS/shim.h").path]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(message)")
        #expect(!text.contains("__builtin_cpu"))
        #expect(!text.contains("__get_cpuid"))
        #expect(text.contains("isometry_openblas_repair_core"))
    }

    /// Issue: the durable writers called `Glibc.write` by its module's name, which does not
    /// exist with musl; every call goes through `systemWrite`, which picks the C library.
    @Test func writersCallThePlatformsWrite() throws {
        let folder = Self.root.appendingPathComponent("Sources/IsometrySupport")
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) where name.hasSuffix(".swift") && name != "SystemWrite.swift" {
            let text = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
            #expect(!text.contains("Glibc.write("), "\(name)")
            let bare = text.split(separator: "\n").filter { $0.contains(" write(descriptor") || $0.contains(" write(fd") }
            #expect(bare.isEmpty, "\(name): \(bare)")
        }
    }
}
