// swift-tools-version:6.0
import PackageDescription

let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "Titan",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "titan-node", targets: ["TitanNode"]),
        .executable(name: "titan", targets: ["TitanCLI"]),
        .library(name: "TitanClient", targets: ["TitanClient"]),
        .library(name: "TitanRuntime", targets: ["TitanRuntime"]),
        .library(name: "TitanStore", targets: ["TitanStore"]),
        .library(name: "TitanAuth", targets: ["TitanAuth"]),
        // For the libFuzzer targets in Fuzz/ (a separate package, like Benchmarks/).
        .library(name: "TitanProtocol", targets: ["TitanProtocol"]),
        .library(name: "TitanPipeline", targets: ["TitanPipeline"]),
        .library(name: "TitanPolicy", targets: ["TitanPolicy"]),
        // For the TLS benchmarks in Benchmarks/ (a master's TLSContext, certificates made at set-up).
        .library(name: "TitanTLS", targets: ["TitanTLS"]),
        .library(name: "TitanCerts", targets: ["TitanCerts"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        // Already in the graph (swift-crypto's and swift-certificates' dependency): named so TitanCerts can use PEM/DER types.
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
    ],
    targets: [
        // libuv (apt: libuv1-dev) plus the shim header: the only C in the project.
        .systemLibrary(name: "CLibUV", path: "CLibUV", pkgConfig: "libuv", providers: [.apt(["libuv1-dev"])]),
        // OpenSSL (apt: libssl-dev) plus a shim header for its macros: TLS through memory BIOs.
        .systemLibrary(name: "COpenSSL", path: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        // TLS as a pure state machine over bytes (no I/O): the loop's connections drive it.
        .target(name: "TitanTLS", dependencies: ["COpenSSL"], swiftSettings: strict),
        // The loop bridge: executor, TCP (optionally TLS), timers, signals, processes.
        .target(name: "TitanLoop", dependencies: ["CLibUV", "TitanTLS"], swiftSettings: strict),
        // Frames and message codecs. Pure: no I/O.
        .target(name: "TitanProtocol", swiftSettings: strict),
        // YAML pipelines → DagSpec, with errors that name file, line and key.
        .target(name: "TitanPipeline", dependencies: [
            "TitanProtocol", "TitanPolicy", .product(name: "Yams", package: "Yams"),
        ], swiftSettings: strict),
        // Pure decisions (placement, failure detection, ready queues, backoff): events and a clock
        // in, decisions out. No I/O.
        .target(name: "TitanPolicy", dependencies: [
            .product(name: "HeapModule", package: "swift-collections"),
        ], swiftSettings: strict),
        // Artifacts on disk: the master's content-addressed store, the worker's cache, zipping a
        // project folder and extracting it safely. Blocking I/O: callers run it off the loop.
        .target(name: "TitanArtifacts", dependencies: [
            "TitanProtocol", .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "ZIPFoundation", package: "ZIPFoundation"),
        ], swiftSettings: strict),
        // Credentials: tokens, the challenge-response that proves one without sending it, where
        // clients find theirs.
        .target(name: "TitanAuth", dependencies: [.product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        // TLS certificates for a cluster: a CA, node certificates it signs, writing them safely.
        .target(name: "TitanCerts", dependencies: [
            .product(name: "X509", package: "swift-certificates"), .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ], swiftSettings: strict),
        // The append-only file (records with length and CRC-32C, replay with torn-tail repair,
        // fsync policies with group commit, rewrite) and the KV state it journals.
        .target(name: "TitanStore", swiftSettings: strict),
        // Scheduler, worker registry, heartbeats, sessions.
        .target(name: "TitanMaster", dependencies: [
            "TitanLoop", "TitanTLS", "TitanProtocol", "TitanPolicy", "TitanArtifacts", "TitanStore", "TitanAuth",
            .product(name: "Logging", package: "swift-log"), .product(name: "DequeModule", package: "swift-collections"),
        ], swiftSettings: strict),
        // Runs jobs as process groups and streams their output.
        .target(name: "TitanWorker", dependencies: [
            "TitanLoop", "TitanTLS", "TitanProtocol", "TitanPolicy", "TitanArtifacts", "TitanAuth", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        // The Swift client library (the CLI is a thin layer over it).
        .target(name: "TitanClient", dependencies: ["TitanLoop", "TitanTLS", "TitanProtocol", "TitanArtifacts", "TitanAuth"], swiftSettings: strict),
        // Master + workers embedded in one process.
        .target(name: "TitanRuntime", dependencies: [
            "TitanMaster", "TitanWorker", "TitanLoop", "TitanPolicy", "TitanProtocol", "TitanAuth", "TitanTLS", "TitanStore",
        ], swiftSettings: strict),
        .executableTarget(name: "TitanNode", dependencies: [
            "TitanRuntime", "TitanTLS", "TitanProtocol", "TitanStore", "TitanPolicy", "TitanAuth", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        .executableTarget(name: "TitanCLI", dependencies: [
            "TitanClient", "TitanTLS", "TitanProtocol", "TitanPipeline", "TitanArtifacts", "TitanAuth", "TitanCerts",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict),
        // Helpers shared by the test targets (seeded RNG, the mutation fuzzer).
        .target(name: "TitanTestSupport", path: "Tests/TitanTestSupport"),
        .testTarget(name: "TitanProtocolTests", dependencies: ["TitanProtocol", "TitanTestSupport"]),
        .testTarget(name: "TitanLoopTests", dependencies: ["TitanLoop", "TitanTestSupport", "TitanCerts"]),
        .testTarget(name: "TitanTLSTests", dependencies: ["TitanTLS", "TitanCerts", "TitanTestSupport"]),
        .testTarget(name: "TitanPolicyTests", dependencies: ["TitanPolicy", "TitanTestSupport"]),
        .testTarget(name: "TitanMasterTests", dependencies: ["TitanMaster", "TitanAuth", "TitanTestSupport"]),
        .testTarget(name: "TitanPipelineTests", dependencies: ["TitanPipeline", "TitanTestSupport"]),
        .testTarget(name: "TitanStoreTests", dependencies: ["TitanStore", "TitanTestSupport"]),
        .testTarget(name: "TitanAuthTests", dependencies: ["TitanAuth", "TitanProtocol"]),
        .testTarget(name: "TitanCertsTests", dependencies: [
            "TitanCerts", .product(name: "X509", package: "swift-certificates"), .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
        .testTarget(name: "TitanArtifactsTests", dependencies: [
            "TitanArtifacts", "TitanTestSupport", .product(name: "ZIPFoundation", package: "ZIPFoundation"),
        ]),
        .testTarget(name: "TitanIntegrationTests", dependencies: [
            "TitanRuntime", "TitanClient", "TitanPolicy", "TitanTestSupport", "TitanAuth", "TitanCerts", "TitanTLS",
            "TitanPipeline",  // DocSnippetTests loads the docs' pipelines
        ]),
    ],
    swiftLanguageModes: [.v6]
)
