import Foundation
import Porter
import PorterDemo
import PorterHost
import PorterTesting
import Testing

/// Issue 10, item 6: operations pages answer this machine only (nginx's allow/deny and Porter's own check).
@Suite("Edge: ops pages through real nginx", .enabled(if: NginxHarness.isAvailable, "nginx is not installed"), .serialized)
struct OpsEdgeTests {
    @Test("/status, /metrics and /trace.axd from 127.0.0.2 → 403 from nginx; from 127.0.0.1 → 200, but 403 for another site's Host (DNS rebinding); allow_roles leaves the check to Porter")
    func opsPagesAreLocalOnly() async throws {
        let configuration = try ServerConfiguration.parse(toml: """
        [[modules]]
        name = "metrics"
        [[modules]]
        name = "trace"
        [[handlers]]
        verb = "GET,HEAD"
        path = "/status"
        handler = "status"
        [[handlers]]
        verb = "GET,HEAD"
        path = "/metrics"
        handler = "metrics"
        [[handlers]]
        verb = "GET,HEAD"
        path = "/trace.axd"
        handler = "trace"
        [[handlers]]
        verb = "GET,HEAD"
        path = "/ping"
        handler = "ping"
        """, baseDirectory: ".")
        let running = try await InProcessSite.start(PorterApplication.porter, configuration)
        let port = running.site.nginx.port
        for path in ["/status", "/metrics", "/trace.axd"] {
            let remote = try await ConcurrentClients.offPool { try SourceBoundRequest.get(port: port, path: path, from: "127.0.0.2") }
            #expect(remote.status == 403 && remote.raw.contains("nginx"), "\(path) from 127.0.0.2 → \(remote.status)")
            #expect(!remote.raw.contains("nginx/"), "no nginx version in the Server header or the error page (server_tokens off)")
            let local = try await ConcurrentClients.offPool { try SourceBoundRequest.get(port: port, path: path, from: "127.0.0.1") }
            #expect(local.status == 200, "\(path) from 127.0.0.1 → \(local.status)")
            // DNS rebinding: a browser on this machine, sent to 127.0.0.1 by another site's name, carries that name.
            for host in ["rebind.attacker.example:\(port)", "rebind.attacker.example", "127.0.0.1.attacker.example"] {
                let request = Array("GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n".utf8)
                let raw = String(decoding: try await ConcurrentClients.offPool { try SourceBoundRequest.exchange(request, port: port, from: "127.0.0.1") },
                                 as: UTF8.self)
                #expect(raw.hasPrefix("HTTP/1.1 403"), "\(path) from 127.0.0.1 with Host \(host) → \(raw.prefix(40))")
            }
            for host in ["localhost:\(port)", "LOCALHOST", "127.0.0.1", "[::1]:\(port)"] {
                let request = Array("GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n".utf8)
                let raw = String(decoding: try await ConcurrentClients.offPool { try SourceBoundRequest.exchange(request, port: port, from: "127.0.0.1") },
                                 as: UTF8.self)
                #expect(raw.hasPrefix("HTTP/1.1 200"), "\(path) from 127.0.0.1 with Host \(host) → \(raw.prefix(40))")
            }
        }
        let ping = try await ConcurrentClients.offPool { try SourceBoundRequest.get(port: port, path: "/ping", from: "127.0.0.2") }
        #expect(ping.status == 200, "ping stays public for health checks")
        await running.stop()

        let locations = try PorterApplication.porter.nginxLocations(for: configuration)
        #expect(locations.contains("location = /status {\n    allow 127.0.0.1;\n    allow ::1;\n    deny all;\n"))
        let admins = try ServerConfiguration.parse(toml: """
        [[handlers]]
        verb = "GET,HEAD"
        path = "/status"
        handler = "status"
        allow_roles = ["admin"]
        """, baseDirectory: ".")
        #expect(!(try PorterApplication.porter.nginxLocations(for: admins)).contains("deny all;"),
                "nginx cannot see roles: with allow_roles Porter decides")
    }
}
