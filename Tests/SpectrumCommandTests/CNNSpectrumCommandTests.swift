import Foundation
import Testing

/// `spectrum --architecture`: a CNN drawn by --init dirac or delta-orthogonal beside its theory,
/// with the MLP's table, CSV and figure; any stack at the test images; every refusal one line,
/// exit 2, nothing written.
@Suite(.serialized) struct CNNSpectrumCommandTests {
    /// A Dirac hard-tanh CNN (16 channels on 8 × 8 positions, two layers, σ = 1.05, q0 = 0.5):
    /// the identity law's table with ✓ on every row the run's bands hold (the rows are binomial
    /// counts of 3 · 1024 i.i.d. eigenvalues; the test asserts the structure, the library suite
    /// the agreement), the CSV with one row per eigenvalue, each 0 or σ⁴, and the figure with
    /// the theory's atoms.
    @Test func diracCNNReportsTheIdentityLaw() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (csv, plot) = (folder.appendingPathComponent("e.csv").path, folder.appendingPathComponent("s.svg").path)
        let (status, output, error) = try runSpectrum([
            "--architecture", "conv16k3p1,hard-tanh,conv16k3p1,hard-tanh", "--input-shape", "16,8,8", "--init", "dirac",
            "--sigma", "1.05", "--q0", "0.5", "--samples", "3", "--csv", csv, "--plot", plot,
        ])
        #expect(status == 0, "\(error)")
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.first == "Spectrum of J Jᵀ: dirac σ = 1.05 CNN (conv16k3p1,hard-tanh)×2 on [16, 8, 8], at inputs N(0, q0 = 0.5)")
        #expect(lines.count > 1 && lines[1].hasPrefix("3 samples × 1024 = 3,072 eigenvalues, double, seed 0, positionwise: 64 blocks of 16 × 16 (centre taps), gesdd per block"))
        #expect(output.contains("theory: exact law for identity weights (Kubota et al. 2021): Dirac taps make every coordinate of every position its own scalar chain of 2 layers"))
        let top = Foundation.pow(1.05, 4.0)
        #expect(lines.contains { $0.hasPrefix("atom at λ = 1.216") })
        let rows = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 3073 && rows[0] == "sample,index,eigenvalue")
        for row in rows.dropFirst() {
            let value = Double(row.split(separator: ",")[2])!
            #expect(value == 0 || abs(value - top) <= 1e-12 * top, "\(row)")
        }
        let svg = try String(contentsOfFile: plot, encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("theory atom") && svg.contains("Spectrum of J Jᵀ — dirac σ = 1.05 CNN"))
    }

    /// A delta-orthogonal ReLU CNN at σ = √2: the theory is layerwise free probability at width
    /// C = 32 (every p_l = ½ for ReLU), bands by bootstrap over the networks, and --json carries
    /// it all; the report names the finite width C when a row falls outside (not C·P).
    @Test func deltaOrthogonalCNNReportsFreeProbability() throws {
        let (status, output, error) = try runSpectrum([
            "--architecture", "conv32k3p1,relu,conv32k3p1,relu,conv32k3p1,relu", "--input-shape", "32,12", "--init", "delta-orthogonal",
            "--sigma", "1.41421356", "--samples", "4",
        ])
        #expect(status == 0, "\(error)")
        #expect(output.contains("theory: free probability for the orthogonal network of width C = 32 each position runs (Xiao et al. 2018)"))
        #expect(output.contains("bands: bootstrap over samples"))
        if output.contains("outside the band") { #expect(output.contains("at N = 32 the measured")) }
        let (jsonStatus, json, _) = try runSpectrum([
            "--architecture", "conv32k3p1,relu,conv32k3p1,relu", "--input-shape", "32,12", "--init", "delta-orthogonal",
            "--sigma", "1.41421356", "--samples", "2", "--json",
        ])
        #expect(jsonStatus == 0)
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        #expect((object["eigenvalues"] as? [[Double]])?.map(\.count) == [384, 384])
        #expect(object["finiteWidth"] as? Int == 32)
        let configuration = object["configuration"] as! [String: Any]
        #expect(configuration["stackInitialization"] as? String == "delta-orthogonal")
        #expect(configuration["inputShape"] as? [Int] == [32, 12])
    }

    /// At data: a CNN with a pool and a dense head on the test images, J by reverse mode from
    /// its 10 logits (dense, where it fits), no theory.
    @Test func anyStackAtTheTestImages() throws {
        let (status, output, error) = try runSpectrum([
            "--architecture", "conv4k3,relu,maxpool2,flatten,dense10", "--input-shape", "1,28,28", "--inputs", "test", "--samples", "2",
        ])
        #expect(status == 0, "\(error)")
        #expect(output.hasPrefix("Spectrum of J Jᵀ: pytorch layer stack conv4k3,relu,maxpool2,flatten,dense10 on [1, 28, 28], at the first 2 test images of /usr/share/datasets/fashion-mnist (pixels / 255)"))
        #expect(output.contains("layer stack: J by 10 reverse-mode products, gesdd on J"))
        #expect(output.contains("theory: none at data"))
    }

    @Test func badArchitectureFlagsExitWithCodeTwoAndOneLine() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let csv = folder.appendingPathComponent("e.csv").path
        let cnn = ["--architecture", "conv8k3p1,relu", "--input-shape", "8,10"]
        let cases: [([String], [String])] = [
            (["--architecture", "conv8k4p1,relu", "--input-shape", "8,10", "--init", "dirac"], ["--architecture: layer 0", "kernel 4", "dirac"]),
            (cnn + ["--init", "identity"], ["--init 'identity'", "dirac is the convolution's identity"]),
            (cnn + ["--init", "orthogonal"], ["--init 'orthogonal'", "delta-orthogonal"]),
            (["--architecture", "conv8k3p1,relu"], ["--architecture needs --input-shape"]),
            (["--architecture", "conv8k3p1,relu", "--input-shape", "8,x"], ["--input-shape", "'8,x'"]),
            (["--architecture", "conv8k3p1,relu", "--input-shape", "8,0"], ["--input-shape", "'8,0'"]),
            (["--architecture", "dense10", "--input-shape", "8,4"], ["--architecture: architecture token 0 'dense10'"]),
            (["--architecture", "conv8k3p1,softplus", "--input-shape", "8,4"], ["--architecture", "softplus"]),
            (cnn + ["--layers", "4"], ["--layers does not apply with --architecture"]),
            (cnn + ["--width", "4"], ["--width does not apply with --architecture"]),
            (cnn + ["--activation", "relu"], ["--activation does not apply with --architecture"]),
            (cnn + ["--sigma-w", "2"], ["--sigma-w does not apply", "--sigma"]),
            (cnn + ["--weights", "/tmp"], ["--weights does not apply with --architecture"]),
            (cnn + ["--input", "fixed-point"], ["--input fixed-point does not apply with --architecture"]),
            (cnn + ["--init", "he", "--sigma", "2"], ["--sigma does not apply to --init he"]),
            (cnn + ["--sigma-b", "0.1"], ["--sigma-b does not apply to --init pytorch"]),
            (cnn + ["--inputs", "test"], ["--inputs test", "784 pixels", "--input-shape 8,10 takes 80 inputs"]),
            (["--architecture", "conv8000k3p1,relu", "--input-shape", "8000,2000"], ["--architecture on --input-shape 8000,2000", "GiB"]),
            (["--input-shape", "8,4"], ["--input-shape", "--architecture"]),
            (["--init", "dirac"], ["--init must be identity, gaussian, orthogonal or he", "dirac"]),
        ]
        for (arguments, mentions) in cases {
            let (status, output, error) = try runSpectrum(arguments + ["--samples", "1", "--csv", csv])
            #expect(status == 2, "\(arguments): exit \(status)")
            #expect(output.isEmpty, "\(arguments) printed to stdout")
            #expect(error.split(separator: "\n").count == 1, "\(arguments): \(error)")
            for mention in mentions { #expect(error.contains(mention), "\(arguments): \(error)") }
            #expect(!FileManager.default.fileExists(atPath: csv), "\(arguments) wrote the CSV")
        }
    }
}
