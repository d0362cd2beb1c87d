// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Isometry",
    products: [
        .library(name: "IsometrySupport", targets: ["IsometrySupport"]),
        .library(name: "TensorAlgebra", targets: ["TensorAlgebra"]),
        .library(name: "FileFormats", targets: ["FileFormats"]),
        .library(name: "Networks", targets: ["Networks"]),
        .library(name: "Spectrum", targets: ["Spectrum"]),
        .library(name: "Figures", targets: ["Figures"]),
        .library(name: "Datasets", targets: ["Datasets"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Interpretation", targets: ["Interpretation"]),
        .library(name: "GridShards", targets: ["GridShards"]),
        .library(name: "Study", targets: ["Study"]),
        .library(name: "Reports", targets: ["Reports"]),
        .executable(name: "spectrum", targets: ["SpectrumCommand"]),
        .executable(name: "train", targets: ["TrainCommand"]),
        .executable(name: "interpret", targets: ["InterpretCommand"]),
        .executable(name: "study", targets: ["StudyCommand"]),
        .executable(name: "noisy-background", targets: ["BackgroundCommand"]),
        .executable(name: "embed", targets: ["EmbedCommand"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
        // `swift package generate-documentation` builds the DocC catalog of each module.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        // C shims: system libraries located through pkg-config, installable through apt.
        .systemLibrary(
            name: "CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "pkg-config"])]),
        .systemLibrary(
            name: "CLAPACKE", pkgConfig: "lapacke",
            providers: [.apt(["liblapacke-dev", "pkg-config"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev", "pkg-config"])]),

        // The support floor (Foundation only): regular-file reads, the one memory budget, the one
        // durable writer, `require`, number text. Every other module stands on it.
        .target(name: "IsometrySupport"),

        // Float32 products of a weight matrix with a block of 16 vectors that stream the weights
        // once instead of packing them (the Lanczos products); chosen per CPU at run time.
        .target(name: "CBlockProducts"),

        // The tensor layer: numerics only.
        .target(
            name: "TensorAlgebra",
            dependencies: ["CBLAS", "CLAPACKE", "CBlockProducts",
                .product(name: "RealModule", package: "swift-numerics")]),

        // File formats over the support floor: .npy, safetensors, IDX (gzipped via zlib).
        .target(name: "FileFormats", dependencies: ["IsometrySupport", "TensorAlgebra", "CZlib"]),

        // The model, shared by every research module: layers, activations, initialisations, the
        // identity classifier, its checkpoint format and batched evaluation.
        .target(
            name: "Networks",
            dependencies: ["IsometrySupport", "FileFormats", "TensorAlgebra", "Datasets", .product(name: "RealModule", package: "swift-numerics")]),

        // IDX image datasets (MNIST, Fashion-MNIST), gzipped or plain.
        .target(name: "Datasets", dependencies: ["IsometrySupport", "FileFormats", "TensorAlgebra"]),

        // The trainer for identity-initialised classifiers.
        .target(
            name: "Training",
            dependencies: ["IsometrySupport", "FileFormats", "TensorAlgebra", "Networks", "Datasets"]),

        // The layer-wise interpreter: readouts, contribution maps, exact linearisations.
        .target(
            name: "Interpretation",
            dependencies: ["IsometrySupport", "TensorAlgebra", "Networks", "Datasets"]),

        // What the command-line tools share: one-line errors, atomic writes, progress, the shared
        // option groups (run settings, grid options).
        .target(
            name: "CommandSupport",
            dependencies: ["IsometrySupport", "GridShards", "Networks", "Training", "TensorAlgebra",
                .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // SVG figures (axes, colour maps, heat maps) for every command.
        .target(name: "Figures", dependencies: ["IsometrySupport", "CZlib"]),

        // Shards, resumable shard files and merge, shared by every grid command; reads and writes
        // through the support floor.
        .target(name: "GridShards", dependencies: ["IsometrySupport"]),

        // The Jacobian spectrum analyzer and its theory.
        .target(
            name: "Spectrum",
            dependencies: ["IsometrySupport", "TensorAlgebra", "FileFormats", "Networks", "Datasets", "GridShards",
                .product(name: "ComplexModule", package: "swift-numerics"),
                .product(name: "RealModule", package: "swift-numerics")]),

        .executableTarget(
            name: "SpectrumCommand",
            dependencies: ["IsometrySupport", "Reports", "GridShards", "Spectrum", "Networks", "Datasets", "TensorAlgebra", "Figures", "CommandSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // Trainability against depth: a grid of trainings beside the spectrum theory.
        .target(
            name: "Study",
            dependencies: ["IsometrySupport", "Training", "Spectrum", "Networks", "Datasets", "GridShards", "TensorAlgebra"]),

        // The reports floor: every figure, page and printed report of the science modules.
        .target(
            name: "Reports",
            dependencies: ["IsometrySupport", "Figures", "TensorAlgebra", "Networks", "Training", "Spectrum", "Interpretation", "Study"]),

        .executableTarget(
            name: "StudyCommand",
            dependencies: ["IsometrySupport", "Reports", "Figures", "FileFormats", "Study", "Training", "Datasets", "Networks", "TensorAlgebra", "GridShards", "CommandSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        .executableTarget(
            name: "TrainCommand",
            dependencies: ["IsometrySupport", "Reports", "FileFormats", "Training", "Datasets", "Networks", "TensorAlgebra", "Figures", "CommandSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        .executableTarget(
            name: "InterpretCommand",
            dependencies: ["IsometrySupport", "Reports", "FileFormats", "Interpretation", "Datasets", "Networks", "TensorAlgebra", "Figures", "CommandSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // Parametric t-SNE: trains an embedding network, measures and linearises its embedding.
        .executableTarget(
            name: "EmbedCommand",
            dependencies: ["IsometrySupport", "Reports", "FileFormats", "Training", "Interpretation", "Datasets", "Networks", "TensorAlgebra", "Figures", "CommandSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        .executableTarget(
            name: "BackgroundCommand",
            dependencies: ["IsometrySupport", "Reports", "FileFormats", "Interpretation", "Datasets", "Networks", "CommandSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // The benchmarks: executable targets of this package only, not products (nothing that
        // depends on Isometry gets them); `swift run bench-gemm` runs one.
        .target(name: "BenchmarkSupport", path: "Benchmarks/BenchmarkSupport"),

        .executableTarget(
            name: "bench-gemm",
            dependencies: [
                "BenchmarkSupport",
                "TensorAlgebra", "CBLAS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/BenchGEMM"),

        .executableTarget(
            name: "bench-spectrum",
            dependencies: [
                "BenchmarkSupport",
                "Spectrum", "Networks", "TensorAlgebra",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/BenchSpectrum"),

        .executableTarget(
            name: "bench-train",
            dependencies: [
                "BenchmarkSupport",
                "Training", "Datasets", "Networks", "TensorAlgebra",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/BenchTrain"),

        .executableTarget(
            name: "bench-interpret",
            dependencies: [
                "BenchmarkSupport", "Interpretation", "Networks", "Datasets", "TensorAlgebra",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/BenchInterpret"),

        .executableTarget(
            name: "bench-attribution",
            dependencies: [
                "BenchmarkSupport", "Interpretation", "Networks", "Datasets", "TensorAlgebra",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/BenchAttribution"),

        .testTarget(
            name: "TensorAlgebraTests",
            dependencies: ["FileFormats", "TensorAlgebra", .product(name: "RealModule", package: "swift-numerics")],
            resources: [.copy("Fixtures")]),
        // The file formats (.npy, safetensors, IDX): round trips, hostile files, the writers' refusals.
        .testTarget(
            name: "FileFormatsTests",
            dependencies: ["IsometrySupport", "FileFormats", "TensorAlgebra", "CZlib"],
            resources: [.copy("Fixtures")]),
        // IDX files as datasets read them, hostile and degenerate ones included; gathers, shuffles.
        .testTarget(
            name: "DatasetsTests",
            dependencies: ["IsometrySupport", "FileFormats", "Datasets", "TensorAlgebra"]),
        .testTarget(
            name: "SpectrumTests",
            dependencies: ["Reports", "IsometrySupport", "Spectrum", "Networks", "FileFormats", "TensorAlgebra", "GridShards"],
            resources: [.copy("Fixtures")]),
        // The shared drawing primitives: axes, colour scales and bars, captions, numbers.
        .testTarget(name: "FiguresTests", dependencies: ["IsometrySupport", "Figures"]),
        // The model: checkpoints (Fixtures: a file written by Python's safetensors), numpy layer
        // folders, batched evaluation.
        .testTarget(
            name: "NetworksTests",
            dependencies: ["TestSupport", "FileFormats", "Networks", "Datasets", "TensorAlgebra"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "TrainingTests",
            dependencies: ["TestSupport", "FileFormats", "Training", "Datasets", "Networks", "TensorAlgebra"],
            // t-SNE's affinities and gradients from scikit-learn and PyTorch (Benchmarks/Peers/tsne_fixtures.py).
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "InterpretationTests",
            dependencies: ["IsometrySupport", "TestSupport", "Interpretation", "Training", "Datasets", "Networks", "TensorAlgebra"]),
        // Helpers the tests of several modules share: models and data built the same way,
        // temporary folders.
        .target(name: "TestSupport", dependencies: ["Networks", "Datasets", "TensorAlgebra"], path: "Tests/TestSupport"),
        // Every figure, page and printed report against the numbers it draws.
        .testTarget(
            name: "ReportsTests",
            dependencies: ["Reports", "Figures", "Spectrum", "Interpretation", "Study", "Training", "Networks", "Datasets", "TensorAlgebra", "IsometrySupport", "TestSupport"]),
        // Runs the built executables for the command tests.
        .target(name: "CommandTestSupport", dependencies: ["FileFormats", "Datasets", "TensorAlgebra"], path: "Tests/CommandTestSupport"),
        // Run the built executables; depending on them makes `swift test` build them.
        .testTarget(
            name: "InterpretCommandTests",
            dependencies: ["FileFormats", "InterpretCommand", "CommandTestSupport", "Datasets", "Networks", "TensorAlgebra"]),
        .testTarget(
            name: "BackgroundCommandTests",
            dependencies: ["BackgroundCommand", "CommandTestSupport", "Datasets", "FileFormats", "Networks", "TensorAlgebra"]),
        .testTarget(
            name: "TrainCommandTests",
            dependencies: ["FileFormats", "TrainCommand", "CommandTestSupport", "Datasets", "Networks", "TensorAlgebra"]),
        // `embed`'s outputs and refusals, running the built binary.
        .testTarget(
            name: "EmbedCommandTests",
            dependencies: ["EmbedCommand", "CommandTestSupport", "FileFormats", "Networks", "TensorAlgebra"]),
        .testTarget(name: "GridShardsTests", dependencies: ["TestSupport", "GridShards", "IsometrySupport"]),
        // The durable writer, staged outputs, the output-folder lock and its tidying.
        .testTarget(name: "IsometrySupportTests", dependencies: ["IsometrySupport", "CommandSupport"]),
        .testTarget(
            name: "StudyTests",
            dependencies: ["TestSupport", "Study", "Training", "Spectrum", "Datasets", "Networks", "TensorAlgebra", "GridShards"]),
        .testTarget(
            name: "StudyCommandTests",
            dependencies: ["StudyCommand", "Study", "CommandTestSupport", "TensorAlgebra"]),
        // The layer stack against PyTorch fixtures (Scripts/make_layer_fixtures.py).
        .testTarget(
            name: "LayerStackTests",
            dependencies: ["Datasets", "Networks", "FileFormats", "TensorAlgebra"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "BenchmarkSupportTests", dependencies: ["BenchmarkSupport"], path: "Benchmarks/BenchmarkSupportTests"),
        .testTarget(
            name: "SpectrumCommandTests",
            dependencies: ["FileFormats", "Spectrum", "SpectrumCommand", "CommandTestSupport", "TensorAlgebra"]),
    ]
)
