import Foundation
import PorterTesting
import Testing

/// The `Examples/` packages, built by `deploy/dev.sh test` next to `porter`, serving through the shipped nginx site.
@Suite("Examples/ through real nginx", .enabled(if: NginxHarness.isAvailable, "nginx is not installed"), .serialized)
struct ExamplesTests {
    /// Whether the example's binary was built next to `porter`.
    static func built(_ name: String) -> Bool {
        FileManager.default.isExecutableFile(atPath: PorterProcess.productsDirectory + "/" + name)
    }

    /// Starts the example `name` on a temporary socket behind nginx, with the locations it prints itself.
    static func start(_ name: String) async throws -> (PorterProcess, NginxPorterSite, TemporaryDirectory)? {
        let binary = PorterProcess.productsDirectory + "/" + name
        guard FileManager.default.isExecutableFile(atPath: binary) else { return nil }
        let dir = try TemporaryDirectory(prefix: "porter-ex")
        let locations = try #require(PorterProcess.output(of: binary, ["nginx-config"], workingDirectory: dir.path), "\(name) nginx-config")
        let process = try PorterProcess(arguments: ["serve", "--socket", dir.path("s"), "--socket-mode", "0666"],
                                        logPath: dir.path("log"), executable: binary, workingDirectory: dir.path)
        #expect(try await ConcurrentClients.offPool { PorterProcess.waitForSocket(dir.path("s")) }, "\(name) started: \(process.log)")
        return (process, try NginxPorterSite(socketPath: dir.path("s"), locations: locations), dir)
    }

    @Test("HelloPorter: the README's server answers its sync handler, async handler and module through nginx",
          .enabled(if: built("HelloPorter"), "Examples/HelloPorter is not built (deploy/dev.sh test builds it into .build)"))
    func helloPorter() async throws {
        let (process, site, dir) = try #require(try await Self.start("HelloPorter"))
        defer { site.stop(); process.signal(SIGTERM); withExtendedLifetime(dir) {} }
        let http = site.client()
        let time = try await http.fetch("/time")
        #expect(time.status == 200 && time.text.hasPrefix("It is "), "\(time.status) \(time.text)\nlog: \(process.log)\nnginx: \(site.nginx.errorLog)")
        #expect(time.headers["Server-Timing"]?.hasPrefix("app;dur=") == true, "the module ran")
        let weather = try await http.fetch("/paris.weather?city=Paris")
        #expect(weather.status == 200 && weather.text.contains(#""city":"Paris""#))
        #expect(try await http.fetch("/x.weather").status == 400)
        #expect(try await http.fetch("/index.html").status == 200, "static files stay with nginx")
    }

    @Test("Newsroom: an .rss handler over its own data (ETag, 304) and a page using user, session and application state",
          .enabled(if: built("Newsroom"), "Examples/Newsroom is not built (deploy/dev.sh test builds it into .build)"))
    func newsroom() async throws {
        let (process, site, dir) = try #require(try await Self.start("Newsroom"))
        defer { site.stop(); process.signal(SIGTERM); withExtendedLifetime(dir) {} }
        let http = site.client()
        let feed = try await http.fetch("/news.rss")
        #expect(feed.status == 200 && feed.text.contains("<title>Porter 1.0</title>"))
        let etag = try #require(feed.headers["ETag"])
        #expect(try await http.fetch("/news.rss", headers: ["If-None-Match": etag]).status == 304)
        let first = try await http.fetch("/dashboard")
        #expect(first.text == "anonymous: 1 visits, 1 in all\n")
        let cookie = try #require(first.headers["Set-Cookie"]?.split(separator: ";").first.map(String.init))
        let second = try await http.fetch("/dashboard", headers: ["Cookie": cookie])
        #expect(second.text == "anonymous: 2 visits, 2 in all\n")
        #expect(try await http.fetch("/dashboard").text == "anonymous: 1 visits, 3 in all\n", "a new visitor, the same application")
    }
}
