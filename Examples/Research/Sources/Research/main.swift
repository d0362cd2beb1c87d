// Everyday research tasks written against Isometry's public API.
import Foundation

let output = URL(fileURLWithPath: CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "out/research")
try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
let start = Date()

print("(a) Jacobian spectra against their theory")
try spectra(writingTo: output)
print("(b) one epoch on 5,000 Fashion-MNIST images")
let classifier = try trainOneEpoch()
print("(c) exact linearisation of 8 test images")
try linearise(classifier)
print("(d) least squares, inverse and a truncated SVD")
try linearAlgebra()
try anyNetwork()

print(String(format: "%d passed, %d failed (%.1f s)", Checks.passed, Checks.failures.count, Date().timeIntervalSince(start)))
if !Checks.failures.isEmpty {
    for failure in Checks.failures { print("failed: \(failure)") }
    exit(1)
}
