// swift-tools-version: 6.0
// HairNetKit: on-device hair segmentation and hair attributes (DESIGN.md §1, §5).
import PackageDescription

let package = Package(
    name: "HairNetKit",
    platforms: [.iOS(.v16), .macOS(.v13)],
    products: [
        // One product: `import HairNetKit` re-exports HairNetCore.
        .library(name: "HairNetKit", targets: ["HairNetKit", "HairNetCore"]),
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
        .testTarget(name: "HairNetCoreTests", dependencies: ["HairNetCore"], path: "ios/HairNetKit/Tests/HairNetCoreTests"),
        .testTarget(name: "HairNetKitTests", dependencies: ["HairNetKit"], path: "ios/HairNetKit/Tests/HairNetKitTests"),
    ],
    swiftLanguageModes: [.v6]
)
