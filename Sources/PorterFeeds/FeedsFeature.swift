public import PorterHost
public import ArgumentParser
import Porter

/// RSS 2.0 and Atom feeds from an SQLite feed store: the `feed` handler and the `feed` subcommand.
public struct FeedsFeature: PorterFeature {
    /// The feature.
    public init() {}

    public var name: String { "feeds" }

    public func register(_ catalog: inout Catalog) {
        catalog.handlers.register("feed", summary: "RSS 2.0 (*.rss) / Atom (*.atom) from the SQLite feed store (options: database, limit, cache_control, site_url, format, edge_cache)",
                                  edge: { options in EdgePolicy(cacheSeconds: try FeedHandler.edgeCacheSeconds(options), cacheKeyedOnGzip: true, cacheKeyedOnPath: true,
                                                                responseBufferBytes: FeedHandler.edgeResponseBufferBytes) }) { options, context in
            .instance(.sync(try FeedHandler(options: options, route: context.route)))
        }
    }

    public var commands: [any ParsableCommand.Type] { [FeedCommand.self] }
}
