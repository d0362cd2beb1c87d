import Foundation
import GridShards
import IsometrySupport
import Testing
import TestSupport

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
    },
    check: { _, row in row.value.isNaN ? "value is nan" : nil })

func toyRow(_ i: Int) -> ToyRow { ToyRow(index: i, value: Double(i * i) / 7) }

@Suite struct ShardTests {
    @Test func parsingAndRefusals() throws {
        #expect(try Shard(parsing: "2/5") == Shard(2, of: 5))
        #expect(Shard.whole.isWhole && Shard.whole.description == "1/1")
        for bad in ["3/2", "0/2", "2", "a/b", "1/0", "-1/2", "1/2/3", "/2", ""] {
            #expect(throws: GridShardError.invalidShard(bad)) { try Shard(parsing: bad) }
        }
        #expect(GridShardError.invalidShard("3/1").description == "must be k/n with 1 ≤ k ≤ n ≤ 1000000, got 3/1")
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
        let command = ShardRecord.command(program: "study", arguments: ["--layers", "2", "5", "--shard", "2/3", "--output", "my out", "--shard=1/3"])
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
            guard case .missingShards(let missing, absent: 2, unfinished: 1, shardCount: 4) = error else { Issue.record("\(error)"); return }
            #expect(missing.map(\.shard.k) == [2, 3, 4])
            #expect(missing.map(\.path) == ["out/toy-part-2-of-4.csv", "out/toy-part-3-of-4.csv", "out/toy-part-4-of-4.csv"])
            #expect(missing[0].present == 1 && missing[0].expected == 3 && missing[0].fileGiven)
            let text = error.description
            #expect(text.contains("2 of 4 shard files missing: out/toy-part-3-of-4.csv, out/toy-part-4-of-4.csv"), "\(text)")
            #expect(text.contains("1 of 4 shards unfinished: out/toy-part-2-of-4.csv (1 of 3 points)"), "\(text)")
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
        let folder = try temporaryFolder("shards")
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

/// Files and flags that ask for more than a grid can hold: shard counts, grid sizes, file sizes.
@Suite struct GridBoundsTests {
    func shardText(_ k: Int, of n: Int, size: Int, rows: [Int]) -> String {
        toyFormat.text(grid: ToyGrid(size: size), shard: ShardRecord(shard: try! Shard(k, of: n), command: ["toy"]), rows: rows.map(toyRow))
    }

    @Test func shardCountsAreBounded() throws {
        #expect(Shard.maximumCount == 1_000_000)
        #expect(try Shard(parsing: "1/1000000").n == 1_000_000)
        for bad in ["1/9223372036854775807", "1/1000001"] {
            #expect(throws: GridShardError.invalidShard(bad)) { try Shard(parsing: bad) }
        }
        #expect(GridShardError.invalidShard("1/1000001").description == "must be k/n with 1 ≤ k ≤ n ≤ 1000000, got 1/1000001")
        // A 455-byte file claiming part 1 of 10^14: refused on reading its shard line.
        let huge = shardText(1, of: 2, size: 10, rows: [0]).replacingOccurrences(of: "\"n\":2", with: "\"n\":100000000000000")
        #expect(throws: GridShardError.invalidShardLine(path: "h.csv", line: 2)) { try toyFormat.read(huge, path: "h.csv") }
        // More shards than points: in a file, and asked of the writer.
        let eleven = shardText(1, of: 11, size: 12, rows: [0]).replacingOccurrences(of: "\"size\":12", with: "\"size\":10")
        #expect(throws: GridShardError.tooManyShards(path: "e.csv", shard: try Shard(1, of: 11), pointCount: 10)) {
            try toyFormat.read(eleven, path: "e.csv")
        }
        #expect(GridShardError.tooManyShards(path: nil, shard: try Shard(1, of: 11), pointCount: 10).description
            == "shard 1/11 splits the grid into more parts than its 10 points (n must be at most 10)")
        let folder = try temporaryFolder("shards")
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(throws: GridShardError.tooManyShards(path: nil, shard: try Shard(1, of: 11), pointCount: 10)) {
            try GridShardWriter(format: toyFormat, grid: ToyGrid(size: 10), shard: ShardRecord(shard: try Shard(1, of: 11), command: []),
                                url: folder.appendingPathComponent("t.csv"))
        }
    }

    @Test func manyMissingShardsAreCountedAndAFewNamed() throws {
        let parts = [(path: "out/toy-part-1-of-100.csv", text: shardText(1, of: 100, size: 1000, rows: [0, 100, 200])),
                     (path: "out/toy-part-2-of-100.csv", text: shardText(2, of: 100, size: 1000, rows: Array(stride(from: 1, to: 1000, by: 100))))]
        #expect(throws: GridShardError.self) { try toyFormat.merge(parts) }
        do { _ = try toyFormat.merge(parts) } catch {
            guard case .missingShards(let named, absent: 98, unfinished: 1, shardCount: 100) = error else { Issue.record("\(error)"); return }
            #expect(named.map(\.shard.k) == [1, 3, 4, 5, 6])
            #expect(error.description == "98 of 100 shard files missing: out/toy-part-3-of-100.csv, out/toy-part-4-of-100.csv, "
                + "out/toy-part-5-of-100.csv, out/toy-part-6-of-100.csv, and 94 more; 1 of 100 shards unfinished: "
                + "out/toy-part-1-of-100.csv (3 of 10 points); compute them with: toy --shard 1/100 ; toy --shard 3/100 ; "
                + "toy --shard 4/100 ; toy --shard 5/100 ; toy --shard 6/100 ; … (the same command with --shard k/100 for the 94 others) "
                + "(a re-run resumes, keeping the points already done)")
        }
    }

    @Test func mergeCostsWhatTheRowsCostNotWhatTheGridClaims() throws {
        // 10^15 points described in a few bytes: the merge counts what is missing from the rows
        // it was given, allocating nothing per point of the grid.
        let size = 1_000_000_000_000_000
        let whole = (path: "w.csv", text: toyFormat.text(grid: ToyGrid(size: size), rows: [0, 1, 3].map(toyRow)))
        #expect(throws: GridShardError.missingPoints(missing: size - 3, total: size, first: 2)) { try toyFormat.merge([whole]) }
        let part = (path: "p-part-2-of-4.csv", text: shardText(2, of: 4, size: size, rows: [1]))
        do { _ = try toyFormat.merge([part]) } catch {
            guard case .missingShards(let named, absent: 3, unfinished: 1, shardCount: 4) = error else { Issue.record("\(error)"); return }
            #expect(named.map(\.expected) == [size / 4, size / 4, size / 4, size / 4] && named[1].present == 1)
        }
    }

    @Test func gridFilesAreReadWithinABudget() throws {
        let folder = try temporaryFolder("shards")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("toy.csv")
        let text = toyFormat.text(grid: ToyGrid(size: 10), rows: (0 ..< 10).map(toyRow))
        try AtomicFile.write(Array(text.utf8), to: url)
        let bytes = text.utf8.count
        #expect(try readGridFiles([url.path]).map(\.text) == [text])
        #expect(throws: GridShardError.mergeTooLarge(files: 2, fileBytes: 2 * bytes, bytes: 16 * bytes, limit: 1000)) {
            try readGridFiles([url.path, url.path], limit: 1000)
        }
        #expect(throws: GridShardError.cannotRead(path: folder.path, reason: "is a directory, not a regular file")) {
            try readGridFiles([folder.path])
        }
        #expect(GridShardError.fileTooLarge(path: "big.csv", bytes: 2_000_000_000, maximum: GridFileLimits.maximumFileBytes).description
            == "big.csv: is 2.0 GB (2000000000 bytes), more than the 1.0 GB a grid file may have")
    }
}

/// Files that merge would once have accepted although they contradict themselves.
@Suite struct GridConsistencyTests {
    let grid = ToyGrid(size: 10)

    @Test func unknownGridFieldsAreRefused() throws {
        let text = toyFormat.text(grid: grid, rows: [toyRow(0)])
        let other = text.replacingOccurrences(of: "{\"label\"", with: "{\"colour\":\"red\",\"label\"")
        #expect(throws: GridShardError.unknownGridField(path: "o.csv", field: "colour")) { try toyFormat.read(other, path: "o.csv") }
        // A null field says nothing decoding could drop.
        #expect(try toyFormat.read(text.replacingOccurrences(of: "{\"label\"", with: "{\"colour\":null,\"label\""), path: "n.csv").rows == [toyRow(0)])
        #expect(GridShardError.unknownGridField(path: "o.csv", field: "training.foo").description
            == "o.csv: line 1: the grid has a field 'training.foo' this version does not know (a file of another version cannot be merged or resumed)")
    }

    @Test func rowsAreCheckedAgainstTheirGrid() throws {
        let text = toyFormat.text(grid: grid, rows: [toyRow(0)]) + "1,nan\n"
        #expect(throws: GridShardError.inconsistentRow(path: "r.csv", line: 4, problem: "value is nan")) { try toyFormat.read(text, path: "r.csv") }
    }

    @Test func crlfLineEndsReadAsLF() throws {
        let text = toyFormat.text(grid: grid, shard: ShardRecord(shard: try Shard(1, of: 2), command: ["toy"]), rows: [0, 2, 4].map(toyRow))
        let crlf = text.replacingOccurrences(of: "\n", with: "\r\n")
        let (a, b) = (try toyFormat.read(text, path: "lf.csv"), try toyFormat.read(crlf, path: "crlf.csv"))
        #expect(a.rows == b.rows && a.grid == b.grid && a.shard == b.shard && b.tornLine == nil)
    }

    @Test func aTornLastRowIsReportedNotRead() throws {
        let text = toyFormat.text(grid: grid, rows: [toyRow(0)]) + "1,0.14"
        let file = try toyFormat.read(text, path: "t.csv")
        #expect(file.rows == [toyRow(0)] && file.tornLine == 4 && file.completeLength == text.utf8.count - 6)
        #expect(throws: GridShardError.tornLastLine(path: "t.csv", line: 4)) { try toyFormat.merge([(path: "t.csv", text: text)]) }
    }
}

@Suite struct GridShardWriterTests {
    let grid = ToyGrid(size: 10)

    func inode(_ url: URL) throws -> UInt64 {
        (try FileManager.default.attributesOfItem(atPath: url.path)[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
    }

    @Test func appendAddsTheRowInPlace() throws {
        let folder = try temporaryFolder("shards")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("toy.csv")
        let writer = try GridShardWriter(format: toyFormat, grid: grid, shard: nil, url: url)
        let header = try Data(contentsOf: url).count
        let node = try inode(url)
        try writer.append(toyRow(0))
        try writer.append(toyRow(1))
        // The same file, grown by exactly the two lines: nothing rewritten, nothing renamed.
        #expect(try inode(url) == node)
        #expect(try Data(contentsOf: url).count == header + "0,0.0\n1,0.14285714285714285\n".utf8.count)
        #expect(try String(contentsOf: url, encoding: .utf8) == toyFormat.text(grid: grid, rows: [0, 1].map(toyRow)))
    }

    @Test func aTornLastRowIsDroppedOnResume() throws {
        let folder = try temporaryFolder("shards")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("toy.csv")
        var writer = try GridShardWriter(format: toyFormat, grid: grid, shard: nil, url: url)
        for index in 0 ..< 2 { try writer.append(toyRow(index)) }
        // Killed (-9) while point 2 was written: a prefix of its line is on disk.
        let handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("2,0.5".utf8))
        try handle.close()
        writer = try GridShardWriter(format: toyFormat, grid: grid, shard: nil, url: url)
        #expect(writer.resumedCount == 2 && writer.droppedTornRow && writer.pending(Array(0 ..< 10)) == Array(2 ..< 10))
        for index in writer.pending(Array(0 ..< 10)) { try writer.append(toyRow(index)) }
        #expect(try String(contentsOf: url, encoding: .utf8) == toyFormat.text(grid: grid, rows: (0 ..< 10).map(toyRow)))
    }
}
