import Foundation
import PorterTesting
import Testing

/// The shipped site's per-client key (`$porter_client` in nginx/porter.conf), which keys the login rate, requests in
/// progress and large uploads: an IPv6 client counts by its /64, as Porter's `clientKey` does (attack pass 31: nginx
/// counted each full IPv6 address, so one IPv6 host had no limit), and IPv4 by its address, also when a dual-stack
/// listener shows it as `::ffff:a.b.c.d`. Run in a network namespace this test creates, with addresses of two /64s.
@Suite("Edge: the per-client key through real nginx", .enabled(if: NginxHarness.isAvailable && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")
                                                                && FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") && getuid() == 0,
                                                               "needs nginx, unshare, curl and root"))
struct ClientKeyNginxTests {
    @Test("a 1-per-minute limit on $porter_client: a second address of the same /64 is refused, another /64 and another IPv4 address are not")
    func ipv6CountsByNetwork() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-clientkey")
        let site = try String(contentsOfFile: NginxPorterSite.repositoryRoot + "/nginx/porter.conf", encoding: .utf8)
        // The shipped map, word for word.
        guard let start = site.range(of: "map $binary_remote_addr $porter_client {"),
              let end = site.range(of: "\n}\n", range: start.upperBound..<site.endIndex) else {
            Issue.record("nginx/porter.conf has no $porter_client map")
            return
        }
        let map = String(site[start.lowerBound..<end.upperBound])
        _ = try dir.write("ok\n", to: "www/index.html")
        _ = try dir.write("""
            daemon off; pid \(dir.path)/nginx.pid; error_log \(dir.path)/error.log;
            events {}
            http { access_log off;
            \(map)
            limit_req_zone $porter_client zone=t:1m rate=1r/m;
            server { listen [::]:18124 ipv6only=off; root \(dir.path)/www;
              location / { limit_req zone=t; limit_req_status 429; }
            }
            }
            """, to: "nginx.conf")
        _ = try dir.write("""
            set -e
            chmod a+rx \(dir.path) \(dir.path)/www && chmod a+r \(dir.path)/www/index.html
            ip link set lo up
            for a in 2001:db8:1::1 2001:db8:1::2 2001:db8:2::1; do ip -6 addr add $a/64 dev lo nodad; done
            ip addr add 10.0.0.1/32 dev lo; ip addr add 10.0.0.2/32 dev lo; ip addr add 10.0.0.3/32 dev lo
            \(NginxHarness.binaryPath() ?? "nginx") -p \(dir.path) -c \(dir.path)/nginx.conf & pid=$!
            for i in $(seq 100); do curl -s -o /dev/null --interface 10.0.0.3 http://10.0.0.1:18124/x && break; sleep 0.1; done
            for src in 2001:db8:1::1 2001:db8:1::2 2001:db8:2::1 10.0.0.1 10.0.0.2 10.0.0.1; do
              case $src in *:*) url="http://[2001:db8:1::1]:18124/";; *) url="http://10.0.0.1:18124/";; esac
              echo "$src $(curl -s -o /dev/null -w '%{http_code}' --max-time 20 --interface $src $url)"
            done
            kill $pid
            """, to: "run.sh")
        let (status, text) = try await NetworkNamespaces.runIsolated(script: dir.path("run.sh"))
        #expect(status == 0, "\(text)")
        // The readiness probe comes from 10.0.0.3, a client of its own; the first request of each client is served.
        let lines = text.split(separator: "\n").filter { $0.contains(" ") && !$0.contains("curl") }
        #expect(lines == ["2001:db8:1::1 200", "2001:db8:1::2 429", "2001:db8:2::1 200", "10.0.0.1 200", "10.0.0.2 200", "10.0.0.1 429"],
                "\(text)\n\((try? String(contentsOfFile: dir.path("error.log"), encoding: .utf8)) ?? "")")
    }
}
