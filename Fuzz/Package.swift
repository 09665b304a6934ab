// swift-tools-version:6.0
// libFuzzer targets for long, coverage-guided fuzzing of Titan's decoders. A separate package, so
// that building and testing Titan never builds them (they need `-sanitize=fuzzer`, which provides
// `main`). Run one with `scripts/fuzz.sh TARGET [SECONDS]`; the bounded in-process fuzzer that CI
// runs is in the test suite (`Tests/TitanTestSupport/Fuzzer.swift`).
import Foundation
import PackageDescription

// The root package's identity is its directory's name (whatever the clone is called).
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let rootIdentity = root.lastPathComponent.lowercased()

func fuzzer(_ name: String, _ products: [String]) -> Target {
    .executableTarget(name: name, dependencies: ["CFuzzDriver"] + products.map { .product(name: $0, package: rootIdentity) },
                      path: "Sources/\(name)")
}

let package = Package(
    name: "TitanFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: "..")],
    targets: [
        .target(name: "CFuzzDriver"),
        fuzzer("fuzz-native-codec", ["TitanProtocol"]),
        fuzzer("fuzz-frames", ["TitanProtocol"]),
        fuzzer("fuzz-v1-codec", ["TitanProtocol"]),
        fuzzer("fuzz-kv-mutation", ["TitanStore"]),
        fuzzer("fuzz-aof-replay", ["TitanStore"]),
        fuzzer("fuzz-pipeline-yaml", ["TitanPipeline"]),
        fuzzer("fuzz-cron", ["TitanPolicy"]),
    ],
    swiftLanguageModes: [.v6]
)
