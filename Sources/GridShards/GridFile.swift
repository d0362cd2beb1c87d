import Foundation

/// What a shard file records besides its grid: which part it is, and the command that computes
/// it (without its `--shard` option), so `merge` can name a missing shard's file and command.
public struct ShardRecord: Sendable, Codable, Equatable {
    public var shard: Shard
    /// The command line, program name first, without `--shard k/n`.
    public var command: [String]

    public init(shard: Shard, command: [String]) {
        self.shard = shard
        self.command = command
    }

    /// The command line of this process without its `--shard` option; the program is named
    /// `program` (not the path it was started by).
    public static func currentCommand(program: String, arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> [String] {
        var result = [program]
        var skipNext = false
        for argument in arguments {
            if skipNext { skipNext = false; continue }
            if argument == "--shard" { skipNext = true; continue }
            if argument.hasPrefix("--shard=") { continue }
            result.append(argument)
        }
        return result
    }

    /// The shell command that computes `shard` of the same grid.
    public func command(for shard: Shard) -> String {
        (command + ["--shard", shard.description]).map(shellQuoted).joined(separator: " ")
    }
}

/// A word as a POSIX shell reads it back: bare when it is safe, in single quotes otherwise.
public func shellQuoted(_ word: String) -> String {
    let safe = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
    if !word.isEmpty, word.unicodeScalars.allSatisfy({ safe.contains($0) }) { return word }
    return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// The contents of a grid file: its grid, its shard (nil for a whole-grid file) and its rows.
public struct GridFile<Grid, Row> {
    public var grid: Grid
    public var shard: ShardRecord?
    public var rows: [Row]

    public init(grid: Grid, shard: ShardRecord?, rows: [Row]) {
        self.grid = grid
        self.shard = shard
        self.rows = rows
    }
}

/// One text format for the files of every grid command (`spectrum sweep`, `study`):
///
/// ```text
/// # isometry <kind> {"the grid as JSON, sorted keys"}
/// # isometry shard {"command":[…],"shard":{"k":2,"n":4}}     (shard files only)
/// <columns>
/// <one row per finished point, its number first>
/// ```
///
/// The grid line lets `merge` refuse files of different grids; the shard line lets it name the
/// files and commands of missing shards. A whole-grid file has no shard line, so the output of
/// an unsharded run is the same text as the merge of its shards.
public struct GridFileFormat<Grid: Codable & Equatable, Row>: @unchecked Sendable {
    /// The words after "# isometry " on line 1 ("spectrum sweep", "study").
    public let kind: String
    /// The column header line.
    public let columns: String
    /// Number of comma-separated fields of a row (for error messages).
    public let fieldCount: Int
    private let pointCount: (Grid) -> Int
    private let isValid: (Grid) -> Bool
    private let index: (Row) -> Int
    private let encode: (Row) -> String
    private let decode: (String) -> Row?

    /// - Parameters:
    ///   - pointCount: the number of points of a grid.
    ///   - isValid: whether a decoded grid can be used (finite values, positive sizes, …).
    ///   - index: a row's point number.
    ///   - encode: a row as one line (no newline), its point number first.
    ///   - decode: a line back to a row, nil when it does not parse.
    public init(kind: String, columns: String, pointCount: @escaping (Grid) -> Int, isValid: @escaping (Grid) -> Bool = { _ in true },
                index: @escaping (Row) -> Int, encode: @escaping (Row) -> String, decode: @escaping (String) -> Row?) {
        self.kind = kind
        self.columns = columns
        fieldCount = columns.split(separator: ",").count
        self.pointCount = pointCount
        self.isValid = isValid
        self.index = index
        self.encode = encode
        self.decode = decode
    }

    public var gridPrefix: String { "# isometry \(kind) " }
    static var shardPrefix: String { "# isometry shard " }

    public func pointCount(of grid: Grid) -> Int { pointCount(grid) }

    /// A row's point number.
    public func pointIndex(_ row: Row) -> Int { index(row) }

    /// The file's text: grid line, shard line (when sharded), columns, rows by point number.
    public func text(grid: Grid, shard: ShardRecord? = nil, rows: [Row]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        guard let json = try? encoder.encode(grid) else { fatalError("GridFileFormat: the \(kind) grid does not encode as JSON") }
        var lines = [gridPrefix + String(decoding: json, as: UTF8.self)]
        let recordEncoder = JSONEncoder()
        recordEncoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        if let shard, let record = try? recordEncoder.encode(shard) {
            lines.append(Self.shardPrefix + String(decoding: record, as: UTF8.self))
        }
        lines.append(columns)
        for row in rows.sorted(by: { index($0) < index($1) }) { lines.append(encode(row)) }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Parses a file written by `text(grid:shard:rows:)`.
    public func read(_ text: String, path: String) throws(GridShardError) -> GridFile<Grid, Row> {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        guard let first = lines.first, first.hasPrefix(gridPrefix) else { throw .notAGridFile(path: path, expectedPrefix: gridPrefix) }
        guard let grid = try? JSONDecoder().decode(Grid.self, from: Data(first.dropFirst(gridPrefix.count).utf8)), isValid(grid) else {
            throw .invalidGrid(path: path)
        }
        var next = 1
        var shard: ShardRecord?
        if lines.count > 1, lines[1].hasPrefix(Self.shardPrefix) {
            guard let record = try? JSONDecoder().decode(ShardRecord.self, from: Data(lines[1].dropFirst(Self.shardPrefix.count).utf8)) else {
                throw .invalidShardLine(path: path, line: 2)
            }
            shard = record
            next = 2
        }
        guard lines.count > next, lines[next] == columns else { throw .missingColumns(path: path, line: next + 1, expected: columns) }
        let count = pointCount(grid)
        var rows: [Row] = []
        for offset in (next + 1) ..< max(lines.count, next + 1) {
            guard let row = decode(lines[offset]), (0 ..< count).contains(index(row)) else {
                throw .invalidRow(path: path, line: offset + 1, columns: fieldCount, pointCount: count)
            }
            if let shard, !shard.shard.contains(index(row)) {
                throw .rowOutsideShard(path: path, line: offset + 1, index: index(row), shard: shard.shard)
            }
            rows.append(row)
        }
        return GridFile(grid: grid, shard: shard, rows: rows)
    }

    /// Joins files of one grid: they must describe the same grid, overlap nowhere and cover it
    /// all. Missing points are reported by shard — the files that are absent or unfinished, and
    /// the commands that compute them — when the files record their shards.
    public func merge(_ parts: [(path: String, text: String)]) throws(GridShardError) -> (grid: Grid, rows: [Row]) {
        guard let firstPart = parts.first else { throw .noFiles }
        let files = try parts.map { part throws(GridShardError) in (part.path, try read(part.text, path: part.path)) }
        let grid = files[0].1.grid
        var seen: [Int: String] = [:]
        var rows: [Row] = []
        for (path, file) in files {
            if file.grid != grid { throw .differentGrid(path: path, reference: firstPart.path) }
            for row in file.rows {
                if let earlier = seen[index(row)] { throw .duplicatePoint(path: path, index: index(row), alsoIn: earlier) }
                seen[index(row)] = path
                rows.append(row)
            }
        }
        let count = pointCount(grid)
        let missing = (0 ..< count).filter { seen[$0] == nil }
        if missing.isEmpty { return (grid, rows.sorted { index($0) < index($1) }) }
        // Name shards when every file says which shard of the same split it is.
        let records = files.compactMap(\.1.shard)
        if records.count == files.count, let n = records.first?.shard.n, records.allSatisfy({ $0.shard.n == n }) {
            let folder = (firstPart.path as NSString).deletingLastPathComponent
            let givenPaths = Dictionary(files.map { ($0.1.shard!.shard.k, $0.0) }, uniquingKeysWith: { a, _ in a })
            let stem = Self.stem(of: firstPart.path, shard: records[0].shard)
            let reference = records[0]
            var shards: [GridShardError.MissingShard] = []
            for k in 1 ... n {
                let shard = try Shard(k, of: n)
                let expected = shard.indices(pointCount: count)
                let present = expected.filter { seen[$0] != nil }.count
                if present == expected.count { continue }
                let path = givenPaths[k] ?? (stem.map { (folder as NSString).appendingPathComponent(shard.fileName(stem: $0.name, extension: $0.extension)) }
                    ?? "part \(k) of \(n)")
                shards.append(.init(shard: shard, path: path, present: present, expected: expected.count, fileGiven: givenPaths[k] != nil,
                                    command: reference.command.isEmpty ? nil : reference.command(for: shard)))
            }
            throw .missingShards(shards)
        }
        throw .missingPoints(missing: missing.count, total: count, first: missing[0])
    }

    /// The stem and extension of a shard file named `<stem>-part-<k>-of-<n>.<ext>`.
    static func stem(of path: String, shard: Shard) -> (name: String, extension: String)? {
        let url = URL(fileURLWithPath: path)
        let suffix = "-part-\(shard.k)-of-\(shard.n)"
        let base = url.deletingPathExtension().lastPathComponent
        guard base.hasSuffix(suffix) else { return nil }
        return (String(base.dropLast(suffix.count)), url.pathExtension)
    }
}
