import Foundation
import IsometrySupport

/// Why a shard cannot be parsed, a grid file read or written, or shards merged. Every case
/// carries the file and value at fault; `description` is one line without a command prefix.
public enum GridShardError: Error, Equatable, CustomStringConvertible {
    /// `--shard` is not k/n with 1 ≤ k ≤ n ≤ `Shard.maximumCount`.
    case invalidShard(String)
    /// A shard of a split into more parts than the grid has points (a shard file's line 2, or
    /// the shard a run is asked for when `path` is nil).
    case tooManyShards(path: String?, shard: Shard, pointCount: Int)
    /// `merge` was given no files.
    case noFiles
    /// Line 1 is not this kind of grid file.
    case notAGridFile(path: String, expectedPrefix: String)
    /// Line 1's grid does not decode or is not valid.
    case invalidGrid(path: String)
    /// Line 1's grid has a field this version does not know (dotted path, e.g. "training.foo").
    case unknownGridField(path: String, field: String)
    /// The shard line (line 2) does not decode.
    case invalidShardLine(path: String, line: Int)
    /// The column header is not the expected one.
    case missingColumns(path: String, line: Int, expected: String)
    /// A row does not parse, or its point number is outside the grid.
    case invalidRow(path: String, line: Int, columns: Int, pointCount: Int)
    /// A row that contradicts its grid point or holds a value it cannot have (`problem` names
    /// the field and the value).
    case inconsistentRow(path: String, line: Int, problem: String)
    /// The last line has no line end: a row torn by a crash (or a shard still being written).
    case tornLastLine(path: String, line: Int)
    /// A file is larger than any grid file may be (`GridFileLimits.maximumFileBytes`).
    case fileTooLarge(path: String, bytes: Int, maximum: Int)
    /// Merging files of `fileBytes` in all would need about `bytes` of memory, above `limit`.
    case mergeTooLarge(files: Int, fileBytes: Int, bytes: Int, limit: Int)
    /// A row of a shard file that belongs to another shard.
    case rowOutsideShard(path: String, line: Int, index: Int, shard: Shard)
    /// A file describes another grid than the first one.
    case differentGrid(path: String, reference: String)
    /// A grid point appears twice.
    case duplicatePoint(path: String, index: Int, alsoIn: String)
    /// Of a split into `shardCount` shards, `absent` have no file and `unfinished` a file that
    /// lacks points; the first few (at most `namedShardLimit`) are named, each with its file,
    /// what it holds, and the command that (re)computes it (nil when the files do not record it).
    case missingShards([MissingShard], absent: Int, unfinished: Int, shardCount: Int)
    /// Points are in no file, and the files do not say which shards they were (unsharded files).
    case missingPoints(missing: Int, total: Int, first: Int)
    /// A run's existing output file holds another grid or another shard, so it cannot be resumed.
    case existingFileDiffers(path: String, reason: String)
    /// A file could not be read or written.
    case cannotRead(path: String, reason: String)
    case cannotWrite(path: String, reason: String)

    /// A shard that `merge` did not get complete.
    public struct MissingShard: Sendable, Equatable {
        public var shard: Shard
        /// The file it should be in (beside the files given to merge).
        public var path: String
        /// Points the given files hold of it (0 when the file is absent) and points it has.
        public var present: Int
        public var expected: Int
        /// Whether a file for it was given at all.
        package var fileGiven: Bool
        /// The command that computes (or resumes) it.
        public var command: String?

        public init(shard: Shard, path: String, present: Int, expected: Int, fileGiven: Bool, command: String?) {
            self.shard = shard
            self.path = path
            self.present = present
            self.expected = expected
            self.fileGiven = fileGiven
            self.command = command
        }
    }

    /// How many missing shards an error names; the rest are counted.
    package static let namedShardLimit = 5

    public var description: String {
        switch self {
        case .invalidShard(let text): "must be k/n with 1 ≤ k ≤ n ≤ \(Shard.maximumCount), got \(text)"
        case .tooManyShards(let path, let shard, let pointCount):
            "\(path.map { "\($0): line 2: " } ?? "")shard \(shard) splits the grid into more parts than its \(pointCount) point\(pointCount == 1 ? "" : "s") (n must be at most \(pointCount))"
        case .unknownGridField(let path, let field):
            "\(path): line 1: the grid has a field '\(field)' this version does not know (a file of another version cannot be merged or resumed)"
        case .inconsistentRow(let path, let line, let problem): "\(path): line \(line): \(problem)"
        case .tornLastLine(let path, let line):
            "\(path): line \(line): the last row has no line end (torn by a crash, or the shard is still running); re-run its command to resume it"
        case .fileTooLarge(let path, let bytes, let maximum):
            "\(path): is \(MemoryBudget.format(bytes)) (\(bytes) bytes), more than the \(MemoryBudget.format(maximum)) a grid file may have"
        case .mergeTooLarge(let files, let fileBytes, let bytes, let limit):
            "merging \(files) file\(files == 1 ? "" : "s") of \(MemoryBudget.format(fileBytes)) \(MemoryBudget.explain(bytes: bytes, limit: limit))"
        case .noFiles: "no shard files given"
        case .notAGridFile(let path, let prefix): "\(path): not a grid file of this kind (line 1 should start with '\(prefix)')"
        case .invalidGrid(let path): "\(path): line 1: the grid description is not valid"
        case .invalidShardLine(let path, let line): "\(path): line \(line): the shard description is not valid"
        case .missingColumns(let path, let line, let expected): "\(path): line \(line): expected the header '\(expected)'"
        case .invalidRow(let path, let line, let columns, let pointCount):
            "\(path): line \(line): expected \(columns) fields with a point number below \(pointCount)"
        case .rowOutsideShard(let path, let line, let index, let shard):
            "\(path): line \(line): point \(index) does not belong to shard \(shard)"
        case .differentGrid(let path, let reference): "\(path): describes a different grid than \(reference)"
        case .duplicatePoint(let path, let index, let other): "\(path): point \(index) is also in \(other)"
        case .missingShards(let shards, let absent, let unfinished, let n):
            Self.describe(shards, absent: absent, unfinished: unfinished, of: n)
        case .missingPoints(let missing, let total, let first):
            "\(missing) of \(total) grid points are in none of the files (first: point \(first)), and the files do not record their shards"
        case .existingFileDiffers(let path, let reason):
            "\(path) \(reason); choose another output folder, or pass --fresh to replace it"
        case .cannotRead(let path, let reason): "cannot read \(path): \(reason)"
        case .cannotWrite(let path, let reason): "cannot write \(path): \(reason)"
        }
    }

    static func describe(_ shards: [MissingShard], absent: Int, unfinished: Int, of n: Int) -> String {
        // Name the first few of each kind and count the rest, so a split into many shards gives
        // one short line.
        func list(_ items: [String], total: Int) -> String {
            items.joined(separator: ", ") + (total > items.count ? ", and \(total - items.count) more" : "")
        }
        let absentNamed = shards.filter { !$0.fileGiven }, unfinishedNamed = shards.filter(\.fileGiven)
        var parts: [String] = []
        if absent > 0 {
            parts.append("\(absent) of \(n) shard file\(n == 1 ? "" : "s") missing: " + list(absentNamed.map(\.path), total: absent))
        }
        if unfinished > 0 {
            parts.append("\(unfinished) of \(n) shard\(n == 1 ? "" : "s") unfinished: "
                + list(unfinishedNamed.map { "\($0.path) (\($0.present) of \($0.expected) points)" }, total: unfinished))
        }
        var text = parts.joined(separator: "; ")
        let total = absent + unfinished
        let commands = shards.compactMap(\.command)
        if !shards.isEmpty, commands.count == shards.count {
            text += "; compute \(total == 1 ? "it" : "them") with: " + commands.joined(separator: " ; ")
            if total > shards.count { text += " ; … (the same command with --shard k/\(n) for the \(total - shards.count) others)" }
            if unfinished > 0 { text += " (a re-run resumes, keeping the points already done)" }
        } else {
            text += "; re-run the shard command with --shard " + list(shards.map(\.shard.description), total: total)
        }
        return text
    }
}
