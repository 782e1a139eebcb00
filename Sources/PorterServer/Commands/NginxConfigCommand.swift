import ArgumentParser
import Porter

/// `porter nginx-config`: prints the nginx `location` rules for the configured handler paths.
struct NginxConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "nginx-config",
                                                    abstract: "Print the nginx location rules for the handler registry.")

    @Option(name: .shortAndLong, help: "Configuration file (default: ./porter.toml if present, else the built-in demo).")
    var config: String?

    func run() throws {
        print(NginxConfig.locations(for: try ServeCommand.loadConfiguration(config)), terminator: "")
    }
}

/// `porter nginx-site`: renders the shipped site file for other paths (used by the demo and the tests).
struct NginxSiteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "nginx-site",
                                                    abstract: "Render nginx/porter.conf for a socket, root and listen address.")

    @Option(help: "The site template (nginx/porter.conf).") var template: String = "nginx/porter.conf"
    @Option(help: "Porter's unix socket.") var socket: String
    @Option(help: "Document root for static files.") var root: String
    @Option(help: "nginx listen address.") var listen: String = "127.0.0.1:8080"
    @Option(help: "Directory holding porter-locations.conf and porter-fastcgi.conf.") var includeDirectory: String
    @Option(help: "fastcgi_cache directory.") var cacheDirectory: String = "/var/cache/nginx/porter"

    func run() throws {
        guard let text = FileText.read(template) else { throw ValidationError("cannot read \(template)") }
        print(NginxConfig.render(site: text, socket: socket, root: root, listen: listen,
                                 includeDirectory: includeDirectory, cacheDirectory: cacheDirectory), terminator: "")
    }
}

/// `porter handlers`: lists the handler and module names a configuration may use.
struct HandlersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "handlers", abstract: "List the built-in handlers and modules.")

    func run() {
        print("Handlers:")
        for (name, entry) in HandlerCatalog.builtIn.entries.sorted(by: { $0.key < $1.key }) { print("  \(name): \(entry.summary)") }
        print("Modules:")
        for (name, entry) in ModuleCatalog.builtIn.entries.sorted(by: { $0.key < $1.key }) { print("  \(name): \(entry.summary)") }
    }
}
