import ArgumentParser
import Foundation
import GridShards
import IsometrySupport

// What the grid commands (`spectrum sweep`, `study`) share on top of GridShards: the `--shard`
// option, the resumable output file, and reading the files given to `merge`.

/// `--shard k/n` (nil: the whole grid); n at most `pointCount`, the grid's points, when given.
package func parseShardOption(_ text: String?, pointCount: Int? = nil) throws -> Shard {
    guard let text else { return .whole }
    let shard: Shard
    do { shard = try Shard(parsing: text) } catch { throw ValidationError("--shard \(error.description)") }
    if let pointCount, shard.n > pointCount {
        throw ValidationError("--shard \(GridShardError.tooManyShards(path: nil, shard: shard, pointCount: pointCount).description)")
    }
    return shard
}

/// Opens (or resumes) the output file of `shard` in `folder`: `<stem>.csv` for the whole grid,
/// `<stem>-part-k-of-n.csv` for a part, whose shard line records this command for `merge`: the
/// process's own arguments (read here, so that GridShards never looks at the process) without
/// `--shard`.
package func openGridOutput<Grid: Codable & Equatable, Row>(
    format: GridFileFormat<Grid, Row>, grid: Grid, shard: Shard, program: String, folder: URL, stem: String, fresh: Bool,
    arguments: [String] = Array(CommandLine.arguments.dropFirst())
) throws -> GridShardWriter<Grid, Row> {
    let url = folder.appendingPathComponent(shard.fileName(stem: stem, extension: "csv"))
    let record = shard.isWhole ? nil : ShardRecord(shard: shard, command: ShardRecord.command(program: program, arguments: arguments))
    do { return try GridShardWriter(format: format, grid: grid, shard: record, url: url, fresh: fresh) } catch {
        switch error {
        case .tooManyShards: throw ValidationError("--shard \(error.description)")
        default: throw UserError(message: error.description)
        }
    }
}

/// The texts of the files given to `merge`, bounded in size (GridShards' `readGridFiles`).
package func readGridFiles(_ paths: [String]) throws -> [(path: String, text: String)] {
    do { return try GridShards.readGridFiles(paths, limit: MemoryBudget.defaultLimit) } catch { throw UserError(message: error.description) }
}
