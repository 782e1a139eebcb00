import Porter
import PorterFastCGI
import PorterHost
import PorterTesting
import Foundation
import Testing

/// porter.toml for several hosts: `allowed_peers`/`allow_any_peer` and the `[upstream]` table nginx is generated from.
@Suite("Multi-host configuration")
struct MultiHostConfigTests {
    @Test("allowed_peers reaches the transport; a bad entry is refused when the file is read")
    func allowedPeers() throws {
        let c = try ServerConfiguration.parse(toml: "listen = \"0.0.0.0:9000\"\nallowed_peers = [\"10.0.0.2\", \"fd00::/8\"]\n", baseDirectory: ".")
        let t = try c.transport()
        #expect(t.allowedPeers?.allows(address: "10.0.0.2") == true)
        #expect(t.allowedPeers?.allows(address: "10.0.0.3") == false)
        #expect(t.allowedPeers?.allows(address: "fd00::9") == true)
        #expect(throws: ConfigurationError.self) { try ServerConfiguration.parse(toml: "allowed_peers = [\"10.0.0.0/40\"]\n", baseDirectory: ".") }
        #expect(throws: ConfigurationError.self) { try ServerConfiguration.parse(toml: "allowed_peers = []\n", baseDirectory: ".") }
        #expect(throws: ConfigurationError.self) { try ServerConfiguration.parse(toml: "allowed_peers = 5\n", baseDirectory: ".") }
        #expect(throws: ConfigurationError.self) { try ServerConfiguration.parse(toml: "allow_any_peer = [1]\n", baseDirectory: ".") }
    }

    @Test("a non-loopback TCP listen without allowed_peers fails the configuration check unless allow_any_peer")
    func refusesOpenListener() throws {
        let open = try ServerConfiguration.parse(toml: "listen = \"0.0.0.0:9000\"\n", baseDirectory: ".")
        if ProcessInfo.processInfo.environment["FCGI_WEB_SERVER_ADDRS"] == nil {
            #expect(throws: ConfigurationError.self) { try open.transport() }
        }
        let waived = try ServerConfiguration.parse(toml: "listen = \"0.0.0.0:9000\"\nallow_any_peer = true\n", baseDirectory: ".")
        #expect(try waived.transport().allowAnyPeer)
        let loopback = try ServerConfiguration.parse(toml: "listen = \"127.0.0.1:9000\"\n", baseDirectory: ".")
        _ = try loopback.transport()
    }

    @Test("[upstream] renders several servers, passive health, keepalive and retries for idempotent requests only")
    func upstreamBlock() throws {
        let c = try ServerConfiguration.parse(toml: """
            [upstream]
            servers = ["10.0.0.11:9000", "10.0.0.12:9000", "[fd00::13]:9000"]
            keepalive = 16
            max_fails = 2
            fail_timeout_seconds = 5
            """, baseDirectory: ".")
        let text = try NginxConfig.upstream(c.upstream)
        #expect(text.contains("upstream porter {\n"))
        #expect(text.contains("    server 10.0.0.11:9000 max_fails=2 fail_timeout=5s;\n"))
        #expect(text.contains("    server 10.0.0.12:9000 max_fails=2 fail_timeout=5s;\n"))
        #expect(text.contains("    server [fd00::13]:9000 max_fails=2 fail_timeout=5s;\n"))
        #expect(text.contains("    keepalive 16;\n"))
        #expect(text.contains("fastcgi_next_upstream error timeout;\n"))
        #expect(text.contains("fastcgi_next_upstream_tries 3;\n"))
        // nginx retries POST/PATCH/LOCK only with `non_idempotent`: never written.
        #expect(!text.contains("non_idempotent"))
    }

    @Test("bad [upstream] input is refused, never written into nginx's configuration",
          arguments: ["servers = [\"10.0.0.1:9000; include /etc/passwd\"]", "servers = [\"10.0.0.1\"]", "servers = [\"10.0.0.1:0\"]",
                      "servers = [\"10.0.0.1:70000\"]", "servers = [\"host name:9000\"]", "servers = [\"unix:/run/a b.sock\"]",
                      "servers = [\"unix:/run/a;.sock\"]", "servers = [\"[fd00::1:9000\"]", "servers = [\"}:9000\"]", "servers = [\"\"]",
                      "keepalive = -1", "max_fails = -3", "fail_timeout_seconds = 0", "tries = 1000", "surprise = 1", "servers = 3"])
    func badUpstream(line: String) {
        #expect(throws: ConfigurationError.self) { try ServerConfiguration.parse(toml: "[upstream]\n\(line)\n", baseDirectory: ".") }
    }

    @Test("no servers: a clear error, not an empty upstream")
    func emptyUpstream() {
        #expect(throws: ConfigurationError.self) { try NginxConfig.upstream(UpstreamConfiguration()) }
    }

    @Test("the shipped site's unix-socket upstream is replaced by the hosts; the image cache stays in this nginx")
    func siteWithUpstream() throws {
        let template = try String(contentsOfFile: NginxPorterSite.repositoryRoot + "/nginx/porter.conf", encoding: .utf8)
        let site = try NginxConfig.replacingUpstream(in: template, with: UpstreamConfiguration(servers: ["10.0.0.11:9000", "10.0.0.12:9000"]))
        #expect(!site.contains("unix:/run/porter/porter.sock"))
        #expect(site.contains("server 10.0.0.11:9000 max_fails=3 fail_timeout=10s;"))
        #expect(site.components(separatedBy: "upstream porter {").count == 2)
        #expect(site.contains("fastcgi_cache_path"))
        #expect(site.contains("server {"))
        #expect(throws: ConfigurationError.self) { try NginxConfig.replacingUpstream(in: "server { }\n", with: UpstreamConfiguration(servers: ["10.0.0.1:9000"])) }
    }
}
