// swift-tools-version: 6.0
// HairNetKit: on-device hair segmentation and hair attributes (DESIGN.md §1, §5).
import PackageDescription

let package = Package(
    name: "HairNetKit",
    platforms: [.iOS(.v16), .macOS(.v13)],
    products: [
        // One product: `import HairNetKit` re-exports HairNetCore.
        .library(name: "HairNetKit", targets: ["HairNetKit", "HairNetCore"]),
        // The latency benchmark for Macs: `swift run -c release hairnet-bench --help`.
        .executable(name: "hairnet-bench", targets: ["hairnet-bench"]),
    ],
    targets: [
        // Foundation only: output decoding, the crop rule, the contract, statistics. Builds on Linux.
        .target(name: "HairNetCore", path: "ios/HairNetKit/Sources/HairNetCore"),
        // Vision + Core ML + CoreGraphics; compiled out where those frameworks do not exist.
        .target(
            name: "HairNetKit",
            dependencies: ["HairNetCore"],
            path: "ios/HairNetKit/Sources/HairNetKit",
            resources: [.copy("Resources/HairNet.mlpackage")]
        ),
        // Where Core ML is missing it only says so and exits non-zero.
        .executableTarget(name: "hairnet-bench", dependencies: ["HairNetKit"], path: "ios/HairNetKit/Sources/hairnet-bench"),
        .testTarget(name: "HairNetCoreTests", dependencies: ["HairNetCore"], path: "ios/HairNetKit/Tests/HairNetCoreTests"),
        .testTarget(name: "HairNetKitTests", dependencies: ["HairNetKit"], path: "ios/HairNetKit/Tests/HairNetKitTests"),
    ],
    swiftLanguageModes: [.v6]
)
