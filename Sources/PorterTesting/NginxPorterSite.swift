public import Foundation
public import PorterHost

/// Tier 3 of the tests: the shipped `nginx/` site, rendered to temporary paths, in front of a Porter
/// (an in-process server or the `porter` binary) on a temporary unix socket.
public final class NginxPorterSite: Sendable {
    /// The running nginx.
    public let nginx: NginxHarness
    /// Static files root (nginx serves these itself).
    public let root: TemporaryDirectory
    /// Porter's unix socket.
    public let socketPath: String
    /// The directory `response.sendFile` names are relative to (`$porter_files`), outside the document root.
    public let files: TemporaryDirectory

    /// The repository's top directory (found from this source file's path, or `PORTER_REPO`).
    public static var repositoryRoot: String {
        if let configured = ProcessInfo.processInfo.environment["PORTER_REPO"] { return configured }
        var dir = (#filePath as NSString).deletingLastPathComponent
        while !FileManager.default.fileExists(atPath: dir + "/Package.swift") && dir != "/" {
            dir = (dir as NSString).deletingLastPathComponent
        }
        return dir
    }

    /// Renders `nginx/porter.conf` with `locations` (default: the committed `nginx/porter-locations.conf`)
    /// pointing at `socketPath`, and starts nginx. `staticFiles` are written under the document root;
    /// `configFiles` next to the nginx configuration (an htpasswd file; a replacement for a shipped snippet);
    /// `sendFiles` in the sendFile directory; `upstream` replaces the unix-socket upstream with several TCP hosts.
    public init(socketPath: String, locations: String? = nil, staticFiles: [String: String] = ["index.html": "<h1>static</h1>\n"],
                configFiles: [String: String] = [:], sendFiles: [String: String] = [:], upstream: UpstreamConfiguration? = nil) throws {
        let repo = NginxPorterSite.repositoryRoot
        let site = try String(contentsOfFile: repo + "/nginx/porter.conf", encoding: .utf8)
        let fastcgi = try String(contentsOfFile: repo + "/nginx/porter-fastcgi.conf", encoding: .utf8)
        let committedLocations = try String(contentsOfFile: repo + "/nginx/porter-locations.conf", encoding: .utf8)
        let identity = try String(contentsOfFile: repo + "/nginx/porter-identity.conf", encoding: .utf8)
        root = try TemporaryDirectory(prefix: "porter-www")
        for (name, contents) in staticFiles { try root.write(contents, to: name) }
        files = try TemporaryDirectory(prefix: "porter-files")
        for (name, contents) in sendFiles { try files.write(contents, to: name) }
        let cache = try root.makeDirectory("../" + ((root.path as NSString).lastPathComponent) + "-cache")
        var rendered = NginxConfig.render(site: site, socket: socketPath, root: root.path, listen: "127.0.0.1:{{PORT}}",
                                          includeDirectory: "{{PREFIX}}", cacheDirectory: cache,
                                          filesDirectory: files.path)
        // Several Porter hosts (`porter nginx-config --upstream`) instead of the one unix socket.
        if let upstream { rendered = try NginxConfig.replacingUpstream(in: rendered, with: upstream) }
        self.socketPath = socketPath
        var files = ["porter-fastcgi.conf": fastcgi, "porter-identity.conf": identity,
                     "porter-locations.conf": locations ?? committedLocations]
        files.merge(configFiles) { _, replacement in replacement }
        nginx = try NginxHarness(http: rendered, files: files, errorLogLevel: "warn")
    }

    /// An HTTP client to nginx.
    public func client(keepAlive: Bool = false, timeout: Duration = hangGuard) -> HTTPTestClient {
        nginx.client(keepAlive: keepAlive, timeout: timeout)
    }

    /// Stops nginx.
    public func stop() { nginx.stop() }
}
