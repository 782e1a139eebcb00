public import ArgumentParser

/// A feature plugs named handlers, modules and subcommands into a Porter application (`app.add(FeedsFeature())`).
///
/// Handlers and modules are registered by name so `porter.toml` can use them; their builders receive a
/// `BuildContext` to find services by type and to hand long-running services to the host.
public protocol PorterFeature: Sendable {
    /// The feature's name in `porter handlers` (e.g. `feeds`).
    var name: String { get }
    /// Registers the feature's handler and module names.
    func register(_ catalog: inout Catalog)
    /// Subcommands the feature adds to the command line (e.g. `porter feed`); none by default.
    var commands: [any ParsableCommand.Type] { get }
}

extension PorterFeature {
    public var commands: [any ParsableCommand.Type] { [] }
}
