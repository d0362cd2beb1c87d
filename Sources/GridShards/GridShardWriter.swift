import Foundation
import IsometrySupport

/// The output file of a grid run (a shard, or the whole grid), written point by point so that a
/// killed run loses at most the point in progress, and resumed: the points an existing file of
/// the same grid and shard already holds are never computed again.
///
/// ```swift
/// let writer = try GridShardWriter(format: format, grid: grid, shard: record, url: url)
/// for index in writer.pending(shard.indices(pointCount: n)) {
///     try writer.append(compute(index))
/// }
/// ```
///
/// A new file gets its header atomically (IsometrySupport's `AtomicFile`), so it is never torn;
/// every `append` then adds one row and its line end at the end of the file and fsyncs
/// (`AppendOnlyFile`), costing the row's bytes rather than the whole file's. A kill while a row
/// is written can leave that last row torn (no line end); resuming drops it and recomputes it.
public final class GridShardWriter<Grid: Codable & Equatable, Row> {
    public let format: GridFileFormat<Grid, Row>
    public let grid: Grid
    public let shard: ShardRecord?
    public let url: URL
    /// Every row the file holds: those found on disk, then those appended.
    public private(set) var rows: [Row]
    /// How many rows were already in the file when the run started.
    public let resumedCount: Int
    /// Whether resuming dropped a torn last row left by a killed run.
    package let droppedTornRow: Bool
    private var done: Set<Int>
    private let index: (Row) -> Int
    private let file: AppendOnlyFile

    /// Opens `url` for this grid and shard. An existing file of the same grid and shard is
    /// resumed (a torn last row dropped from it); one of another grid or shard is refused unless
    /// `fresh`, which starts over. A new file is written at once (header only), so `merge` sees
    /// an unfinished shard. A shard must not split the grid into more parts than it has points.
    public init(format: GridFileFormat<Grid, Row>, grid: Grid, shard: ShardRecord?, url: URL, fresh: Bool = false) throws(GridShardError) {
        self.format = format
        self.grid = grid
        self.shard = shard
        self.url = url
        index = format.pointIndex
        if let shard, shard.shard.n > format.pointCount(of: grid) {
            throw .tooManyShards(path: nil, shard: shard.shard, pointCount: format.pointCount(of: grid))
        }
        var existing: GridFile<Grid, Row>?
        if !fresh, FileManager.default.fileExists(atPath: url.path) {
            let bytes: [UInt8]
            do { bytes = try RegularFileReader.contents(of: url.path, limit: GridFileLimits.maximumFileBytes) } catch {
                throw .cannotRead(path: url.path, reason: error.description)
            }
            let file: GridFile<Grid, Row>
            do { file = try format.read(String(decoding: bytes, as: UTF8.self), path: url.path) } catch {
                throw .existingFileDiffers(path: url.path, reason: "exists but cannot be resumed (\(error.description))")
            }
            if file.grid != grid { throw .existingFileDiffers(path: url.path, reason: "holds another grid") }
            if file.shard?.shard != shard?.shard {
                throw .existingFileDiffers(path: url.path, reason: "holds shard \(file.shard?.shard.description ?? "1/1"), not \(shard?.shard.description ?? "1/1")")
            }
            existing = file
        }
        rows = existing?.rows ?? []
        resumedCount = rows.count
        done = Set(rows.map(index))
        droppedTornRow = existing?.tornLine != nil
        do {
            if existing == nil { try AtomicFile.write(Array(format.text(grid: grid, shard: shard, rows: []).utf8), to: url) }
            file = try AppendOnlyFile(url: url)
            if let existing, existing.tornLine != nil { try file.truncate(to: existing.completeLength) }
        } catch {
            throw .cannotWrite(path: url.path, reason: error.reason)
        }
    }

    /// Whether point `index` is already in the file.
    package func isDone(_ index: Int) -> Bool { done.contains(index) }

    /// The points of `indices` the file does not hold yet, in order.
    public func pending(_ indices: [Int]) -> [Int] { indices.filter { !done.contains($0) } }

    /// Adds one finished point at the end of the file, on disk (fsynced) when this returns.
    public func append(_ row: Row) throws(GridShardError) {
        require(!done.contains(index(row)), "GridShardWriter: point \(index(row)) is already in \(url.path)")
        do { try file.append(Array(format.line(row).utf8)) } catch {
            throw .cannotWrite(path: url.path, reason: error.reason)
        }
        rows.append(row)
        done.insert(index(row))
    }

    /// The file's text in canonical form (rows by point number).
    public var text: String { format.text(grid: grid, shard: shard, rows: rows) }
}
