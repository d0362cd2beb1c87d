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

    /// Rasterises the SVG file at `svg` to `png`, written through ``AtomicFile`` (rsvg-convert
    /// writes to a pipe, so no temporary file of its own is ever left behind).
    public static func png(fromSVGFile svg: URL, to png: URL, dpi: Double = printResolution) throws(FigureExportError) {
        guard FileManager.default.isReadableFile(atPath: svg.path) else {
            throw .cannotAccess(path: svg.path, reason: "no such readable file")
        }
        try rasterise(input: .file(svg), label: svg.path, to: png, dpi: dpi)
    }

    /// Rasterises an SVG document to `png`, handed to rsvg-convert on its standard input.
    public static func png(fromSVG svg: String, to png: URL, dpi: Double = printResolution) throws(FigureExportError) {
        try rasterise(input: .text(svg), label: png.path, to: png, dpi: dpi)
    }

    private enum Input { case file(URL), text(String) }

    private static func rasterise(input: Input, label: String, to png: URL, dpi: Double) throws(FigureExportError) {
        guard dpi.isFinite, dpi > 0 else { throw .invalidResolution(dpi) }
        guard let tool = rasteriser() else { throw .rasteriserMissing }
        // Refused before rsvg-convert runs: a device or a link at the destination stays as it is.
        do { try AtomicFile.checkDestination(png) } catch { throw .cannotAccess(path: png.path, reason: error.reason) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        var arguments = ["--zoom", String(format: "%.6f", dpi / 96), "--dpi-x", String(dpi), "--dpi-y", String(dpi),
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
