import Foundation
import GridShards
import Testing

/// A toy grid: `size` points, row i holds i² (as text), so any split can be checked.
struct ToyGrid: Codable, Equatable {
    var size: Int
    var label = "toy"
}

struct ToyRow: Equatable {
    var index: Int
    var value: Double
}

let toyFormat = GridFileFormat<ToyGrid, ToyRow>(
    kind: "toy grid", columns: "index,value", pointCount: { $0.size }, isValid: { $0.size >= 1 },
    index: { $0.index }, encode: { "\($0.index),\($0.value)" },
    decode: { line in
        let f = line.split(separator: ",")
        guard f.count == 2, let i = Int(f[0]), let v = Double(f[1]) else { return nil }
        return ToyRow(index: i, value: v)
    })

func toyRow(_ i: Int) -> ToyRow { ToyRow(index: i, value: Double(i * i) / 7) }

func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("isometry-shards-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite struct ShardTests {
    @Test func parsingAndRefusals() throws {
        #expect(try Shard(parsing: "2/5") == Shard(2, of: 5))
        #expect(Shard.whole.isWhole && Shard.whole.description == "1/1")
        for bad in ["3/2", "0/2", "2", "a/b", "1/0", "-1/2", "1/2/3", "/2", ""] {
            #expect(throws: GridShardError.invalidShard(bad)) { try Shard(parsing: bad) }
        }
        #expect(GridShardError.invalidShard("3/1").description == "must be k/n with 1 ≤ k ≤ n, got 3/1")
    }

    @Test func shardsPartitionTheGridRoundRobin() throws {
        for n in 1 ... 7 {
            let parts = try (1 ... n).map { try Shard($0, of: n).indices(pointCount: 23) }
            #expect(parts.flatMap { $0 }.sorted() == Array(0 ..< 23))
            #expect(parts.map(\.count).max()! - parts.map(\.count).min()! <= 1, "equal work")
            for (k, part) in parts.enumerated() { #expect(part.allSatisfy { try! Shard(k + 1, of: n).contains($0) }) }
        }
        #expect(try Shard(3, of: 4).fileName(stem: "sweep", extension: "csv") == "sweep-part-3-of-4.csv")
        #expect(Shard.whole.fileName(stem: "study", extension: "csv") == "study.csv")
    }

    @Test func commandWithoutItsShardAndQuoted() {
        let command = ShardRecord.currentCommand(program: "study", arguments: ["--layers", "2", "5", "--shard", "2/3", "--output", "my out", "--shard=1/3"])
        #expect(command == ["study", "--layers", "2", "5", "--output", "my out"])
        let record = ShardRecord(shard: try! Shard(2, of: 3), command: command)
        #expect(record.command(for: try! Shard(3, of: 3)) == "study --layers 2 5 --output 'my out' --shard 3/3")
    }
}

@Suite struct GridFileTests {
    let grid = ToyGrid(size: 10)

    func shardText(_ k: Int, of n: Int, rows: [Int]? = nil) -> String {
        let shard = try! Shard(k, of: n)
        let record = ShardRecord(shard: shard, command: ["toy", "--size", "10"])
        return toyFormat.text(grid: grid, shard: record, rows: (rows ?? shard.indices(pointCount: 10)).map(toyRow))
    }

    @Test func shardsMergeToTheWholeFileExactly() throws {
        let whole = toyFormat.text(grid: grid, rows: (0 ..< 10).map(toyRow))
        let parts = (1 ... 3).reversed().map { (path: "out/toy-part-\($0)-of-3.csv", text: shardText($0, of: 3)) }
        let merged = try toyFormat.merge(parts)
        #expect(toyFormat.text(grid: merged.grid, rows: merged.rows) == whole, "merged text is the unsharded text, byte for byte")
        let read = try toyFormat.read(whole, path: "toy.csv")
        #expect(read.shard == nil && read.rows == (0 ..< 10).map(toyRow))
        #expect(whole.hasPrefix("# isometry toy grid {\"label\":\"toy\",\"size\":10}\nindex,value\n0,0.0\n"))
    }

    @Test func mergeNamesMissingAndUnfinishedShardFilesAndTheirCommands() throws {
        let parts = [(path: "out/toy-part-1-of-4.csv", text: shardText(1, of: 4)),
                     (path: "out/toy-part-2-of-4.csv", text: shardText(2, of: 4, rows: [1]))]
        do {
            _ = try toyFormat.merge(parts)
            Issue.record("merge accepted missing shards")
        } catch {
            guard case .missingShards(let missing) = error else { Issue.record("\(error)"); return }
            #expect(missing.map(\.shard.k) == [2, 3, 4])
            #expect(missing.map(\.path) == ["out/toy-part-2-of-4.csv", "out/toy-part-3-of-4.csv", "out/toy-part-4-of-4.csv"])
            #expect(missing[0].present == 1 && missing[0].expected == 3 && missing[0].fileGiven)
            let text = error.description
            #expect(text.contains("missing shard files out/toy-part-3-of-4.csv, out/toy-part-4-of-4.csv"), "\(text)")
            #expect(text.contains("unfinished shard out/toy-part-2-of-4.csv (1 of 3 points)"), "\(text)")
            #expect(text.contains("toy --size 10 --shard 3/4 ; toy --size 10 --shard 4/4"), "\(text)")
            #expect(!text.contains("merge:") && !text.contains("\n"), "one line, no command prefix: \(text)")
        }
    }

    @Test func mergeRefusesMixedGridsDuplicatesAndForeignRows() throws {
        let one = (path: "a.csv", text: shardText(1, of: 2)), two = (path: "b.csv", text: shardText(2, of: 2))
        #expect(throws: GridShardError.duplicatePoint(path: "a.csv", index: 0, alsoIn: "a.csv")) { try toyFormat.merge([one, two, one]) }
        let foreign = (path: "c.csv", text: toyFormat.text(grid: ToyGrid(size: 10, label: "other"), rows: []))
        #expect(throws: GridShardError.differentGrid(path: "c.csv", reference: "a.csv")) { try toyFormat.merge([one, two, foreign]) }
        #expect(throws: GridShardError.noFiles) { try toyFormat.merge([]) }
        #expect(throws: GridShardError.rowOutsideShard(path: "d.csv", line: 5, index: 1, shard: try Shard(1, of: 2))) {
            try toyFormat.read(shardText(1, of: 2, rows: [0, 1]), path: "d.csv")
        }
        #expect(throws: GridShardError.notAGridFile(path: "e.csv", expectedPrefix: "# isometry toy grid ")) {
            try toyFormat.read("index,value\n", path: "e.csv")
        }
        #expect(throws: GridShardError.invalidRow(path: "f.csv", line: 3, columns: 2, pointCount: 10)) {
            try toyFormat.read(toyFormat.text(grid: grid, rows: []) + "12,1.0\n", path: "f.csv")
        }
        // Unsharded files that leave points out: counted, since no shard is recorded.
        let partial = (path: "g.csv", text: toyFormat.text(grid: grid, rows: [0, 1].map(toyRow)))
        #expect(throws: GridShardError.missingPoints(missing: 8, total: 10, first: 2)) { try toyFormat.merge([partial]) }
    }

    @Test func writerResumesAndNeverRecomputes() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("toy-part-1-of-2.csv")
        let record = ShardRecord(shard: try Shard(1, of: 2), command: ["toy"])
        let indices = record.shard.indices(pointCount: 10)
        var writer = try GridShardWriter(format: toyFormat, grid: grid, shard: record, url: url)
        #expect(try toyFormat.read(String(contentsOf: url, encoding: .utf8), path: url.path).rows.isEmpty, "header written at once")
        for index in writer.pending(indices).prefix(2) { try writer.append(toyRow(index)) }
        // "Killed" here: the file holds the two finished points, complete.
        writer = try GridShardWriter(format: toyFormat, grid: grid, shard: record, url: url)
        #expect(writer.resumedCount == 2 && writer.pending(indices) == [4, 6, 8])
        for index in writer.pending(indices) { try writer.append(toyRow(index)) }
        #expect(try String(contentsOf: url, encoding: .utf8) == shardText(1, of: 2).replacingOccurrences(of: "[\"toy\",\"--size\",\"10\"]", with: "[\"toy\"]"))
        // Another grid or shard in the same file is refused; --fresh starts over.
        #expect(throws: GridShardError.self) { try GridShardWriter(format: toyFormat, grid: ToyGrid(size: 11), shard: record, url: url) }
        #expect(throws: GridShardError.self) { try GridShardWriter(format: toyFormat, grid: grid, shard: nil, url: url) }
        #expect(try GridShardWriter(format: toyFormat, grid: ToyGrid(size: 11), shard: record, url: url, fresh: true).rows.isEmpty)
    }
}
