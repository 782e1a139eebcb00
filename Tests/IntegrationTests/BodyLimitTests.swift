import Foundation
import Porter
import PorterDemo
import PorterHost
import PorterTesting
import Testing

/// Issue 10, item 4: request bodies are limited per route at nginx (and Porter), 1 MiB unless a route says otherwise.
@Suite("Edge: request body limits through real nginx", .enabled(if: NginxHarness.isAvailable, "nginx is not installed"), .serialized)
struct BodyLimitTests {
    static let toml = """
    [[handlers]]
    verb = "GET,HEAD"
    path = "/hello"
    handler = "hello"

    [[handlers]]
    verb = "POST"
    path = "/upload"
    handler = "echo"
    max_body = "2m"

    [[handlers]]
    path = "/echo"
    handler = "echo"
    """

    @Test("GET /hello with an 8 MiB body → 413 from nginx; max_body = \"2m\" takes 1.5 MiB and refuses 3 MiB; other routes 1 MiB")
    func perRouteLimits() async throws {
        let configuration = try ServerConfiguration.parse(toml: Self.toml, baseDirectory: ".")
        let running = try await InProcessSite.start(PorterApplication.porter, configuration)
        let http = running.site.client(timeout: .seconds(20))
        func accepted() -> Int { running.server.statistics.acceptedRequests.load(ordering: .relaxed) }
        let start = accepted()

        let get = try await http.fetch("/hello", method: "GET", headers: ["Content-Type": "application/octet-stream"],
                                       body: [UInt8](repeating: 0x61, count: 8 << 20))
        #expect(get.status == 413)
        #expect(get.text.contains("nginx"), "refused by nginx, not Porter: \(get.text.prefix(200))")
        #expect(accepted() == start, "Porter never saw the 8 MiB GET")
        #expect(try await http.fetch("/hello").status == 200)

        let fits = try await http.fetch("/upload", method: "POST", headers: ["Content-Type": "application/octet-stream"],
                                        body: [UInt8](repeating: 0x62, count: 3 << 19))
        #expect(fits.status == 200 && fits.text.contains("\"bodyLength\":1572864"), "\(fits.status) \(fits.text.prefix(200))")
        let tooBig = try await http.fetch("/upload", method: "POST", headers: ["Content-Type": "application/octet-stream"],
                                          body: [UInt8](repeating: 0x63, count: 3 << 20))
        #expect(tooBig.status == 413 && tooBig.text.contains("nginx"))

        let small = try await http.fetch("/echo", method: "POST", headers: ["Content-Type": "application/octet-stream"],
                                         body: [UInt8](repeating: 0x64, count: 1 << 19))
        #expect(small.status == 200)
        let overDefault = try await http.fetch("/echo", method: "POST", headers: ["Content-Type": "application/octet-stream"],
                                               body: [UInt8](repeating: 0x65, count: 3 << 19))
        #expect(overDefault.status == 413, "routes without max_body take the 1 MiB default")
        await running.stop()
    }

    @Test("the generated locations carry each route's client_max_body_size; the site sets none")
    func locationsCarryLimits() throws {
        let configuration = try ServerConfiguration.parse(toml: Self.toml, baseDirectory: ".")
        let locations = try PorterApplication.porter.nginxLocations(for: configuration)
        #expect(locations.contains("location = /hello {\n    client_max_body_size 1;\n"))
        #expect(locations.contains("location = /upload {\n    client_max_body_size 2m;\n"))
        #expect(locations.contains("location = /echo {\n    client_max_body_size 1m;\n"))
        let site = try String(contentsOfFile: NginxPorterSite.repositoryRoot + "/nginx/porter.conf", encoding: .utf8)
        #expect(!site.split(separator: "\n").contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("client_max_body_size") })
    }
}
