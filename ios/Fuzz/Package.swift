// swift-tools-version: 6.0
// libFuzzer targets for HairNetCore: the metadata contract reader and the output decoder.
// A package of its own, so that the main Package.swift stays free of fuzzing flags and of a
// target that only links with -sanitize=fuzzer. Sources/HairNetCore is a symlink to the real
// sources (ios/HairNetKit/Sources/HairNetCore): the fuzzer instruments exactly the shipped code.
// Usage: README.md next to this file.
import PackageDescription

let package = Package(
    name: "HairNetFuzz",
    targets: [
        .target(name: "HairNetCore", path: "Sources/HairNetCore"),
        .executableTarget(name: "HairNetFuzz", dependencies: ["HairNetCore"], path: "Sources/HairNetFuzz"),
    ],
    swiftLanguageModes: [.v6]
)
