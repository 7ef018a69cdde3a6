// swift-tools-version: 6.0
import PackageDescription

// A package of its own that uses spectrain as a library, the way another project would: it
// depends on the repository by path and imports the library products. CI builds and runs it
// (`.ci/run`); each example checks its own result and exits non-zero when it is wrong.
let package = Package(
    name: "spectrain-examples",
    dependencies: [
        .package(name: "spectrain", path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "precondition-gradients",
            dependencies: [.product(name: "SpectralPreconditioning", package: "spectrain")],
            path: "PreconditionGradients"
        ),
        .executableTarget(
            name: "ask-tell",
            dependencies: [.product(name: "GradientFreeSearch", package: "spectrain")],
            path: "AskTell"
        ),
    ],
    swiftLanguageModes: [.v6]
)
