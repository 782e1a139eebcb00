public import ArgumentParser

/// The `porter` command: serve, talk to a server, print nginx rules, manage feeds.
public struct PorterCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "porter",
        abstract: "ASP.NET-style HTTP handlers and modules for Swift, served over FastCGI behind nginx.",
        subcommands: [ServeCommand.self, RequestCommand.self, NginxConfigCommand.self, NginxSiteCommand.self,
                      HandlersCommand.self] + extraSubcommands,
        defaultSubcommand: ServeCommand.self
    )

    /// Parses the command line.
    public init() {}
}
