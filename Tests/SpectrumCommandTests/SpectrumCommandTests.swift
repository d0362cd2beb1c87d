import CommandTestSupport
import Foundation
import Testing
import TensorAlgebra
import FileFormats

func runSpectrum(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
    try runExecutable("spectrum", arguments)
}

func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("isometry-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite(.serialized) struct SpectrumCommandTests {
    /// Issue: escape sequences in checkpoint metadata reached the terminal raw, a 20 MB
    /// metadata value made a 20 MB "one-line" error, and a newline in a path cut the message.
    @Test func errorsQuoteHostileValuesOnOneLine() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var file = SafetensorsFile()
        file.set("layers.0.weight", Tensor<Float>.identity(4))
        file.metadata["activation"] = "\u{1B}[2J\u{1B}[31mevil\nsecond line"
        let escape = folder.appendingPathComponent("escape.safetensors")
        try file.write(to: escape)
        file.metadata["activation"] = String(repeating: "a", count: 20_000_000)
        let long = folder.appendingPathComponent("long.safetensors")
        try file.write(to: long)
        let newline = folder.appendingPathComponent("no\nsuch")
        for (arguments, expected) in [
            (["--checkpoint", escape.path], "spectrum: error: --checkpoint: \(escape.path): unknown activation '\\e[2J\\e[31mevil\\nsecond line' in metadata"),
            (["--checkpoint", long.path], "spectrum: error: --checkpoint: \(long.path): unknown activation '\(String(repeating: "a", count: 200))… (20000000 bytes)' in metadata"),
            (["--weights", newline.path], "spectrum: error: --weights: \(folder.path)/no\\nsuch: no layers.0.weight or W1.npy"),
        ] {
            let (status, _, error) = try runSpectrum(arguments + ["--samples", "1"])
            #expect(status == 2, "\(arguments): \(error)")
            #expect(error.hasPrefix(expected), "\(error.prefix(400))")
            #expect(error.split(separator: "\n").count == 1 && error.hasSuffix("\n") && error.utf8.count < 1000)
            #expect(!error.contains("\u{1B}"))
        }
    }

    @Test func defaultReportShowsTheCheckValue() throws {
        let (status, output, _) = try runSpectrum(["--sigma", "1.0", "--q0", "0.5"])
        #expect(status == 0)
        #expect(output.contains("84.27 %"))
        #expect(output.contains("atom at λ = 1"))
        let atomLine = output.split(separator: "\n").first { $0.hasPrefix("atom at λ = 1") }!
        #expect(atomLine.hasSuffix("✓"), "the measured fraction lies in its binomial band: \(atomLine)")
    }

    @Test func jsonCsvAndPlotOutputs() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let csv = folder.appendingPathComponent("eigenvalues.csv").path
        let plot = folder.appendingPathComponent("spectrum.svg").path
        let (status, output, _) = try runSpectrum(["--width", "100", "--samples", "3", "--json", "--csv", csv, "--plot", plot])
        #expect(status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [String: Any]
        let eigenvalues = json["eigenvalues"] as! [[Double]]
        #expect(eigenvalues.count == 3 && eigenvalues[0].count == 100)
        let lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 301 && lines[0] == "sample,index,eigenvalue")
        let svg = try String(contentsOfFile: plot, encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("theory atom"))
    }

    @Test func badFlagsExitWithCodeTwoAndOneLine() throws {
        let cases: [([String], [String])] = [
            (["--sigma=-1"], ["--sigma", "-1"]),
            (["--sigma", "nan"], ["--sigma", "nan"]),
            (["--q0", "0"], ["--q0", "0"]),
            (["--q0", "inf"], ["--q0", "inf"]),
            (["--width", "0"], ["--width", "0"]),
            (["--layers", "0"], ["--layers", "0"]),
            (["--width", "200000"], ["--width 200000", "GiB"]),
            (["--activation", "softplus"], ["softplus"]),
            (["--init", "xavier"], ["xavier"]),
            (["--samples", "0"], ["--samples", "0"]),
            (["--csv", "/nonexistent-folder/x.csv"], ["--csv", "/nonexistent-folder"]),
            (["--weights", "/nonexistent-weights"], ["--weights", "/nonexistent-weights"]),
            (["sweep", "--shard", "3/2"], ["--shard", "3/2"]),
            (["--threads", "0"], ["--threads", "0"]),
            (["--init", "file"], ["file"]),
            (["--sigma-b=-0.1"], ["--sigma-b", "-0.1"]),
            (["--method", "lanczos", "--steps", "0"], ["--steps", "0"]),
            (["--method", "lanczos", "--probes", "0"], ["--probes", "0"]),
            (["--method", "lanczos", "--steps", "1000", "--width", "100"], ["--steps 1000", "--width 100"]),
            (["--method", "lanczos", "--init", "gaussian", "--width", "200000"], ["--width 200000", "method lanczos", "GiB"]),
            (["--method", "krylov"], ["krylov"]),
        ]
        for (arguments, mentions) in cases {
            let (status, output, error) = try runSpectrum(arguments)
            #expect(status == 2, "\(arguments): exit \(status)")
            #expect(output.isEmpty, "\(arguments) printed to stdout")
            let lines = error.split(separator: "\n")
            #expect(lines.count == 1, "\(arguments): \(error)")
            for mention in mentions { #expect(error.contains(mention), "\(arguments): \(error)") }
        }
    }

    @Test func randomWeightsOnChosenThreadsReportTheRealWidth() throws {
        // 100 wide: one thread by default, two on request; the same spectra up to rounding,
        // and the finite-width note speaks of N = 100.
        let common = ["--init", "gaussian", "--activation", "relu", "--sigma-w", "1.41421356", "--width", "100",
                      "--layers", "12", "--samples", "4", "--json"]
        var spectra: [[Double]] = []
        for threads in [[], ["--threads", "1"], ["--threads", "2"]] {
            let (status, output, error) = try runSpectrum(common + threads)
            #expect(status == 0, "\(error)")
            let json = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [String: Any]
            spectra.append((json["eigenvalues"] as! [[Double]]).flatMap { $0 })
        }
        for other in spectra.dropFirst() {
            for (a, b) in zip(other, spectra[0]) { #expect(abs(a - b) <= 1e-10 * spectra[0][0]) }
        }
        let (status, text, _) = try runSpectrum(Array(common.dropLast()))
        #expect(status == 0 && text.contains("width 100") && !text.contains("N = 1000"))
        // He initialisation is accepted by --init.
        let (he, heText, heError) = try runSpectrum(["--init", "he", "--activation", "relu", "--width", "50", "--layers", "4", "--samples", "2"])
        #expect(he == 0 && heText.contains("He σ_w = √2"), "\(heError)")
    }

    @Test func analysesATrainCheckpoint() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        // The layout `train` writes: layers.{l}.weight, activation in the metadata.
        var file = SafetensorsFile()
        for l in 0 ..< 3 { file.set("layers.\(l).weight", Tensor<Float>.identity(20)) }
        file.metadata = ["activation": "hard-tanh", "classes": "10", "input_features": "10"]
        let url = folder.appendingPathComponent("checkpoint.safetensors")
        try file.write(to: url)
        let (status, output, error) = try runSpectrum(["--checkpoint", url.path, "--samples", "50"])
        #expect(status == 0, "\(error)")
        #expect(output.contains("3 layers × width 20") && output.contains("diagonal"))
        // Identity weights at σ = 1, q0 = 0.5: the fraction at λ = 1 is Binomial(1000, erf(1))/1000,
        // standard deviation 0.0115; four of them bound a fixed-seed run.
        let atom = output.split(separator: "\n").first { $0.hasPrefix("atom at λ = 1") }.map(String.init) ?? ""
        let tokens = atom.split(separator: " ").map(String.init)
        let measured = tokens.firstIndex(of: "%").flatMap { Double(tokens[$0 - 1]) } ?? -1
        #expect(abs(measured / 100 - 0.8427007929497149) <= 4 * 0.0115, "\(atom)")
    }

    @Test func mismatchedWeightFilesSayWhatWasExpected() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        // W1 is 4×3 but W2 takes 5 inputs.
        func write(_ name: String, rows: Int, columns: Int) throws {
            let values = [Double](repeating: 0.5, count: rows * columns)
            var bytes = Array("\u{93}NUMPY".utf8.dropFirst(0))
            bytes = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0]
            var header = "{'descr': '<f8', 'fortran_order': False, 'shape': (\(rows), \(columns)), }"
            header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
            bytes += [UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)] + Array(header.utf8)
            for v in values { bytes += withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
            try Data(bytes).write(to: folder.appendingPathComponent(name))
        }
        try write("W1.npy", rows: 4, columns: 3)
        try write("W2.npy", rows: 4, columns: 5)
        let (status, _, error) = try runSpectrum(["--weights", folder.path])
        #expect(status == 2)
        #expect(error.contains("W2.npy") && error.contains("[4, 5]") && error.contains("layer 1 outputs 4 values"), "\(error)")
    }

    @Test func shardedSweepMergesAndBadMergesFail() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let grid = ["--sigma-steps", "3", "--q0-steps", "3", "--width", "40", "--layers", "4", "--samples", "2", "--output", folder.path]
        for k in 1 ... 2 {
            let (status, _, error) = try runSpectrum(["sweep", "--shard", "\(k)/2"] + grid)
            #expect(status == 0, "\(error)")
        }
        let part1 = folder.appendingPathComponent("sweep-part-1-of-2.csv").path
        let part2 = folder.appendingPathComponent("sweep-part-2-of-2.csv").path
        let (missing, _, missingError) = try runSpectrum(["merge", part1, "--output", folder.path])
        #expect(missing == 2 && missingError.contains("missing"))
        let (status, output, _) = try runSpectrum(["merge", part1, part2, "--output", folder.path])
        #expect(status == 0 && output.contains("9 points"))
        let merged = try String(contentsOfFile: folder.appendingPathComponent("sweep.csv").path, encoding: .utf8)
        #expect(merged.split(separator: "\n").count == 11)  // grid line, header, 9 points
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("sweep.svg").path))
    }

    /// Flags and files asking for more than a sweep can hold are refused at once, in one line
    /// naming the value (each of these once hung or ran for days).
    @Test func hostileShardsFlagsAndFilesAreRefusedAtOnce() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let small = ["--sigma-steps", "3", "--q0-steps", "3", "--width", "20", "--layers", "3", "--samples", "1", "--output", folder.path]
        var run = try runExecutable("spectrum", ["sweep", "--shard", "1/9223372036854775807"] + small, timeout: 60)
        #expect(run.status == 2 && run.error == "spectrum: error: --shard must be k/n with 1 ≤ k ≤ n ≤ 1000000, got 1/9223372036854775807\n")
        run = try runExecutable("spectrum", ["sweep", "--shard", "1/10"] + small, timeout: 60)
        #expect(run.status == 2 && run.error == "spectrum: error: --shard shard 1/10 splits the grid into more parts than its 9 points (n must be at most 9)\n")
        run = try runExecutable("spectrum", ["sweep", "--activation", "tanh", "--layers", "100000", "--output", folder.path], timeout: 60)
        #expect(run.status == 2 && run.error.hasPrefix("spectrum: error: --layers must be between 1 and 100 for tanh"), "\(run.error)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("sweep.csv").path), "nothing written")

        // A real shard file, then hostile variants of it.
        run = try runExecutable("spectrum", ["sweep", "--shard", "1/2"] + small, timeout: 300)
        #expect(run.status == 0, "\(run.error)")
        let part = folder.appendingPathComponent("sweep-part-1-of-2.csv")
        let text = try String(contentsOf: part, encoding: .utf8)
        func merge(_ hostile: String) throws -> (status: Int32, error: String) {
            let url = folder.appendingPathComponent("hostile-part-1-of-2.csv")
            try hostile.write(to: url, atomically: true, encoding: .utf8)
            let result = try runExecutable("spectrum", ["merge", url.path, "--output", folder.appendingPathComponent("merged").path], timeout: 60)
            return (result.status, result.error)
        }
        let hostilePath = folder.appendingPathComponent("hostile-part-1-of-2.csv").path
        var result = try merge(text.replacingOccurrences(of: "\"n\":2", with: "\"n\":100000000000000"))
        #expect(result.status == 2 && result.error == "spectrum: error: merge: \(hostilePath): line 2: the shard description is not valid\n")
        result = try merge(text.replacingOccurrences(of: "\"layers\":3", with: "\"layers\":1000000000000"))
        #expect(result.status == 2 && result.error == "spectrum: error: merge: \(hostilePath): line 1: the grid description is not valid\n")
        result = try merge(text.replacingOccurrences(of: "{\"activation\"", with: "{\"future\":1,\"activation\""))
        #expect(result.status == 2 && result.error.contains("line 1: the grid has a field 'future' this version does not know"), "\(result.error)")
        // Point 0 is σ = 0.5, q0 = 0.05; a row there claiming σ = 2.0.
        let lines = text.split(separator: "\n").map(String.init)
        var tampered = lines
        tampered[3] = tampered[3].replacingOccurrences(of: "0,0.5,", with: "0,2.0,")
        result = try merge(tampered.joined(separator: "\n") + "\n")
        #expect(result.status == 2 && result.error.contains("line 4: point 0 has σ = 0.5 in the grid, but the row says σ = 2.0"), "\(result.error)")
        // CRLF reads as LF: this shard is then merely incomplete.
        result = try merge(text.replacingOccurrences(of: "\n", with: "\r\n"))
        #expect(result.status == 2 && result.error.contains("1 of 2 shard files missing"), "\(result.error)")
    }
}
