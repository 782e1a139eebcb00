// swift-tools-version: 6.2
// The README's minimal Porter server: one sync handler, one async handler, one module, mapped in code.
import PackageDescription

let package = Package(
    name: "HelloPorter",
    dependencies: [
        .package(name: "Porter", path: "../.."),
    ],
    targets: [
        .executableTarget(name: "HelloPorter", dependencies: [
            .product(name: "Porter", package: "Porter"),
            .product(name: "PorterHost", package: "Porter"),
        ], swiftSettings: [.swiftLanguageMode(.v6)]),
    ]
)
