import Foundation
import Testing

/// Issue: scripts kept product and module lists by hand that drifted from Package.swift
/// (check-report.sh built train, interpret and spectrum but its report runs study; fuzz.sh's
/// module graph lacked IsometrySupport and FileFormats). They read Scripts/lib/manifest.sh.
@Suite struct ScriptManifestTests {
    static let root = PortabilityTests.root

    func shell(_ script: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", ". Scripts/lib/manifest.sh; " + script]
        process.currentDirectoryURL = Self.root
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    @Test func listsComeFromTheManifest() throws {
        let executables = try shell("manifest_executables")
        #expect(executables.status == 0)
        #expect(Set(executables.output.split(separator: "\n")) == ["train", "interpret", "spectrum", "study", "noisy-background", "embed"])
        let order = try shell("manifest_module_order Networks")
        let modules = order.output.split(separator: "\n").map(String.init)
        #expect(modules.last == "Networks")
        for needed in ["IsometrySupport", "TensorAlgebra", "FileFormats", "Datasets"] {
            #expect(modules.firstIndex(of: needed).map { $0 < modules.count - 1 } == true, "\(needed) in \(modules)")
        }
        let support = try #require(modules.firstIndex(of: "IsometrySupport")), formats = try #require(modules.firstIndex(of: "FileFormats"))
        #expect(support < formats)
    }

    @Test func noScriptListsProductsByHand() throws {
        let scripts = Self.root.appendingPathComponent("Scripts")
        for name in try FileManager.default.contentsOfDirectory(atPath: scripts.path) where name.hasSuffix(".sh") {
            let text = try String(contentsOf: scripts.appendingPathComponent(name), encoding: .utf8)
            #expect(text.range(of: #"for product in [a-z]"#, options: .regularExpression) == nil, "\(name) lists products by hand")
            #expect(!text.contains("module Networks "), "\(name) lists modules by hand")
        }
    }
}
