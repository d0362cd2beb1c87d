import Foundation
import IsometrySupport
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
/// screen. A figure that states its printed size (``SVGCanvas/init(printWidth:height:)``:
/// `width="6.75in"`) becomes that size at `dpi` (2025 pixels for 6.75 in at 300 dpi). The PNG
/// gets a white background, as the SVGs of ``SVGCanvas`` have.
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

    /// Rasterises the SVG file at `svg` to `png`, written through ``AtomicFile`` (rsvg-convert
    /// writes to a pipe, so no temporary file of its own is ever left behind).
    public static func png(fromSVGFile svg: URL, to png: URL, dpi: Double = printResolution) throws(FigureExportError) {
        guard FileManager.default.isReadableFile(atPath: svg.path), let handle = try? FileHandle(forReadingFrom: svg) else {
            throw .cannotAccess(path: svg.path, reason: "no such readable file")
        }
        let head = String(decoding: (try? handle.read(upToCount: 4096)) ?? Data(), as: UTF8.self)
        try? handle.close()
        try rasterise(input: .file(svg), label: svg.path, to: png, dpi: dpi, physical: statesPrintSize(head))
    }

    /// Whether an SVG document's root states its size in physical units (in, cm, mm, pt, pc),
    /// which rsvg-convert converts at the resolution asked for; a size in pixels is zoomed.
    static func statesPrintSize(_ document: String) -> Bool {
        guard let root = document.firstMatch(of: /<svg\b[^>]*>/) else { return false }
        return root.output.contains(/\swidth="[0-9.]+(in|cm|mm|pt|pc)"/)
    }

    /// Rasterises an SVG document to `png`, handed to rsvg-convert on its standard input.
    public static func png(fromSVG svg: String, to png: URL, dpi: Double = printResolution) throws(FigureExportError) {
        try rasterise(input: .text(svg), label: png.path, to: png, dpi: dpi, physical: statesPrintSize(svg))
    }

    private enum Input { case file(URL), text(String) }

    private static func rasterise(input: Input, label: String, to png: URL, dpi: Double, physical: Bool) throws(FigureExportError) {
        guard dpi.isFinite, dpi > 0 else { throw .invalidResolution(dpi) }
        guard let tool = rasteriser() else { throw .rasteriserMissing }
        // Refused before rsvg-convert runs: a device or a link at the destination stays as it is.
        do { try AtomicFile.checkDestination(png) } catch { throw .cannotAccess(path: png.path, reason: error.reason) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        // A size in inches is converted at `dpi`; pixels (1/96 in) are zoomed to it.
        let zoom: Double = physical ? 1 : dpi / 96
        var arguments = ["--zoom", String(format: "%.6f", zoom), "--dpi-x", String(dpi), "--dpi-y", String(dpi),
                         "--background-color", "white", "--format", "png"]
        let standardInput = Pipe()
        switch input {
        case .file(let url): arguments.append(url.path)
        case .text: process.standardInput = standardInput
        }
        process.arguments = arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        do { try process.run() } catch { throw .rasteriserMissing }
        if case .text(let svg) = input {
            // Fed from another thread: rsvg-convert may fill its output pipe before reading all input.
            let writer = standardInput.fileHandleForWriting
            let data = Data(svg.utf8)
            Thread.detachNewThread {
                try? writer.write(contentsOf: data)
                try? writer.close()
            }
        }
        // Standard error is drained beside standard output, so neither pipe can fill and stall.
        nonisolated(unsafe) var message = ""
        let done = DispatchSemaphore(value: 0)
        let errorHandle = errors.fileHandleForReading
        Thread.detachNewThread {
            message = String(decoding: errorHandle.readDataToEndOfFile(), as: UTF8.self)
            done.signal()
        }
        let bytes = output.fileHandleForReading.readDataToEndOfFile()
        done.wait()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw .rasteriserFailed(path: label, status: process.terminationStatus, message: message)
        }
        do { try AtomicFile.write(bytes, to: png) } catch { throw .cannotAccess(path: png.path, reason: error.reason) }
    }

    /// `name.svg` → `name.png` beside it.
    public static func pngURL(besides svg: URL) -> URL {
        svg.deletingPathExtension().appendingPathExtension("png")
    }
}
