// swift-tools-version:6.1
// Benchmarks live in their own package so that building and testing Titan never builds the
// benchmark harness. Run: `cd Benchmarks && swift package benchmark`.
import Foundation
import PackageDescription

// The root package's identity is its directory's name (whatever the clone is called).
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let rootIdentity = root.lastPathComponent.lowercased()

let package = Package(
    name: "TitanBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        // ARC metrics crash on this toolchain: malloc interposer only, no runtime interposer.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "TitanBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TitanClient", package: rootIdentity),
                .product(name: "TitanRuntime", package: rootIdentity),
                .product(name: "TitanStore", package: rootIdentity),
                .product(name: "TitanTLS", package: rootIdentity),
                .product(name: "TitanCerts", package: rootIdentity),
            ],
            path: "Benchmarks/TitanBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
