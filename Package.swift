// swift-tools-version: 6.2
// Porter: ASP.NET-style HTTP handlers and modules for Swift, served over FastCGI (libfcgi) behind nginx.
// Linux only: the transport is built on epoll (and libfcgi from Debian's libfcgi-dev). Swift 6.2 or later
// (swift-log and swift-service-lifecycle declare tools 6.2).
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Porter",
    products: [
        // The `porter` program: every built-in feature plus the demo.
        .executable(name: "porter", targets: ["porter"]),
        // The same host without the image feature (no libvips) and without the demo: the slim Docker image.
        .executable(name: "porter-slim", targets: ["porter-slim"]),
        // The model: context, handlers, registry, modules, pipeline (no C, no I/O).
        .library(name: "Porter", targets: ["Porter"]),
        // The host: code-first mapping, porter.toml, the command line, master/worker processes, nginx rules.
        .library(name: "PorterHost", targets: ["PorterHost"]),
        // The transport (libfcgi + epoll) and the FastCGI protocol/client, for embedding without the host.
        .library(name: "PorterFastCGI", targets: ["PorterFastCGI"]),
        .library(name: "FastCGIWire", targets: ["FastCGIWire"]),
        // Features: each plugs into the host with `app.add(…Feature())`; libvips is loaded (dlopen) only by PorterImages,
        // and only in a process that configures an image handler.
        .library(name: "PorterFeeds", targets: ["PorterFeeds"]),
        .library(name: "PorterImages", targets: ["PorterImages"]),
        .library(name: "PorterState", targets: ["PorterState"]),
        .library(name: "PorterOps", targets: ["PorterOps"]),
        // Test tiers for your own handlers: pipeline (no sockets), FastCGI in-process, real nginx.
        .library(name: "PorterTesting", targets: ["PorterTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        // Metrics and tracing through the ecosystem's APIs; Prometheus only in PorterOps.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
    ],
    targets: [
        // C libraries: libfcgi (system library); libvips through a thin non-variadic shim that loads
        // libvips.so.42 with dlopen on first use (no vips headers or link at build time; runtime: libvips42).
        .systemLibrary(name: "CFastCGI", path: "Sources/CFastCGI", pkgConfig: "fcgi",
                       providers: [.apt(["libfcgi-dev"])]),
        // The system's libcrypto (OpenSSL 3) for SHA-256, HMAC, HKDF, PBKDF2 and scrypt (Porter's `Cryptography`): the
        // distribution patches it, and it builds nothing (a vendored BoringSSL was a third of a cold build).
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),
        // The system's zlib: responses stored gzip-compressed once, sent to clients that accept it (`Gzip`).
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "CVipsShim"),

        // The FastCGI wire protocol in pure Swift (records, name-value pairs) and a client for tests and `porter request`.
        .target(name: "FastCGIWire", dependencies: ["Porter"], swiftSettings: swiftSettings),

        // The handler model: context, handlers, registry, modules, pipeline; HTTP and security primitives
        // (conditional GET, HMAC key ring, access rules, admission). No network I/O; C only for libcrypto.
        .target(name: "Porter", dependencies: [
            "COpenSSL", "CZlib", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),

        // The transport: the only code that touches libfcgi.
        .target(name: "PorterFastCGI", dependencies: [
            "CFastCGI", "Porter", "FastCGIWire",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: swiftSettings),

        // The host: configuration, catalogue, commands, master/worker, nginx rendering. No feature.
        .target(name: "PorterHost", dependencies: [
            "Porter", "PorterFastCGI", "FastCGIWire",
            .product(name: "TOMLKit", package: "TOMLKit"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: swiftSettings),

        // Features (plug-ins).
        .target(name: "PorterFeeds", dependencies: [
            "Porter", "PorterHost", .product(name: "GRDB", package: "GRDB.swift"),
        ], swiftSettings: swiftSettings),
        .target(name: "PorterImages", dependencies: [
            "Porter", "PorterHost", "CVipsShim",
        ], swiftSettings: swiftSettings),
        .target(name: "PorterState", dependencies: [
            "Porter", "PorterHost",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ], swiftSettings: swiftSettings),
        .target(name: "PorterOps", dependencies: [
            "Porter", "PorterHost", "PorterFastCGI", "PorterState", .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Tracing", package: "swift-distributed-tracing"),
        ], swiftSettings: swiftSettings),

        // The demo (its handlers, `crash`, its configuration) and the `porter` executable.
        .target(name: "PorterDemo", dependencies: [
            "Porter", "PorterHost", "PorterFastCGI", "PorterFeeds", "PorterImages", "PorterState", "PorterOps",
        ], swiftSettings: swiftSettings),
        .executableTarget(name: "porter", dependencies: ["PorterDemo", "PorterHost"], swiftSettings: swiftSettings),
        .executableTarget(name: "porter-slim", dependencies: ["PorterHost", "PorterFeeds", "PorterState", "PorterOps"],
                          swiftSettings: swiftSettings),

        // Test support shared by the three tiers: pipeline, in-process FastCGI, real nginx. No feature.
        .target(name: "PorterTesting", dependencies: [
            "Porter", "PorterFastCGI", "FastCGIWire", "PorterHost",
        ], swiftSettings: swiftSettings),

        .testTarget(name: "PorterTests", dependencies: ["Porter", "PorterTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "FastCGIWireTests", dependencies: ["FastCGIWire", "Porter"], swiftSettings: swiftSettings),
        .testTarget(name: "PorterFastCGITests", dependencies: ["PorterFastCGI", "PorterTesting", "FastCGIWire"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "PorterHostTests", dependencies: ["PorterHost", "PorterTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "IntegrationTests", dependencies: ["PorterTesting", "PorterHost", "PorterDemo", "FastCGIWire", "PorterFeeds", "PorterImages",
                                                          "PorterState", "PorterFastCGI", "PorterOps"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "PorterFeedsTests", dependencies: [
            "PorterFeeds", "Porter", "PorterTesting", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        .testTarget(name: "PorterImagesTests", dependencies: ["PorterImages", "PorterTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "PorterStateTests", dependencies: [
            "PorterState", "Porter", "PorterTesting", .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: swiftSettings),
        .testTarget(name: "PorterOpsTests", dependencies: [
            "PorterOps", "PorterState", "Porter", "PorterTesting", .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Tracing", package: "swift-distributed-tracing"),
            .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
        ], swiftSettings: swiftSettings),
    ]
)

// Development aid: `PORTER_TEST_ONLY=PorterTests,IntegrationTests swift test` builds only those test targets.
if let only = Context.environment["PORTER_TEST_ONLY"] {
    let keep = Set(only.split(separator: ",").map(String.init))
    package.targets.removeAll { $0.type == .test && !keep.contains($0.name) }
}
