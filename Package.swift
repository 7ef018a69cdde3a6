// swift-tools-version: 6.0
import PackageDescription

// Layers follow docs/architecture.md: a lower module never imports a higher one, and C stays
// behind the CMPI / COpenBLAS shims.
let package = Package(
    name: "spectrain",
    products: [
        .executable(name: "spectrain", targets: ["spectrain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
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
        .target(
            name: "Linalg",
            dependencies: ["COpenBLAS", .product(name: "RealModule", package: "swift-numerics")]
        ),
        .target(name: "Spectral", dependencies: ["Linalg"]),
        .target(name: "NN", dependencies: ["Linalg"]),
        .target(name: "Data", dependencies: ["Linalg", "CZlib"]),
        .target(name: "Optim", dependencies: ["Linalg", "Spectral"]),
        .target(name: "Checkpoint", dependencies: ["Linalg"]),
        .target(name: "Train", dependencies: ["Linalg", "Spectral", "NN", "Data", "Optim", "Distributed", "Checkpoint"]),
        .target(name: "Distributed", dependencies: ["CMPI"]),
        .target(name: "GradientFree", dependencies: ["Linalg", "Spectral", "Distributed"]),
        .executableTarget(
            name: "spectrain",
            dependencies: [
                "Linalg",
                "Spectral",
                "Distributed",
                "Checkpoint",
                "Train",
                "GradientFree",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "LinalgTests", dependencies: ["Linalg"]),
        .testTarget(name: "SpectralTests", dependencies: ["Spectral"]),
        .testTarget(name: "NNTests", dependencies: ["NN"]),
        .testTarget(name: "DataTests", dependencies: ["Data"]),
        .testTarget(name: "OptimTests", dependencies: ["Optim"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint"]),
        .testTarget(name: "TrainTests", dependencies: ["Train", "Data", "Distributed", "NN", "Optim"]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed"]),
        .testTarget(name: "GradientFreeTests", dependencies: ["GradientFree"]),
        // Runs the built executable under mpirun; depending on it makes `swift test` build it.
        .testTarget(name: "SpectrainTests", dependencies: ["spectrain", "Checkpoint"]),
    ],
    swiftLanguageModes: [.v6]
)
