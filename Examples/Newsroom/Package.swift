// swift-tools-version: 6.2
// A seed-style Porter app: an `.rss` handler over the app's own data, and a page that uses the user,
// the session and application state, with Porter's session module.
import PackageDescription

let package = Package(
    name: "Newsroom",
    dependencies: [
        .package(name: "Porter", path: "../.."),
    ],
    targets: [
        .executableTarget(name: "Newsroom", dependencies: [
            .product(name: "Porter", package: "Porter"),
            .product(name: "PorterHost", package: "Porter"),
            .product(name: "PorterFeeds", package: "Porter"),
            .product(name: "PorterState", package: "Porter"),
        ], swiftSettings: [.swiftLanguageMode(.v6)]),
    ]
)
