// swift-tools-version:6.0
// A research package that uses Isometry as any user's code would: a path dependency and
// public API only. Scripts/test.sh builds and runs it; a failed check exits non-zero.
import Foundation
import PackageDescription

// SwiftPM names a path dependency after the last component of its path (lowercased), so a
// clone in a folder called `isometry` is the package "isometry" and one in `main` is "main".
// Computing it keeps this manifest right wherever the repository was cloned.
let isometryFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../..").standardizedFileURL
let isometry = isometryFolder.lastPathComponent.lowercased()

let package = Package(
    name: "Research",
    dependencies: [.package(path: isometryFolder.path)],
    targets: [
        .executableTarget(
            name: "Research",
            dependencies: ["TensorAlgebra", "Networks", "Datasets", "Spectrum", "Training", "Interpretation", "Reports"].map {
                .product(name: $0, package: isometry)
            }),
    ]
)
