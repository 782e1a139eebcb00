import ArgumentParser

/// Subcommands contributed by feature areas.
let extraSubcommands: [any ParsableCommand.Type] = [FeedCommand.self, UsersCommand.self, SampleImagesCommand.self]
