import ArgumentParser

extension PorterApplication {
    /// The application whose command line is running (commands read it; set by `main()`).
    @TaskLocal static var current = PorterApplication(name: "porter")

    /// Runs the command line (`serve` by default; `check`, `request`, `nginx-config`, `nginx-site`, `handlers`,
    /// and the features' subcommands) and exits with its status.
    public func main() async {
        await PorterApplication.$current.withValue(self) {
            await PorterCommand.main()
        }
    }

    /// Runs the command line with explicit arguments (without the program name); errors are thrown, not printed.
    public func run(arguments: [String]) async throws {
        try await PorterApplication.$current.withValue(self) {
            var command = try PorterCommand.parseAsRoot(arguments)
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
        }
    }
}

/// The root command: its name and subcommands come from the running `PorterApplication`.
struct PorterCommand: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        let app = PorterApplication.current
        return CommandConfiguration(
            commandName: app.name,
            abstract: "ASP.NET-style HTTP handlers and modules for Swift, served over FastCGI behind nginx.",
            version: app.version,
            subcommands: [ServeCommand.self, CheckCommand.self, RequestCommand.self, NginxConfigCommand.self, NginxSiteCommand.self,
                          HandlersCommand.self] + app.featureCommands,
            defaultSubcommand: ServeCommand.self
        )
    }
}
