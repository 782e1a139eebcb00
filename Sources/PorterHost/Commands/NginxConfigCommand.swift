import ArgumentParser
import Porter
import Logging

/// `porter nginx-config`: prints the nginx `location` rules for the configured handler paths.
struct NginxConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "nginx-config",
                                                    abstract: "Print the nginx location rules for the handler registry.")

    @OptionGroup var source: ConfigurationSource

    @Flag(help: "Print the `upstream porter` block for several hosts (from [upstream] servers, or --server) instead.")
    var upstream = false

    @Option(name: .customLong("server"), help: "A Porter host for --upstream (host:port; repeat; replaces [upstream] servers).")
    var servers: [String] = []

    func run() throws {
        let app = PorterApplication.current
        if upstream || !servers.isEmpty {
            var configuration = (try? source.resolve(app))?.upstream ?? UpstreamConfiguration()
            if !servers.isEmpty { configuration.servers = servers }
            print(try NginxConfig.upstream(configuration), terminator: "")
            return
        }
        print(try app.nginxLocations(for: try source.resolve(app)), terminator: "")
    }
}

/// `porter nginx-site`: renders the shipped site file for other paths (used by the demo and the tests).
struct NginxSiteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "nginx-site",
                                                    abstract: "Render nginx/porter.conf for a socket, root and listen address.")

    @Option(help: "The site template (nginx/porter.conf).") var template: String = "nginx/porter.conf"
    @Option(help: "Porter's unix socket.") var socket: String = "/run/porter/porter.sock"
    @Option(help: "Document root for static files.") var root: String
    @Option(help: "nginx listen address.") var listen: String = "127.0.0.1:8080"
    @Option(help: "Directory holding porter-locations.conf and porter-fastcgi.conf.") var includeDirectory: String
    @Option(help: "fastcgi_cache directory.") var cacheDirectory: String = "/var/cache/nginx/porter"
    @Option(name: .customLong("upstream-server"), help: "Porter hosts (host:port, repeat) replacing the unix socket upstream.")
    var upstreamServers: [String] = []
    @Option(help: "Directory response.sendFile serves from (default: files next to the root).") var filesDirectory: String?

    func run() throws {
        guard let text = FileText.read(template) else { throw ValidationError("cannot read \(template)") }
        var site = NginxConfig.render(site: text, socket: socket, root: root, listen: listen,
                                      includeDirectory: includeDirectory, cacheDirectory: cacheDirectory,
                                      filesDirectory: filesDirectory)
        if !upstreamServers.isEmpty { site = try NginxConfig.replacingUpstream(in: site, with: UpstreamConfiguration(servers: upstreamServers)) }
        print(site, terminator: "")
    }
}

/// `porter handlers`: lists the handler and module names a configuration may use.
struct HandlersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "handlers",
                                                    abstract: "List the handler and module names a configuration may use.")

    func run() {
        let catalog = PorterApplication.current.catalog
        print("Handlers:")
        for (name, entry) in catalog.handlers.entries.sorted(by: { $0.key < $1.key }) { print("  \(name) [\(entry.feature)]: \(entry.summary)") }
        print("Modules:")
        for (name, entry) in catalog.modules.entries.sorted(by: { $0.key < $1.key }) { print("  \(name) [\(entry.feature)]: \(entry.summary)") }
    }
}

/// `porter check`: builds everything the configuration describes, as `serve` would, without serving
/// (like `nginx -t` and `php-fpm -t`), then prints the effective routes and modules.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check",
                                                    abstract: "Validate the configuration and print the effective routes and modules.")

    @OptionGroup var source: ConfigurationSource

    func run() throws {
        let app = PorterApplication.current
        let configuration = try source.resolve(app)
        var logger = Logger(label: app.name)
        logger.logLevel = .critical
        let built = try app.build(configuration, logger: logger)
        _ = try configuration.transport()   // listen address, allowed_peers and the open-listener rule, as serve checks them
        print("listen = \(configuration.listen)  threads = \(configuration.threads)  workers = \(configuration.workers)")
        print("modules: \(built.pipeline.modules.map(\.name).joined(separator: ", "))")
        for mapping in built.pipeline.registry.mappings {
            print("  \(mapping.verbs) \(mapping.pattern.text) -> \(mapping.name)")
        }
        print("configuration OK")
    }
}
