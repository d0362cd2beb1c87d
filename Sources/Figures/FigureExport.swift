import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What can go wrong when a figure is rasterised to PNG.
public enum FigureExportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `rsvg-convert` is not on the PATH (Debian and Ubuntu: `apt-get install librsvg2-bin`).
    case rasteriserMissing
    /// `rsvg-convert` ran and failed: its exit status and standard error.
    case rasteriserFailed(path: String, status: Int32, message: String)
    /// The SVG could not be read, or the PNG or a temporary file could not be written.
    case cannotAccess(path: String, reason: String)
    /// A resolution that is not a positive finite number.
    case invalidResolution(Double)

    public var description: String {
        switch self {
        case .rasteriserMissing:
            return "PNG export needs rsvg-convert, which is not on the PATH: install it with `apt-get install librsvg2-bin` (Debian, Ubuntu) or `brew install librsvg` (macOS)"
        case .rasteriserFailed(let path, let status, let message):
            let detail = message.split(separator: "\n").first.map { ": \($0)" } ?? ""
            return "rsvg-convert could not rasterise \(path) (exit status \(status))\(detail)"
        case .cannotAccess(let path, let reason):
            return "cannot write or read \(path): \(reason)"
        case .invalidResolution(let dpi):
            return "PNG resolution must be a positive number of dots per inch, got \(dpi)"
        }
    }
}

/// Rasterises SVG figures to PNG at print resolution with librsvg's `rsvg-convert`.
///
/// An SVG's pixel is a CSS pixel, 1/96 inch; at `dpi` dots per inch a figure of 900 px becomes
/// 900 · dpi / 96 pixels wide (2813 at 300 dpi), which prints 9.4 inches wide as it appears on
/// screen. The PNG gets a white background, as the SVGs of ``SVGCanvas`` have.
public enum FigureExport {
    /// The default print resolution.
    public static let printResolution = 300.0

    /// The path of `rsvg-convert` on the PATH, or nil.
    public static func rasteriser() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for folder in path.split(separator: ":") {
            let candidate = "\(folder)/rsvg-convert"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Rasterises the SVG file at `svg` to `png` (atomically: a temporary file, then rename).
    public static func png(fromSVGFile svg: URL, to png: URL, dpi: Double = printResolution) throws(FigureExportError) {
        guard dpi.isFinite, dpi > 0 else { throw .invalidResolution(dpi) }
        guard let tool = rasteriser() else { throw .rasteriserMissing }
        guard FileManager.default.isReadableFile(atPath: svg.path) else {
            throw .cannotAccess(path: svg.path, reason: "no such readable file")
        }
        let temporary = png.deletingLastPathComponent().appendingPathComponent(".\(png.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = ["--zoom", String(format: "%.6f", dpi / 96), "--dpi-x", String(dpi), "--dpi-y", String(dpi),
                             "--background-color", "white", "--format", "png", "--output", temporary.path, svg.path]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch { throw .rasteriserMissing }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            try? FileManager.default.removeItem(at: temporary)
            throw .rasteriserFailed(path: svg.path, status: process.terminationStatus, message: message)
        }
        guard rename(temporary.path, png.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw .cannotAccess(path: png.path, reason: reason)
        }
    }

    /// Rasterises an SVG document to `png`, through a temporary SVG file beside it.
    public static func png(fromSVG svg: String, to png: URL, dpi: Double = printResolution) throws(FigureExportError) {
        guard rasteriser() != nil else { throw .rasteriserMissing }
        let source = png.deletingLastPathComponent().appendingPathComponent(".\(png.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).svg")
        do { try Data(svg.utf8).write(to: source) } catch {
            throw .cannotAccess(path: source.path, reason: (error as NSError).localizedDescription)
        }
        defer { try? FileManager.default.removeItem(at: source) }
        try self.png(fromSVGFile: source, to: png, dpi: dpi)
    }

    /// `name.svg` → `name.png` beside it.
    public static func pngURL(besides svg: URL) -> URL {
        svg.deletingPathExtension().appendingPathExtension("png")
    }
}
