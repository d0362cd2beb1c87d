import Foundation
import IsometrySupport

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

    /// A command line without its `--shard` option, the program named `program` (not the path it
    /// was started by). The caller passes the arguments (CommandSupport reads the process's own),
    /// so this library never looks at the process.
    public static func command(program: String, arguments: [String]) -> [String] {
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
/// The contents of a grid file: its grid, its shard (nil for a whole-grid file) and its rows.
public struct GridFile<Grid, Row> {
    public var grid: Grid
    public var shard: ShardRecord?
    public var rows: [Row]
    /// The line number of a last line without its line end (a row torn by a crash while it was
    /// appended), which is not in `rows`; nil when the file ends with a line end.
    package var tornLine: Int?
    /// The bytes of the file up to and including its last line end: what remains once a torn
    /// last line is dropped.
    package var completeLength: Int

    public init(grid: Grid, shard: ShardRecord?, rows: [Row], tornLine: Int? = nil, completeLength: Int = 0) {
        self.grid = grid
        self.shard = shard
        self.rows = rows
        self.tornLine = tornLine
        self.completeLength = completeLength
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
/// an unsharded run is the same text as the merge of its shards. Lines end with LF (CRLF, as an
/// editor on Windows may save them, reads the same). A row counts once its line end is written:
/// a last line without one is a row torn by a crash.
public struct GridFileFormat<Grid: Codable & Equatable, Row>: @unchecked Sendable {
    /// The words after "# isometry " on line 1 ("spectrum sweep", "study").
    public let kind: String
    /// The column header line.
    public let columns: String
    /// Number of comma-separated fields of a row (for error messages).
    package let fieldCount: Int
    private let pointCount: (Grid) -> Int
    private let isValid: (Grid) -> Bool
    private let index: (Row) -> Int
    private let encode: (Row) -> String
    private let decode: (String) -> Row?
    private let check: (Grid, Row) -> String?

    /// - Parameters:
    ///   - pointCount: the number of points of a grid.
    ///   - isValid: whether a decoded grid can be used (finite values, positive sizes, bounded
    ///     sizes, …).
    ///   - index: a row's point number.
    ///   - encode: a row as one line (no newline), its point number first.
    ///   - decode: a line back to a row, nil when it does not parse.
    ///   - check: why a decoded row (whose point number is in the grid) contradicts the grid or
    ///     holds a value it cannot have, in words naming the field and value; nil when it is fine.
    public init(kind: String, columns: String, pointCount: @escaping (Grid) -> Int, isValid: @escaping (Grid) -> Bool = { _ in true },
                index: @escaping (Row) -> Int, encode: @escaping (Row) -> String, decode: @escaping (String) -> Row?,
                check: @escaping (Grid, Row) -> String? = { _, _ in nil }) {
        self.kind = kind
        self.columns = columns
        fieldCount = columns.split(separator: ",").count
        self.pointCount = pointCount
        self.isValid = isValid
        self.index = index
        self.encode = encode
        self.decode = decode
        self.check = check
    }

    package var gridPrefix: String { "# isometry \(kind) " }
    static var shardPrefix: String { "# isometry shard " }

    public func pointCount(of grid: Grid) -> Int { pointCount(grid) }

    /// A row's point number.
    package func pointIndex(_ row: Row) -> Int { index(row) }

    /// A row as its line in the file, line end included.
    public func line(_ row: Row) -> String { encode(row) + "\n" }

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

    /// Parses a file written by `text(grid:shard:rows:)` (or grown by `GridShardWriter`). A last
    /// line without its line end is left out of the rows and reported in `tornLine`.
    public func read(_ text: String, path: String) throws(GridShardError) -> GridFile<Grid, Row> {
        let newline = UInt8(ascii: "\n"), carriageReturn = UInt8(ascii: "\r")
        let utf8 = text.utf8
        var pieces = utf8.split(separator: newline, omittingEmptySubsequences: false)
        var tornLine: Int?
        var completeLength = utf8.count
        // After the last line end, `split` leaves an empty piece; anything else there is torn.
        if let last = pieces.popLast(), !last.isEmpty {
            tornLine = pieces.count + 1
            completeLength -= last.count
        }
        // (line number, text) of the non-empty lines, a CRLF's CR dropped.
        var lines: [(number: Int, text: String)] = []
        lines.reserveCapacity(pieces.count)
        for (offset, piece) in pieces.enumerated() {
            let bytes = piece.last == carriageReturn ? piece.dropLast() : piece[...]
            if bytes.isEmpty { continue }
            lines.append((offset + 1, String(decoding: bytes, as: UTF8.self)))
        }
        guard let first = lines.first, first.number == 1, first.text.hasPrefix(gridPrefix) else {
            throw .notAGridFile(path: path, expectedPrefix: gridPrefix)
        }
        let json = Data(first.text.dropFirst(gridPrefix.count).utf8)
        guard let grid = try? JSONDecoder().decode(Grid.self, from: json), isValid(grid) else {
            throw .invalidGrid(path: path)
        }
        // Decoding drops fields this version does not know; two grids differing only there
        // would then compare equal and merge, so such a file is refused instead.
        if let field = Self.unknownField(in: json, known: grid) { throw .unknownGridField(path: path, field: field) }
        let count = pointCount(grid)
        var next = 1
        var shard: ShardRecord?
        if lines.count > 1, lines[1].text.hasPrefix(Self.shardPrefix) {
            guard let record = try? JSONDecoder().decode(ShardRecord.self, from: Data(lines[1].text.dropFirst(Self.shardPrefix.count).utf8)) else {
                throw .invalidShardLine(path: path, line: lines[1].number)
            }
            if record.shard.n > count { throw .tooManyShards(path: path, shard: record.shard, pointCount: count) }
            shard = record
            next = 2
        }
        guard lines.count > next, lines[next].text == columns else {
            throw .missingColumns(path: path, line: next < lines.count ? lines[next].number : (lines.last?.number ?? 0) + 1, expected: columns)
        }
        var rows: [Row] = []
        rows.reserveCapacity(lines.count - next - 1)
        for (number, line) in lines[(next + 1)...] {
            guard let row = decode(line), (0 ..< count).contains(index(row)) else {
                throw .invalidRow(path: path, line: number, columns: fieldCount, pointCount: count)
            }
            if let shard, !shard.shard.contains(index(row)) {
                throw .rowOutsideShard(path: path, line: number, index: index(row), shard: shard.shard)
            }
            if let problem = check(grid, row) { throw .inconsistentRow(path: path, line: number, problem: problem) }
            rows.append(row)
        }
        return GridFile(grid: grid, shard: shard, rows: rows, tornLine: tornLine, completeLength: completeLength)
    }

    /// The first field (dotted path) of the JSON object `data` that `grid`'s own encoding does
    /// not have; nil when there is none. A null field carries nothing decoding could drop.
    static func unknownField(in data: Data, known grid: Grid) -> String? {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        guard let given = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]),
              let encoded = try? encoder.encode(grid),
              let known = try? JSONSerialization.jsonObject(with: encoded, options: [.fragmentsAllowed])
        else { return nil }
        func firstUnknown(_ given: Any, _ known: Any, path: String) -> String? {
            if let given = given as? [String: Any] {
                let known = known as? [String: Any] ?? [:]
                for key in given.keys.sorted() where !(given[key] is NSNull) {
                    let name = path.isEmpty ? key : path + "." + key
                    guard let value = known[key] else { return name }
                    if let found = firstUnknown(given[key]!, value, path: name) { return found }
                }
            } else if let given = given as? [Any], let known = known as? [Any], given.count == known.count {
                for (offset, (a, b)) in zip(given, known).enumerated() {
                    if let found = firstUnknown(a, b, path: "\(path)[\(offset)]") { return found }
                }
            }
            return nil
        }
        return firstUnknown(given, known, path: "")
    }

    /// Joins files of one grid: they must describe the same grid, overlap nowhere and cover it
    /// all. Missing points are reported by shard — the files that are absent or unfinished, and
    /// the commands that compute them — when the files record their shards.
    ///
    /// Memory and time depend on the rows given, never on the grid's size alone: a small file
    /// describing a huge grid is refused as incomplete without anything sized from the grid.
    public func merge(_ parts: [(path: String, text: String)]) throws(GridShardError) -> (grid: Grid, rows: [Row]) {
        guard let firstPart = parts.first else { throw .noFiles }
        let files = try parts.map { part throws(GridShardError) in (part.path, try read(part.text, path: part.path)) }
        let grid = files[0].1.grid
        var rows: [Row] = []
        var owner: [Int] = []  // the file of each row, by number in `files`
        for (number, (path, file)) in files.enumerated() {
            if file.grid != grid { throw .differentGrid(path: path, reference: firstPart.path) }
            if let line = file.tornLine { throw .tornLastLine(path: path, line: line) }
            rows += file.rows
            owner += repeatElement(number, count: file.rows.count)
        }
        // Rows in point order, ties in file order: duplicates are then neighbours.
        let order = rows.indices.sorted { (index(rows[$0]), owner[$0]) < (index(rows[$1]), owner[$1]) }
        for (a, b) in zip(order, order.dropFirst()) where index(rows[a]) == index(rows[b]) {
            throw .duplicatePoint(path: files[owner[b]].0, index: index(rows[b]), alsoIn: files[owner[a]].0)
        }
        let sorted = order.map { rows[$0] }
        let count = pointCount(grid)
        if sorted.count == count { return (grid, sorted) }
        // Name shards when every file says which shard of the same split it is.
        let records = files.compactMap(\.1.shard)
        if records.count == files.count, let n = records.first?.shard.n, records.allSatisfy({ $0.shard.n == n }) {
            // n ≤ the grid's points (checked by `read`) and ≤ Shard.maximumCount: this loop is bounded.
            var present = [Int](repeating: 0, count: n)
            for row in sorted { present[index(row) % n] += 1 }
            let folder = (firstPart.path as NSString).deletingLastPathComponent
            let givenPaths = Dictionary(files.map { ($0.1.shard!.shard.k, $0.0) }, uniquingKeysWith: { a, _ in a })
            let stem = Self.stem(of: firstPart.path, shard: records[0].shard)
            let reference = records[0]
            var named: [GridShardError.MissingShard] = []
            var (absent, unfinished) = (0, 0)
            for k in 1 ... n {
                let expected = (count - k + n) / n
                if present[k - 1] == expected { continue }
                if givenPaths[k] == nil { absent += 1 } else { unfinished += 1 }
                guard named.count < GridShardError.namedShardLimit else { continue }
                let shard = try Shard(k, of: n)
                let path = givenPaths[k] ?? (stem.map { (folder as NSString).appendingPathComponent(shard.fileName(stem: $0.name, extension: $0.extension)) }
                    ?? "part \(k) of \(n)")
                named.append(.init(shard: shard, path: path, present: present[k - 1], expected: expected, fileGiven: givenPaths[k] != nil,
                                   command: reference.command.isEmpty ? nil : reference.command(for: shard)))
            }
            throw .missingShards(named, absent: absent, unfinished: unfinished, shardCount: n)
        }
        var first = 0
        for row in sorted {
            if index(row) != first { break }
            first += 1
        }
        throw .missingPoints(missing: count - sorted.count, total: count, first: first)
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

/// The bounds on what grid files may ask of a machine (docs/sweeps.md, "Bounds").
public enum GridFileLimits {
    /// A grid file is at most this large (1 GB): far beyond any grid the commands accept (a
    /// sweep of 1000 × 1000 points is about 120 MB), and small enough that reading one never
    /// exhausts a machine.
    package static let maximumFileBytes = 1_000_000_000
    /// Bytes of memory `merge` needs per byte of the files it reads: their text, their lines,
    /// the parsed rows and the merged text (about 4; twice that for margin).
    package static let memoryPerFileByte = 8
}

/// Reads the files given to `merge`, refusing before reading any of them a file larger than
/// `GridFileLimits.maximumFileBytes`, or files whose merge would need more memory than `limit`
/// (estimated as `GridFileLimits.memoryPerFileByte` per byte of all files together).
public func readGridFiles(_ paths: [String], limit: Int = MemoryBudget.defaultLimit) throws(GridShardError) -> [(path: String, text: String)] {
    let maximum = GridFileLimits.maximumFileBytes
    var readers: [RegularFileReader] = []
    var total = 0
    for path in paths {
        let reader: RegularFileReader
        do { reader = try RegularFileReader(path: path) } catch { throw .cannotRead(path: path, reason: error.description) }
        if reader.size > maximum { throw .fileTooLarge(path: path, bytes: reader.size, maximum: maximum) }
        total += reader.size
        readers.append(reader)
    }
    let needed = MemoryBudget.product([total, GridFileLimits.memoryPerFileByte]) ?? .max
    if needed > limit { throw .mergeTooLarge(files: paths.count, fileBytes: total, bytes: needed, limit: limit) }
    var texts: [(path: String, text: String)] = []
    for reader in readers {
        let bytes: [UInt8]
        do { bytes = try reader.readAll(limit: maximum) } catch { throw .cannotRead(path: reader.path, reason: error.description) }
        texts.append((reader.path, String(decoding: bytes, as: UTF8.self)))
    }
    return texts
}
