import ArgumentParser

/// Subcommands contributed by feature areas (feeds, …).
let extraSubcommands: [any ParsableCommand.Type] = []
