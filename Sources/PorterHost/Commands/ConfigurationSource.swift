public import ArgumentParser
import Porter
import Glibc

/// Where a command's configuration comes from: `--config FILE`, `--demo`, `$PORTER_CONFIG`, `./porter.toml`,
/// or the application's code alone. With none of these, commands refuse rather than guess.
public struct ConfigurationSource: ParsableArguments {
    @Option(name: .shortAndLong, help: "Configuration file (default: $PORTER_CONFIG, else ./porter.toml if present).")
    var config: String?

    @Flag(help: "Run the program's built-in demo (sample data and freshly generated keys in --demo-directory).")
    var demo = false

    @Option(help: "Where the demo keeps its data and keys.")
    var demoDirectory: String = "porter-demo"

    /// No choice made yet (ArgumentParser fills the options in).
    public init() {}

    /// The configuration of the running application (for features' subcommands, e.g. `porter image-url`).
    public func resolve() throws -> ServerConfiguration { try resolve(PorterApplication.current) }

    /// The file to read, if any (explicit, from the environment, or ./porter.toml).
    var configPath: String? {
        if let config { return config }
        if let env = getenv("PORTER_CONFIG"), env.pointee != 0 { return String(cString: env) }
        return access("porter.toml", R_OK) == 0 ? "porter.toml" : nil
    }

    /// The configuration for `app`.
    func resolve(_ app: PorterApplication) throws -> ServerConfiguration {
        if demo {
            guard let provider = app.demo else { throw ConfigurationError("\(app.name) has no built-in demo") }
            return try provider.prepare(demoDirectory)
        }
        if let path = configPath { return try ServerConfiguration.load(path: path, over: app.configuration) }
        if app.hasCodeRoutes || !app.configuration.handlers.isEmpty { return app.configuration }
        var message = "no configuration: give --config FILE (or set PORTER_CONFIG, or put a porter.toml in this directory)"
        if app.demo != nil { message += "; to try the demo run `\(app.name) serve --demo` (or `deploy/dev.sh demo` in a checkout)" }
        throw ConfigurationError(message)
    }
}
