import CommandTestSupport
import Foundation
import Study
import Testing
import TensorAlgebra

func runStudy(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
    try runExecutable("study", arguments)
}

func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("isometry-study-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

func rows(_ path: String) throws -> [StudyResult] {
    try StudyGrid.fileFormat.read(String(contentsOfFile: path, encoding: .utf8), path: path).rows
}

@Suite(.serialized) struct StudyCommandTests {
    let data: URL = {
        var generator = SeededGenerator(seed: 3)
        return try! writeRowClassDataset(prefix: "isometry-study-data", train: 160, test: 60, noise: 60, signal: 150, using: &generator)
    }()

    /// A tiny grid: 2 depths × 4 initialisations × 1 seed on 16-pixel images.
    func grid(_ folder: URL) -> [String] {
        ["--data", data.path, "--layers", "2", "3", "--batch", "16", "--limit", "160", "--precision", "double", "--output", folder.path]
    }

    @Test func wholeRunWritesCsvJsonFigureAndResumes() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (status, output, error) = try runStudy(grid(folder))
        #expect(status == 0, "\(error)")
        #expect(output.contains("test accuracy (%)") && output.contains("study.svg"))
        let progress = error.split(separator: "\n").filter { $0.hasPrefix("study [") }
        #expect(progress.count == 8 && progress.allSatisfy { $0.contains("ETA") }, "\(error)")
        let csv = folder.appendingPathComponent("study.csv").path
        let results = try rows(csv)
        #expect(results.map(\.index) == Array(0 ..< 8) && results.allSatisfy { !$0.diverged && $0.testAccuracy != nil })
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("study.json"))) as! [String: Any]
        #expect((json["points"] as! [Any]).count == 8)
        let svg = try String(contentsOf: folder.appendingPathComponent("study.svg"), encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("Trainability against depth") && svg.contains("orthogonal σ_w = 1"))
        // A second run finds every point done: nothing is trained again, the numbers stay.
        let (again, _, againError) = try runStudy(grid(folder))
        #expect(again == 0 && againError.contains("resuming: 8 already done"), "\(againError)")
        #expect(!againError.contains("study ["), "no point recomputed: \(againError)")
        #expect(try rows(csv) == results)
        // Another grid in the same folder is refused, not mixed in; --fresh starts over.
        let (other, _, otherError) = try runStudy(grid(folder) + ["--seed", "5"])
        #expect(other == 2 && otherError.contains("holds another grid") && otherError.split(separator: "\n").count == 1, "\(otherError)")
    }

    @Test func shardsMergeToTheUnshardedNumbersAndMissingShardsAreNamed() throws {
        let folder = try temporaryFolder(), whole = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder); try? FileManager.default.removeItem(at: whole) }
        #expect(try runStudy(grid(whole)).status == 0)
        for k in 1 ... 3 {
            let (status, output, error) = try runStudy(grid(folder) + ["--shard", "\(k)/3"])
            #expect(status == 0 && output.contains("study merge"), "\(error)")
        }
        let part = { (k: Int) in folder.appendingPathComponent("study-part-\(k)-of-3.csv").path }
        let (missing, missingOutput, missingError) = try runStudy(["merge", part(1), part(3), "--output", folder.path])
        #expect(missing == 2 && missingOutput.isEmpty)
        #expect(missingError.split(separator: "\n").count == 1, "\(missingError)")
        #expect(missingError.hasPrefix("study: error: merge: 1 of 3 shard files missing: \(part(2))"), "\(missingError)")
        #expect(!missingError.contains("merge: merge:"))
        #expect(missingError.contains("--shard 2/3") && missingError.contains("--layers 2 3"), "\(missingError)")
        let (status, output, error) = try runStudy(["merge", part(1), part(2), part(3), "--output", folder.path])
        #expect(status == 0 && output.contains("8 points"), "\(error)")
        let merged = try rows(folder.appendingPathComponent("study.csv").path)
        let unsharded = try rows(whole.appendingPathComponent("study.csv").path)
        #expect(merged.map(\.withoutTiming) == unsharded.map(\.withoutTiming))
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("study.svg").path))
    }

    @Test func divergingPointsAreRecordedAndTheStudyGoesOn() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (status, _, error) = try runStudy(grid(folder) + ["--activation", "relu", "--lr", "1e6", "--precision", "float", "--init", "he", "identity"])
        #expect(status == 0, "\(error)")
        let results = try rows(folder.appendingPathComponent("study.csv").path)
        #expect(results.count == 4 && results.contains(where: \.diverged), "\(results.map(\.diverged))")
        #expect(error.contains("diverged"))
    }

    @Test func badInputExitsTwoWithOneLine() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let cases: [([String], [String])] = [
            (["--init", "identity", "xavier"], ["xavier"]),
            (["--activation", "softplus"], ["softplus"]),
            (["--activation", "linear"], ["--activation", "linear"]),
            (["--layers", "2", "0"], ["--layers", "0"]),
            (["--shard", "3/2"], ["--shard", "3/2"]),
            (["--sigma", "-1"], ["--sigma"]),
            (["--init", "he", "he"], ["--init", "he"]),
            (["--layers", "2", "10000", "--batch", "1000000"], ["cannot fit", "GiB", "10000"]),
            (["--batch", "1000"], ["--batch 1000", "160"]),
            (["--data", "/nonexistent-data"], ["--data", "/nonexistent-data"]),
            (["merge", "/nonexistent.csv"], ["/nonexistent.csv"]),
        ]
        for (arguments, mentions) in cases {
            let base = arguments.first == "merge" ? [] : ["--data", data.path, "--output", folder.path, "--limit", "160"]
            let (status, output, error) = try runStudy(base + arguments)
            #expect(status == 2, "\(arguments): exit \(status): \(error)")
            #expect(output.isEmpty, "\(arguments) printed to stdout: \(output)")
            #expect(error.split(separator: "\n").count == 1, "\(arguments): \(error)")
            for mention in mentions { #expect(error.contains(mention), "\(arguments): \(error)") }
        }
        // Refused before any training: no point was written.
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("study.csv").path))
    }
}
