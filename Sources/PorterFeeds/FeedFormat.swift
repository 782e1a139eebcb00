import Porter
/// The syndication format a feed is rendered in.
public enum FeedFormat: String, Sendable, CaseIterable {
    /// RSS 2.0.
    case rss
    /// Atom 1.0 (RFC 4287).
    case atom

    /// The `Content-Type` of the format, with its charset.
    public var contentType: String {
        switch self {
        case .rss: "application/rss+xml; charset=utf-8"
        case .atom: "application/atom+xml; charset=utf-8"
        }
    }

    /// The format for a path extension: `atom` → Atom, anything else → RSS.
    public init(pathExtension: String?) {
        self = pathExtension?.lowercased() == "atom" ? .atom : .rss
    }
}

/// Everything a feed document needs besides the data: where it lives.
public struct FeedRenderContext: Sendable {
    /// The site's base URL (scheme and host, optionally a path), used for relative links.
    public var siteURL: String
    /// The absolute URL of the document itself (RSS `atom:link rel="self"`, Atom `link rel="self"`).
    public var selfURL: String

    /// A render context.
    public init(siteURL: String, selfURL: String) {
        self.siteURL = siteURL
        self.selfURL = selfURL
    }
}

/// Renders a snapshot as an RSS 2.0 or Atom 1.0 document (UTF-8 bytes).
public enum FeedRenderer {
    /// The document for `snapshot` in `format`.
    public static func render(_ snapshot: FeedSnapshot, as format: FeedFormat, context: FeedRenderContext) -> [UInt8] {
        switch format {
        case .rss: rss(snapshot, context: context)
        case .atom: atom(snapshot, context: context)
        }
    }

    /// RSS 2.0 with an `atom:link rel="self"`, RFC 822 dates and entity-escaped HTML descriptions.
    public static func rss(_ snapshot: FeedSnapshot, context: FeedRenderContext) -> [UInt8] {
        let channel = snapshot.channel
        var x = XMLWriter(capacity: 1024 + snapshot.items.count * 1024)
        x.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
        x.raw("<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\">\n<channel>\n")
        x.element("title", channel.title)
        x.raw("\n")
        x.element("link", FeedRenderer.channelLink(channel, context: context))
        x.raw("\n")
        x.element("description", channel.description)
        x.raw("\n")
        if let language = channel.language, !language.isEmpty {
            x.element("language", language)
            x.raw("\n")
        }
        x.element("lastBuildDate", HTTPDate.rfc1123(channel.updatedAt.unixSeconds))
        x.raw("\n<generator>Porter</generator>\n<docs>https://www.rssboard.org/rss-specification</docs>\n")
        x.raw("<atom:link")
        x.attribute("href", context.selfURL)
        x.raw(" rel=\"self\" type=\"application/rss+xml\"/>\n")
        for item in snapshot.items {
            x.raw("<item>\n")
            if !item.title.isEmpty || item.description.isEmpty {
                x.element("title", item.title)
                x.raw("\n")
            }
            if let link = item.link.flatMap({ FeedLink.published($0, siteURL: context.siteURL) }) {
                x.element("link", link)
                x.raw("\n")
            }
            if !item.description.isEmpty {
                x.element("description", item.description)
                x.raw("\n")
            }
            if let category = item.category, !category.isEmpty {
                x.element("category", category)
                x.raw("\n")
            }
            if let enclosure = item.enclosure, let url = FeedLink.published(enclosure.url, siteURL: context.siteURL) {
                x.raw("<enclosure")
                x.attribute("url", url)
                x.attribute("length", String(enclosure.length))
                x.attribute("type", enclosure.type)
                x.raw("/>\n")
            }
            let permalink = item.guidIsPermaLink && FeedURL.hasScheme(item.guid) && FeedLink.normalize(item.guid) == item.guid
            x.raw(permalink ? "<guid isPermaLink=\"true\">" : "<guid isPermaLink=\"false\">")
            x.text(item.guid)
            x.raw("</guid>\n")
            x.element("pubDate", HTTPDate.rfc1123(item.publishedAt.unixSeconds))
            x.raw("\n</item>\n")
        }
        x.raw("</channel>\n</rss>\n")
        return x.bytes
    }

    /// Atom 1.0: text titles, HTML content, RFC 3339 dates, a feed-level author, self and alternate links.
    public static func atom(_ snapshot: FeedSnapshot, context: FeedRenderContext) -> [UInt8] {
        let channel = snapshot.channel
        var x = XMLWriter(capacity: 1024 + snapshot.items.count * 1024)
        x.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\"")
        if let language = channel.language, !language.isEmpty { x.attribute("xml:lang", language) }
        x.raw(">\n")
        x.element("id", atomFeedID(channel, context: context))
        x.raw("\n<title type=\"text\">")
        x.text(channel.title)
        x.raw("</title>\n")
        if !channel.description.isEmpty {
            x.raw("<subtitle type=\"text\">")
            x.text(channel.description)
            x.raw("</subtitle>\n")
        }
        x.element("updated", HTTPDate.rfc3339(channel.updatedAt.unixSeconds))
        x.raw("\n<link rel=\"alternate\" type=\"text/html\"")
        x.attribute("href", FeedRenderer.channelLink(channel, context: context))
        x.raw("/>\n<link rel=\"self\" type=\"application/atom+xml\"")
        x.attribute("href", context.selfURL)
        x.raw("/>\n<author><name>")
        x.text(channel.title.isEmpty ? channel.slug : channel.title)
        x.raw("</name></author>\n<generator>Porter</generator>\n")
        for item in snapshot.items {
            x.raw("<entry>\n")
            x.element("id", atomEntryID(item, channel: channel))
            x.raw("\n<title type=\"text\">")
            x.text(item.title)
            x.raw("</title>\n")
            if let link = item.link.flatMap({ FeedLink.published($0, siteURL: context.siteURL) }) {
                x.raw("<link rel=\"alternate\" type=\"text/html\"")
                x.attribute("href", link)
                x.raw("/>\n")
            }
            x.element("published", HTTPDate.rfc3339(item.publishedAt.unixSeconds))
            x.raw("\n")
            x.element("updated", HTTPDate.rfc3339(max(item.updatedAt, item.publishedAt).unixSeconds))
            x.raw("\n")
            if let category = item.category, !category.isEmpty {
                x.raw("<category")
                x.attribute("term", category)
                x.raw("/>\n")
            }
            if let enclosure = item.enclosure, let url = FeedLink.published(enclosure.url, siteURL: context.siteURL) {
                x.raw("<link rel=\"enclosure\"")
                x.attribute("href", url)
                x.attribute("type", enclosure.type)
                x.attribute("length", String(enclosure.length))
                x.raw("/>\n")
            }
            x.raw("<content type=\"html\">")
            x.text(item.description)
            x.raw("</content>\n</entry>\n")
        }
        x.raw("</feed>\n")
        return x.bytes
    }

    /// The channel's site link, absolute and valid; the site's root when the stored link is empty or invalid.
    static func channelLink(_ channel: FeedChannel, context: FeedRenderContext) -> String {
        FeedLink.published(channel.link, siteURL: context.siteURL) ?? FeedURL.resolve("/", against: context.siteURL)
    }

    /// The Atom feed id: the canonical `<site_url>/<slug>.atom`, independent of the path it was requested at.
    public static func atomFeedID(_ channel: FeedChannel, context: FeedRenderContext) -> String {
        FeedURL.resolve("/\(channel.slug).atom", against: context.siteURL)
    }

    /// The Atom entry id: the guid when it is a URI in RFC 3986 characters, else `urn:porter:<slug>:<percent-encoded guid>`.
    public static func atomEntryID(_ item: FeedItem, channel: FeedChannel) -> String {
        let isURI = FeedURL.hasScheme(item.guid) && item.guid.utf8.allSatisfy {
            FeedLink.isAllowedOutsideHost($0) || $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "]")
        }
        return isURI ? item.guid : "urn:porter:\(channel.slug):" + PercentEncoding.encodePath(item.guid).replacingSlashes()
    }
}

extension String {
    func replacingSlashes() -> String { split(separator: "/", omittingEmptySubsequences: false).joined(separator: "%2F") }
}
