import Foundation
import PorterTesting
import Testing
import Glibc

/// The slim image (deploy/Dockerfile.slim: `porter-slim`, no image feature) without an engine: the binary links
/// no libvips, and the image's RUN and CMD lines, run as a non-root user in a root laid out as the image's,
/// serve the feeds and ops handlers and refuse image routes.
@Suite("Slim Docker image, without an engine", .serialized)
struct DockerSlimTests {
    static let repo = NginxPorterSite.repositoryRoot
    static let slim = PorterProcess.productsDirectory + "/porter-slim"
    static let slimBuilt = FileManager.default.isExecutableFile(atPath: slim)

    /// The shared libraries `binary` loads, one per line (ldd's output).
    static func libraries(_ binary: String) throws -> String {
        try #require(PorterProcess.output(of: "/usr/bin/ldd", [binary]), "ldd \(binary) failed")
    }

    @Test("porter-slim links no libvips (neither does porter: it loads libvips on first use), and its catalogue has no image handler",
          .enabled(if: slimBuilt, "porter-slim is not built"))
    func slimBinaryHasNoLibvips() throws {
        let libraries = try Self.libraries(Self.slim)
        #expect(!libraries.contains("vips"))
        #expect(libraries.contains("libfcgi"), "ldd lists what it links: the check means something")
        let handlers = try #require(PorterProcess.output(of: Self.slim, ["handlers"]))
        #expect(handlers.contains("feed [feeds]") && handlers.contains("ping [ops]") && handlers.contains("session [state]"))
        #expect(!handlers.contains("image") && !handlers.contains("[demo]") && !handlers.contains("crash"))
    }

    @Test("Dockerfile.slim builds porter-slim, installs no libvips, and ships porter-slim.toml")
    func dockerfileIsSlim() throws {
        let text = try String(contentsOfFile: Self.repo + "/deploy/Dockerfile.slim", encoding: .utf8)
        let instructions = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.joined(separator: "\n")
        #expect(!instructions.contains("vips"), "no libvips package in either stage")
        #expect(text.contains("--product porter-slim"))
        #expect(text.contains("COPY --from=build /src/.build/release/porter-slim /usr/local/bin/porter"))
        #expect(text.contains("COPY deploy/porter-slim.toml /etc/porter/porter.toml"))
        let config = try String(contentsOfFile: Self.repo + "/deploy/porter-slim.toml", encoding: .utf8)
        #expect(!config.contains("handler = \"image\"") && !config.contains("handler = \"hello\""))
    }

    @Test("the slim image's RUN and CMD serve /ping and a feed as a non-root user; image paths are 404",
          .enabled(if: slimBuilt, "porter-slim is not built"),
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") && getuid() == 0,
                   "needs root and setpriv to run the CMD as another (non-root) user"))
    func slimCommandServes() async throws {
        let (cmd, env, runs) = try DockerComposeTests.dockerfile("Dockerfile.slim")
        #expect(cmd.first == "porter")
        let stateDirectory = try #require(env["STATE_DIRECTORY"])
        let root = try TemporaryDirectory(prefix: "porter-slim")
        chmod(root.path, 0o755)
        func inRoot(_ s: String) -> String {
            s.replacingOccurrences(of: "/etc/porter", with: root.path + "/etc/porter")
             .replacingOccurrences(of: "/run/porter", with: root.path + "/run/porter")
             .replacingOccurrences(of: "/var/lib/porter", with: root.path + "/var/lib/porter")
        }
        let nobody: uid_t = 65534
        for dir in ["/etc/porter", "/run/porter", stateDirectory] {
            try FileManager.default.createDirectory(atPath: inRoot(dir), withIntermediateDirectories: true)
        }
        // The image installs porter-slim as /usr/local/bin/porter.
        let bin = root.path + "/usr/local/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: bin + "/porter", withDestinationPath: Self.slim)
        chmod(root.path + "/usr", 0o755); chmod(root.path + "/usr/local", 0o755); chmod(bin, 0o755)
        try FileManager.default.copyItem(atPath: Self.repo + "/deploy/porter-slim.toml", toPath: inRoot("/etc/porter/porter.toml"))
        for dir in ["/run/porter", stateDirectory] { chown(inRoot(dir), nobody, nobody) }
        func asNobody(_ arguments: [String]) -> [String] {
            ["--reuid=\(nobody)", "--regid=\(nobody)", "--clear-groups", "--"] + arguments
        }
        for run in runs {
            let result = PorterProcess.output(of: "/usr/bin/setpriv", asNobody(["/bin/sh", "-c", "cd \(inRoot(stateDirectory)) && PATH=\(bin):$PATH && \(run)"]))
            #expect(result != nil, "RUN \(run) failed as a non-root user")
        }
        let log = try TemporaryDirectory(prefix: "porter-slimlog")
        let porter = try PorterProcess(arguments: asNobody([Self.slim] + cmd.dropFirst().map(inRoot)), logPath: log.path("porter.log"),
                                       environment: ["STATE_DIRECTORY": inRoot(stateDirectory)], executable: "/usr/bin/setpriv",
                                       workingDirectory: inRoot(stateDirectory))
        let socket = inRoot("/run/porter/porter.sock")
        #expect(try await ConcurrentClients.offPool { PorterProcess.waitForSocket(socket) }, "porter-slim started: \(porter.log)")
        func request(_ path: String) async throws -> String? {
            try await ConcurrentClients.offPool { PorterProcess.output(of: Self.slim, ["request", "--socket", socket, "--timeout", "10", path]) }
        }
        try await waitUntil("the healthcheck (/ping) passes; log:\n\(porter.log)") { try await request("/ping")?.contains("pong") == true }
        let feed = try await request("/news.rss")
        #expect(feed?.contains("<rss") == true, "feed: \(feed ?? "failed")\nporter: \(porter.log.suffix(1500))")
        #expect(try await request("/images/sunset.jpg?p=thumb") == nil, "no image route in the slim image (a 404 makes `porter request` fail)")
        #expect(!FileManager.default.fileExists(atPath: inRoot(stateDirectory + "/www/images")))
        porter.signal(SIGTERM)
        #expect(await porter.exitStatus() == 0)
        withExtendedLifetime((root, log)) {}
    }
}
