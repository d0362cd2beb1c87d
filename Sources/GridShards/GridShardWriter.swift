import Foundation

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
/// Every `append` rewrites the file atomically (a temporary file, then a rename), so the file on
/// disk is always a complete, readable grid file.
public final class GridShardWriter<Grid: Codable & Equatable, Row> {
    public let format: GridFileFormat<Grid, Row>
    public let grid: Grid
    public let shard: ShardRecord?
    public let url: URL
    /// Every row the file holds: those found on disk, then those appended.
    public private(set) var rows: [Row]
    /// How many rows were already in the file when the run started.
    public let resumedCount: Int
    private var done: Set<Int>
    private let index: (Row) -> Int

    /// Opens `url` for this grid and shard. An existing file of the same grid and shard is
    /// resumed; one of another grid or shard is refused unless `fresh`, which starts over.
    /// The file is written at once (header only when new), so `merge` sees an unfinished shard.
    public init(format: GridFileFormat<Grid, Row>, grid: Grid, shard: ShardRecord?, url: URL, fresh: Bool = false) throws(GridShardError) {
        self.format = format
        self.grid = grid
        self.shard = shard
        self.url = url
        index = format.pointIndex
        var existing: [Row] = []
        if !fresh, FileManager.default.fileExists(atPath: url.path) {
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw .cannotRead(path: url.path, reason: "permission denied or not a file")
            }
            let file: GridFile<Grid, Row>
            do { file = try format.read(String(decoding: data, as: UTF8.self), path: url.path) } catch {
                throw .existingFileDiffers(path: url.path, reason: "exists but cannot be resumed (\(error.description))")
            }
            if file.grid != grid { throw .existingFileDiffers(path: url.path, reason: "holds another grid") }
            if file.shard?.shard != shard?.shard {
                throw .existingFileDiffers(path: url.path, reason: "holds shard \(file.shard?.shard.description ?? "1/1"), not \(shard?.shard.description ?? "1/1")")
            }
            existing = file.rows
        }
        rows = existing
        resumedCount = existing.count
        done = Set(existing.map(index))
        try write()
    }

    /// Whether point `index` is already in the file.
    public func isDone(_ index: Int) -> Bool { done.contains(index) }

    /// The points of `indices` the file does not hold yet, in order.
    public func pending(_ indices: [Int]) -> [Int] { indices.filter { !done.contains($0) } }

    /// Adds one finished point and rewrites the file atomically.
    public func append(_ row: Row) throws(GridShardError) {
        if done.contains(index(row)) { fatalError("GridShardWriter: point \(index(row)) is already in \(url.path)") }
        rows.append(row)
        done.insert(index(row))
        try write()
    }

    /// The file's current text.
    public var text: String { format.text(grid: grid, shard: shard, rows: rows) }

    private func write() throws(GridShardError) {
        do { try Data(text.utf8).write(to: url, options: .atomic) } catch {
            throw .cannotWrite(path: url.path, reason: (error as NSError).localizedDescription)
        }
    }
}
