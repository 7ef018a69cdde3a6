// swift-tools-version: 6.0
import PackageDescription

// Layers follow docs/architecture.md: a lower module never imports a higher one, and C stays
// behind the CMPI / COpenBLAS shims.
let package = Package(
    name: "spectrain",
    products: [
        .executable(name: "spectrain", targets: ["spectrain"]),
        // The libraries other packages adopt (docs/library.md). The trainer builds on the same
        // targets.
        .library(name: "SpectralPreconditioning", targets: ["Spectral", "Linalg", "Support"]),
        .library(name: "SpectralOptimizers", targets: ["Optim", "Spectral", "Linalg", "Support"]),
        .library(name: "GradientFreeSearch", targets: ["GradientFree", "Checkpoint", "Spectral", "Linalg", "Support"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
        // `swift package generate-documentation` for the DocC catalogues of the library targets.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CMPI",
            pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]
        ),
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(name: "Support"),
        .target(
            name: "Linalg",
            dependencies: ["COpenBLAS", .product(name: "RealModule", package: "swift-numerics")]
        ),
        .target(name: "Spectral", dependencies: ["Linalg", "Support"]),
        .target(name: "NN", dependencies: ["Linalg", "Support"]),
        .target(name: "Datasets", dependencies: ["Linalg", "Support", "CZlib"]),
        .target(name: "Optim", dependencies: ["Linalg", "Spectral", "Support"]),
        .target(name: "Checkpoint", dependencies: ["Support"]),
        .target(name: "Train", dependencies: ["Support", "Linalg", "Spectral", "NN", "Datasets", "Optim", "Cluster", "Checkpoint"]),
        .target(name: "Plotting", dependencies: ["Support", "Train", "GradientFree", "DistributedSearch"]),
        .target(name: "Cluster", dependencies: ["CMPI"]),
        .target(name: "GradientFree", dependencies: ["Support", "Linalg", "Spectral", "Checkpoint"]),
        .target(name: "DistributedSearch", dependencies: ["Support", "Linalg", "Spectral", "Cluster", "Checkpoint", "GradientFree"]),
        .executableTarget(
            name: "spectrain",
            dependencies: [
                "Support",
                "Linalg",
                "Spectral",
                "Cluster",
                "Checkpoint",
                "Train",
                "Plotting",
                "GradientFree",
                "DistributedSearch",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "SupportTests", dependencies: ["Support"]),
        .testTarget(name: "LinalgTests", dependencies: ["Linalg"]),
        .testTarget(name: "SpectralTests", dependencies: ["Spectral"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "Linalg", "Support"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Linalg"]),
        .testTarget(name: "OptimTests", dependencies: ["Optim", "Spectral", "Linalg", "Support"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint", "Linalg"]),
        .testTarget(name: "TrainTests", dependencies: ["Train", "Datasets", "Cluster", "NN", "Optim", "Spectral", "Linalg", "Support", "Checkpoint"]),
        .testTarget(name: "PlottingTests", dependencies: ["Plotting", "Train", "GradientFree", "DistributedSearch"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster"]),
        .testTarget(name: "GradientFreeTests", dependencies: ["GradientFree", "DistributedSearch", "Cluster", "Linalg", "Checkpoint"]),
        // Runs the built executable under mpirun; depending on it makes `swift test` build it.
        .testTarget(name: "SpectrainTests", dependencies: ["spectrain", "Checkpoint"]),
    ],
    swiftLanguageModes: [.v6]
)
