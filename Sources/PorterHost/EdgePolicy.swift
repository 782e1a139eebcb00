public import Porter

/// What nginx should do in front of one route; `porter nginx-config` renders it into the route's `location`.
///
/// A catalogue entry derives it from the handler's options (`HandlerCatalog.register(_:summary:edge:build:)`);
/// code routes pass it to `map(…, edge:)`. Porter enforces the same limits itself: this is defence in depth
/// and keeps the work at the edge (a 413 from nginx costs Porter nothing).
public struct EdgePolicy: Sendable, Equatable {
    /// Serve the file from disk when the request has no query string; only requests with parameters reach
    /// Porter, through the named cached location (image originals vs resized variants).
    public var staticUnlessQuery: String?
    /// The largest request body nginx accepts (`client_max_body_size`); `nil` leaves the site's default. `0` (no body)
    /// is written as `1`, because nginx reads `client_max_body_size 0` as "no limit".
    public var maxBodyBytes: Int?
    /// Only clients on this machine (`allow 127.0.0.1; allow ::1; deny all;`).
    public var localOnly = false
    /// A `limit_req` zone name (declared in the site file) and burst for this location.
    public var rateLimit: RateLimit?
    /// Stream the response to the client as Porter writes it (`fastcgi_buffering off`).
    public var streaming = false
    /// Let nginx cache this route's 200 responses for this many seconds (`fastcgi_cache porter_pages`, declared in the
    /// site file), revalidating stale entries with `If-None-Match`/`If-Modified-Since`; a response's own
    /// `Cache-Control: max-age`, `private`, `no-store`, `Set-Cookie` or `Vary` is honoured by nginx. Requests carrying a
    /// `Cookie` or `Authorization` header bypass the cache. `nil`: no nginx cache.
    public var cacheSeconds: Int?
    /// The cached response varies only on whether the client takes gzip (a feed, `Vary: Accept-Encoding`): nginx reduces
    /// `Accept-Encoding` to `gzip` or nothing (`$porter_accept_gzip`, mapped in the site file), keys the cache on that,
    /// passes Porter only that, and does not make a cache variant per raw header value (the response's `Vary` still
    /// reaches clients). Without it every spelling of the header was a MISS and a new cache file. Used with
    /// ``cacheSeconds``.
    public var cacheKeyedOnGzip = false
    /// The route's answer is decided by the normalised path alone (a feed: not by the query, the path's spelling or
    /// the Host, since its links come from `site_url`): the cache key is the server block and nginx's decoded,
    /// normalised `$uri`, which is the path Porter receives, so `?x=<random>`, `/a/../news.rss`, `//news.rss`,
    /// `/%6Eews.rss` and any `Host` are the same entry, not a MISS and a new cache file each. Used with
    /// ``cacheSeconds``; a module's policy merged in does not change it.
    public var cacheKeyedOnPath = false
    /// Extra nginx snippets this location includes after `porter-fastcgi.conf` (e.g. one that sets a trusted identity).
    public var includes: [String] = []
    /// The response size nginx should read from Porter in one piece (`fastcgi_buffer_size`, with `fastcgi_buffers` and
    /// `fastcgi_busy_buffers_size` to match), for routes whose bodies are tens of KiB (a feed): with nginx's default
    /// 4 KiB buffers a 17 KB feed takes five reads and buffer hand-offs (measured in `bench/feeds.sh`: nginx's CPU per
    /// feed request 57 → 49 µs with 32 KiB). `nil` leaves nginx's default (right for small responses).
    public var responseBufferBytes: Int?
    /// The internal location (e.g. `/_porter/files/`) this route's handler sends files from (`response.sendFile`);
    /// `nginx-config` declares it next to the route, serving `$porter_files` (set in the site file).
    public var sendFileLocation: String?

    /// No special treatment.
    public init(staticUnlessQuery: String? = nil, maxBodyBytes: Int? = nil, localOnly: Bool = false, rateLimit: RateLimit? = nil,
                streaming: Bool = false, includes: [String] = [], cacheSeconds: Int? = nil, cacheKeyedOnGzip: Bool = false,
                cacheKeyedOnPath: Bool = false, responseBufferBytes: Int? = nil) {
        self.cacheSeconds = cacheSeconds
        self.cacheKeyedOnGzip = cacheKeyedOnGzip
        self.cacheKeyedOnPath = cacheKeyedOnPath
        self.responseBufferBytes = responseBufferBytes
        self.staticUnlessQuery = staticUnlessQuery
        self.maxBodyBytes = maxBodyBytes
        self.localOnly = localOnly
        self.rateLimit = rateLimit
        self.streaming = streaming
        self.includes = includes
    }

    /// Adds `other`'s demands (a module's, for instance) to this policy: its includes are appended (once each),
    /// the stricter body limit and local-only win, and this policy's own rate limit and static rule are kept.
    public mutating func merge(_ other: EdgePolicy) {
        staticUnlessQuery = staticUnlessQuery ?? other.staticUnlessQuery
        if let limit = other.maxBodyBytes { maxBodyBytes = min(maxBodyBytes ?? limit, limit) }
        localOnly = localOnly || other.localOnly
        rateLimit = rateLimit ?? other.rateLimit
        streaming = streaming || other.streaming
        if let seconds = other.cacheSeconds { cacheSeconds = min(cacheSeconds ?? seconds, seconds) }
        cacheKeyedOnGzip = cacheKeyedOnGzip || other.cacheKeyedOnGzip
        if let bytes = other.responseBufferBytes { responseBufferBytes = max(responseBufferBytes ?? bytes, bytes) }
        for include in other.includes where !includes.contains(include) { includes.append(include) }
        sendFileLocation = sendFileLocation ?? other.sendFileLocation
    }

    /// A `limit_req` use: the zone (declared in the site file with `limit_req_zone`) and how many requests may queue.
    public struct RateLimit: Sendable, Equatable {
        /// The zone's name.
        public var zone: String
        /// Requests allowed above the rate before nginx answers 429 (`burst=`, with `nodelay`).
        public var burst: Int
        /// A rate-limit use.
        public init(zone: String, burst: Int) {
            self.zone = zone
            self.burst = burst
        }
    }

    /// The nginx zone ``cacheSeconds`` uses (`fastcgi_cache_path … keys_zone=porter_pages:…` in `nginx/porter.conf`).
    public static let cacheZone = "porter_pages"

    /// A short-lived shared cache in front of Porter. The method is in the key (a HEAD's empty body never answers a
    /// GET); nginx answers conditional requests from the cached validators and revalidates with Porter's. One request
    /// fills an empty entry (the lock); the others arriving meanwhile go to Porter uncached instead of waiting
    /// (`fastcgi_cache_lock_timeout 0`): nginx's lock waiters poll every 500 ms, which made every cold start's
    /// concurrent requests take half a second (`bench/feeds.sh`, first round: p99 ≈ 450 ms with a plain lock).
    static func cacheDirectives(seconds: Int, keyedOnGzip: Bool = false, keyedOnPath: Bool = false) -> [String] {
        let gzip = keyedOnGzip ? ["fastcgi_param HTTP_ACCEPT_ENCODING $porter_accept_gzip;", "fastcgi_ignore_headers Vary;"] : []
        let resource = keyedOnPath ? "$server_name|$uri" : "$host|$request_uri"
        return gzip + [
            "fastcgi_cache \(cacheZone);",
            "fastcgi_cache_key \"$request_method|$scheme|\(resource)\(keyedOnGzip ? "|$porter_accept_gzip" : "")\";",
            "fastcgi_cache_valid 200 \(seconds)s;",
            "fastcgi_cache_revalidate on;",
            "fastcgi_cache_lock on;",
            "fastcgi_cache_lock_timeout 0;",
            "fastcgi_cache_bypass $http_authorization $http_cookie;",
            "fastcgi_no_cache $http_authorization $http_cookie;",
            "add_header X-Cache-Status $upstream_cache_status always;",
        ]
    }

    /// nginx's response buffers sized for `bytes` (rounded up to whole KiB, at least 8): the first buffer holds the
    /// head and the body up to `bytes`; four buffers of half that take what is longer; up to `bytes` may be busy
    /// sending to the client (nginx requires busy ≥ one buffer and < all buffers but one).
    static func bufferDirectives(bytes: Int) -> [String] {
        let whole = (bytes + 1023) / 1024
        let kib = max(8, whole + whole % 2) // even, so half of it is whole KiB too
        return [
            "fastcgi_buffer_size \(kib)k;",
            "fastcgi_buffers 4 \(kib / 2)k;",
            "fastcgi_busy_buffers_size \(kib)k;",
        ]
    }

    /// The directives inside the route's `location` block, before or after the FastCGI include.
    func directives() -> (before: [String], after: [String]) {
        var before: [String] = []
        if localOnly { before += ["allow 127.0.0.1;", "allow ::1;", "deny all;"] }
        if let maxBodyBytes { before.append("client_max_body_size \(ByteSize.nginx(max(1, maxBodyBytes)));") }
        if let rateLimit { before.append("limit_req zone=\(rateLimit.zone) burst=\(rateLimit.burst) nodelay;") }
        var after: [String] = []
        if streaming { after.append("fastcgi_buffering off;") }
        if let responseBufferBytes { after += EdgePolicy.bufferDirectives(bytes: responseBufferBytes) }
        if let cacheSeconds, cacheSeconds > 0 { after += EdgePolicy.cacheDirectives(seconds: cacheSeconds, keyedOnGzip: cacheKeyedOnGzip,
                                                                                             keyedOnPath: cacheKeyedOnPath) }
        for include in includes { after.append("include \(include);") }
        return (before, after)
    }
}
