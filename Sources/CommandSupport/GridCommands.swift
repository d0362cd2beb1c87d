import ArgumentParser
import Foundation
import GridShards

// What the grid commands (`spectrum sweep`, `study`) share on top of GridShards: the `--shard`
// option, the resumable output file, and reading the files given to `merge`.

/// `--shard k/n` (nil: the whole grid).
public func parseShardOption(_ text: String?) throws -> Shard {
    guard let text else { return .whole }
    do { return try Shard(parsing: text) } catch { throw ValidationError("--shard \(error.description)") }
}

/// Opens (or resumes) the output file of `shard` in `folder`: `<stem>.csv` for the whole grid,
/// `<stem>-part-k-of-n.csv` for a part, whose shard line records this command for `merge`.
public func openGridOutput<Grid: Codable & Equatable, Row>(
    format: GridFileFormat<Grid, Row>, grid: Grid, shard: Shard, program: String, folder: URL, stem: String, fresh: Bool
) throws -> GridShardWriter<Grid, Row> {
    let url = folder.appendingPathComponent(shard.fileName(stem: stem, extension: "csv"))
    let record = shard.isWhole ? nil : ShardRecord(shard: shard, command: ShardRecord.currentCommand(program: program))
    do { return try GridShardWriter(format: format, grid: grid, shard: record, url: url, fresh: fresh) } catch {
        throw UserError(message: error.description)
    }
}

/// The texts of the files given to `merge`.
public func readGridFiles(_ paths: [String]) throws -> [(path: String, text: String)] {
    try paths.map { path in
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue,
              let data = FileManager.default.contents(atPath: path)
        else { throw UserError(message: "cannot read \(path)") }
        return (path, String(decoding: data, as: UTF8.self))
    }
}
