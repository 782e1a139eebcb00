public import Porter
import Foundation

/// The built-in feed handler: serves a channel of the feeds database as RSS 2.0 or Atom 1.0.
///
/// The channel is the last path segment without its extension (`/news.rss` and `/feeds/news.rss` → `news`);
/// an unknown channel is a 404. The format comes from the extension (`.atom` → Atom, else RSS) unless fixed.
/// Each feed has one URL: given the route it is mapped at (`route`, set from `porter.toml`), a request for a channel
/// by another spelling (another directory, the extension in capitals) is redirected (301) to the route's own spelling
/// (`*.rss` → `/news.rss`, `/feeds/*.atom` → `/feeds/news.atom`). Otherwise every alias was a rendering of its own
/// (its self link differs): an SQLite snapshot, the XML and a gzip copy per request, and an nginx cache entry each.
/// Responses carry a strong `ETag` (a hash of the exact body), `Last-Modified` (the channel's last change)
/// and the configured `Cache-Control`; `If-None-Match` / `If-Modified-Since` give `304` with no body. A client whose
/// `Accept-Encoding` takes gzip gets the rendering compressed once per change (`Content-Encoding: gzip`, its own
/// `ETag`); every response says `Vary: Accept-Encoding`.
/// Reusable and thread-safe: one instance serves every worker thread.
public struct FeedHandler: HTTPHandler {
    /// The database.
    public let store: FeedStore
    /// A fixed format, or `nil` to choose by path extension.
    public let format: FeedFormat?
    /// How many of the newest items a document contains.
    public let limit: Int
    /// The `Cache-Control` value sent with 200 and 304 responses, if any.
    public let cacheControl: String?
    /// The site's base URL for absolute links (`http://127.0.0.1:8080`).
    public let siteURL: String
    /// How long nginx may keep a copy (`edge_cache`): sent as `X-Accel-Expires`, which nginx obeys before the
    /// response's `Cache-Control` (written for browsers: `max-age=60` would otherwise hold the edge copy for a minute)
    /// and never passes on to clients.
    public let edgeCacheSeconds: Int?
    private let edgeExpires: String?
    /// The route this handler is mapped at, which decides each channel's one URL (`nil`: any path naming a channel
    /// is served as asked).
    public let route: PathPattern?
    /// Renderings reused while the channel is unchanged.
    let cache = FeedRenderCache()

    /// The default `site_url`.
    public static let defaultSiteURL = "http://127.0.0.1:8080"
    /// The default `database`.
    public static let defaultDatabasePath = "data/feeds.sqlite"
    /// The default `limit`.
    public static let defaultLimit = 50
    /// The largest accepted `limit`.
    public static let maximumLimit = 1000

    /// A handler over `store`.
    public init(store: FeedStore, format: FeedFormat? = nil, limit: Int = FeedHandler.defaultLimit,
                cacheControl: String? = nil, siteURL: String = FeedHandler.defaultSiteURL, edgeCacheSeconds: Int? = nil,
                route: PathPattern? = nil) {
        self.store = store
        self.route = route
        self.edgeCacheSeconds = edgeCacheSeconds
        edgeExpires = edgeCacheSeconds.map(String.init)
        self.format = format
        self.limit = min(max(limit, 1), FeedHandler.maximumLimit)
        self.cacheControl = cacheControl
        self.siteURL = siteURL.hasSuffix("/") ? String(siteURL.dropLast()) : siteURL
    }

    /// A handler from configuration: `database` (default `data/feeds.sqlite`, opened once per path and shared),
    /// `limit` (1…1000, default 50), `cache_control`, `site_url` (http(s) URL, default `http://127.0.0.1:8080`),
    /// `format` (`auto` by extension, `rss` or `atom`), `edge_cache` (seconds nginx may cache the feed, 0…3600, default 0);
    /// `route` is the path pattern it is mapped at.
    public init(options: Options, route: PathPattern? = nil) throws {
        let edgeCacheSeconds = try FeedHandler.edgeCacheSeconds(options)
        let path = try options.string("database", default: FeedHandler.defaultDatabasePath)
        let limit = try options.int("limit", default: FeedHandler.defaultLimit)
        guard (1...FeedHandler.maximumLimit).contains(limit) else {
            throw ConfigurationError("\(options.origin): limit must be between 1 and \(FeedHandler.maximumLimit), got \(limit)")
        }
        let siteURL = try options.string("site_url", default: FeedHandler.defaultSiteURL)
        guard siteURL.hasPrefix("http://") || siteURL.hasPrefix("https://"), siteURL.count > 8 else {
            throw ConfigurationError("\(options.origin): site_url must be an http:// or https:// URL, got \"\(siteURL)\"")
        }
        let formatName = try options.string("format", default: "auto").lowercased()
        let format: FeedFormat?
        switch formatName {
        case "auto": format = nil
        case "rss": format = .rss
        case "atom": format = .atom
        default: throw ConfigurationError("\(options.origin): format must be auto, rss or atom, got \"\(formatName)\"")
        }
        let cacheControl = try options.string("cache_control")
        if let cacheControl, cacheControl.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw ConfigurationError("\(options.origin): cache_control must be one line without control characters")
        }
        let store: FeedStore
        do {
            store = try FeedStore.shared(path: path)
        } catch {
            throw ConfigurationError("\(options.origin): cannot open feeds database \"\(path)\": \(error)")
        }
        self.init(store: store, format: format, limit: limit, cacheControl: cacheControl?.isEmpty == true ? nil : cacheControl,
                  siteURL: siteURL, edgeCacheSeconds: edgeCacheSeconds, route: route)
    }

    /// The largest accepted `edge_cache`.
    public static let maximumEdgeCacheSeconds = 3600

    /// The response size nginx reads from Porter in one piece for a feed route: a 50-item feed is about 17 KB.
    public static let edgeResponseBufferBytes = 32 * 1024

    /// The `edge_cache` option: how many seconds nginx may serve a cached copy (`nil` for 0, no nginx cache).
    public static func edgeCacheSeconds(_ options: Options) throws -> Int? {
        let seconds = try options.int("edge_cache", default: 0)
        guard (0...maximumEdgeCacheSeconds).contains(seconds) else {
            throw ConfigurationError("\(options.origin): edge_cache must be between 0 and \(maximumEdgeCacheSeconds) seconds, got \(seconds)")
        }
        return seconds == 0 ? nil : seconds
    }

    /// The channel slug a path names: its last segment without the extension, if that is a valid slug.
    public static func channelSlug(forPath path: String) -> String? {
        let segment = path.split(separator: "/", omittingEmptySubsequences: false).last ?? ""
        let name = segment.lastIndex(of: ".").map { segment[..<$0] } ?? segment
        return FeedChannel.isValidSlug(name) ? String(name) : nil
    }

    /// The one path `route` gives the channel `slug` asked for with `pathExtension`: the route's directory (`/` for
    /// `*.ext` and `*`), the slug, and the route's extension (else the asked one when it is ASCII letters and digits,
    /// lower-cased). `nil` for an exact route (its path is the only one) or no route.
    public static func canonicalPath(slug: String, pathExtension: String?, route: PathPattern?) -> String? {
        let requested = pathExtension.flatMap { ext in
            !ext.isEmpty && ext.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7A) }) ? ext : nil
        }
        switch route?.kind {
        case .fileExtension(let ext)?: return "/" + slug + "." + ext
        case .directoryExtension(let directory, let ext)?: return directory + slug + "." + ext
        case .directory(let directory)?: return directory + slug + (requested.map { "." + $0 } ?? "")
        case .any?: return "/" + slug + (requested.map { "." + $0 } ?? "")
        case .exact?, nil: return nil
        }
    }

    public func processRequest(_ context: HTTPContext) throws {
        let request = context.request
        guard request.method == .get || request.method == .head else {
            throw HTTPError(.methodNotAllowed, headers: ["Allow": "GET, HEAD"])
        }
        // The path decides channel, format and self link, so it is the cache key. The generation is read before
        // the snapshot: a write committed meanwhile leaves this entry stale, never the reverse.
        let generation = store.generation()
        let entry: FeedRenderCache.Entry
        if let cached = cache.lookup(request.path, generation: generation) {
            entry = cached
        } else {
            guard let slug = FeedHandler.channelSlug(forPath: request.path) else {
                throw HTTPError(.notFound, message: "No such feed")
            }
            // Only the channel's one URL is rendered and cached; any other spelling is sent there (no query: the feed
            // does not read it). A hit never gets here, so the served path pays nothing for this.
            if let canonical = FeedHandler.canonicalPath(slug: slug, pathExtension: request.pathExtension, route: route), canonical != request.path {
                context.response.redirect(to: canonical, status: .movedPermanently)
                return
            }
            let format = self.format ?? FeedFormat(pathExtension: request.pathExtension)
            let selfURL = siteURL + PercentEncoding.encodePath(request.path)
            guard let snapshot = try store.snapshot(of: slug, limit: limit) else {
                throw HTTPError(.notFound, message: "No such feed")
            }
            let body = FeedRenderer.render(snapshot, as: format, context: FeedRenderContext(siteURL: siteURL, selfURL: selfURL))
            entry = .init(generation: generation, body: body, lastModified: snapshot.channel.updatedAt.unixSeconds,
                          contentType: format.contentType)
            cache.store(request.path, entry)
        }

        // Module headers and cookies set earlier in the pipeline stay: only this handler's own fields are set.
        if let cacheControl { context.response.headers["Cache-Control"] = cacheControl }
        // nginx's copy lives `edge_cache` seconds whatever max-age browsers get (on 200 and on the 304 that revalidates
        // it); never for a response its Cache-Control keeps out of shared caches (X-Accel-Expires would override that).
        if let edgeExpires, !CacheControl.forbidsSharedCaching(context.response.headers["Cache-Control"]) {
            context.response.headers["X-Accel-Expires"] = edgeExpires
        }
        // gzip for clients that take it (feed readers do: a sixth of the bytes through nginx and the network), the
        // rendering as is for the others; caches keep one of each (Vary), and each has its own ETag.
        let gzip = entry.gzip.flatMap { Gzip.isAccepted(by: request.headers["Accept-Encoding"]) ? $0 : nil }
        let representation = gzip ?? entry.identity
        context.response.headers["Vary"] = "Accept-Encoding"
        if context.respondNotModifiedIfCurrent(representation.validators) { return }
        context.response.status = .ok
        context.response.contentType = entry.contentType
        if gzip != nil { context.response.headers["Content-Encoding"] = "gzip" }
        context.response.body = .buffer(representation.body)
    }
}
