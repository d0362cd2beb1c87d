import Foundation

/// Why a shard cannot be parsed, a grid file read or written, or shards merged. Every case
/// carries the file and value at fault; `description` is one line without a command prefix.
public enum GridShardError: Error, Equatable, CustomStringConvertible {
    /// `--shard` is not k/n with 1 ≤ k ≤ n.
    case invalidShard(String)
    /// `merge` was given no files.
    case noFiles
    /// Line 1 is not this kind of grid file.
    case notAGridFile(path: String, expectedPrefix: String)
    /// Line 1's grid does not decode or is not valid.
    case invalidGrid(path: String)
    /// The shard line (line 2) does not decode.
    case invalidShardLine(path: String, line: Int)
    /// The column header is not the expected one.
    case missingColumns(path: String, line: Int, expected: String)
    /// A row does not parse, or its point number is outside the grid.
    case invalidRow(path: String, line: Int, columns: Int, pointCount: Int)
    /// A row of a shard file that belongs to another shard.
    case rowOutsideShard(path: String, line: Int, index: Int, shard: Shard)
    /// A file describes another grid than the first one.
    case differentGrid(path: String, reference: String)
    /// A grid point appears twice.
    case duplicatePoint(path: String, index: Int, alsoIn: String)
    /// Shards are absent or unfinished: each with its file, what it holds, and the command that
    /// (re)computes it (nil when the files do not record their command).
    case missingShards([MissingShard])
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
        public var fileGiven: Bool
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

    public var description: String {
        switch self {
        case .invalidShard(let text): "must be k/n with 1 ≤ k ≤ n, got \(text)"
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
        case .missingShards(let shards):
            Self.describe(shards)
        case .missingPoints(let missing, let total, let first):
            "\(missing) of \(total) grid points are in none of the files (first: point \(first)), and the files do not record their shards"
        case .existingFileDiffers(let path, let reason):
            "\(path) \(reason); choose another output folder, or pass --fresh to replace it"
        case .cannotRead(let path, let reason): "cannot read \(path): \(reason)"
        case .cannotWrite(let path, let reason): "cannot write \(path): \(reason)"
        }
    }

    static func describe(_ shards: [MissingShard]) -> String {
        let absent = shards.filter { !$0.fileGiven }, unfinished = shards.filter(\.fileGiven)
        var parts: [String] = []
        if !absent.isEmpty {
            parts.append("missing shard file\(absent.count == 1 ? "" : "s") \(absent.map(\.path).joined(separator: ", "))")
        }
        if !unfinished.isEmpty {
            parts.append("unfinished shard\(unfinished.count == 1 ? "" : "s") "
                + unfinished.map { "\($0.path) (\($0.present) of \($0.expected) points)" }.joined(separator: ", "))
        }
        var text = parts.joined(separator: "; ")
        let commands = shards.compactMap(\.command)
        if commands.count == shards.count {
            text += "; compute \(shards.count == 1 ? "it" : "them") with: " + commands.joined(separator: " ; ")
            if !unfinished.isEmpty { text += " (a re-run resumes, keeping the points already done)" }
        } else {
            text += "; re-run the shard command with --shard " + shards.map { $0.shard.description }.joined(separator: ", ")
        }
        return text
    }
}
