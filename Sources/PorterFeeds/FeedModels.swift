import Foundation

/// A feed channel: one RSS `<channel>` / Atom `<feed>`, addressed by its slug (`/news.rss` → `news`).
public struct FeedChannel: Sendable, Equatable {
    /// The URL name: letters, digits, `-` and `_`.
    public var slug: String
    /// The channel title (plain text).
    public var title: String
    /// The site the channel belongs to; relative links are resolved against the handler's `site_url`.
    public var link: String
    /// A plain-text description.
    public var description: String
    /// An optional language tag such as `en-gb`.
    public var language: String?
    /// When the channel or any of its items last changed (kept up to date by the database's triggers).
    public var updatedAt: Date

    /// A channel; `updatedAt` is set by the store when the channel is added.
    public init(slug: String, title: String, link: String = "", description: String = "", language: String? = nil,
                updatedAt: Date = Date(timeIntervalSince1970: 0)) {
        self.slug = slug
        self.title = title
        self.link = link
        self.description = description
        self.language = language
        self.updatedAt = updatedAt
    }

    /// Whether `slug` is a valid channel slug (1–100 of `A-Z a-z 0-9 - _`).
    public static func isValidSlug(_ slug: some StringProtocol) -> Bool {
        !slug.isEmpty && slug.utf8.count <= 100 && slug.utf8.allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95
        }
    }
}

/// A media file attached to an item (RSS `<enclosure>`, Atom `<link rel="enclosure">`).
public struct FeedEnclosure: Sendable, Equatable {
    /// The file's URL (relative URLs are resolved against `site_url`).
    public var url: String
    /// Its size in bytes.
    public var length: Int64
    /// Its media type, e.g. `audio/mpeg`.
    public var type: String

    /// An enclosure.
    public init(url: String, length: Int64, type: String) {
        self.url = url
        self.length = length
        self.type = type
    }
}

/// One entry of a channel.
public struct FeedItem: Sendable, Equatable {
    /// The database row id (`nil` before the item is stored).
    public var id: Int64?
    /// The item's unique id within its channel (RSS `<guid>`, Atom `<id>`).
    public var guid: String
    /// Whether `guid` is the item's permanent URL (RSS `isPermaLink`).
    public var guidIsPermaLink: Bool
    /// The title (plain text).
    public var title: String
    /// The item's web page, if any.
    public var link: String?
    /// The body as an HTML fragment (escaped into RSS `<description>` / Atom `<content type="html">`).
    public var description: String
    /// An optional category.
    public var category: String?
    /// An optional media attachment.
    public var enclosure: FeedEnclosure?
    /// Publication time (whole seconds).
    public var publishedAt: Date
    /// Last change of the item (whole seconds); Atom's entry `<updated>`.
    public var updatedAt: Date

    /// An item. Without a `guid`, an absolute `link` becomes a permalink guid, else a `urn:uuid:` is generated.
    public init(title: String, link: String? = nil, description: String = "", guid: String? = nil,
                guidIsPermaLink: Bool? = nil, category: String? = nil, enclosure: FeedEnclosure? = nil,
                publishedAt: Date = Date(), updatedAt: Date? = nil, id: Int64? = nil) {
        self.id = id
        self.title = title
        self.link = link
        self.description = description
        self.category = category
        self.enclosure = enclosure
        self.publishedAt = publishedAt
        self.updatedAt = updatedAt ?? publishedAt
        if let guid {
            self.guid = guid
            self.guidIsPermaLink = guidIsPermaLink ?? false
        } else if let link, FeedURL.hasScheme(link) {
            self.guid = link
            self.guidIsPermaLink = guidIsPermaLink ?? true
        } else {
            self.guid = "urn:uuid:\(UUID().uuidString.lowercased())"
            self.guidIsPermaLink = false
        }
    }
}

/// A channel and its newest items, read in one transaction: what one feed response is rendered from.
public struct FeedSnapshot: Sendable, Equatable {
    /// The channel.
    public var channel: FeedChannel
    /// Its newest items, newest first.
    public var items: [FeedItem]

    /// A snapshot.
    public init(channel: FeedChannel, items: [FeedItem]) {
        self.channel = channel
        self.items = items
    }
}

/// A channel with its item count, for listings.
public struct FeedChannelSummary: Sendable, Equatable {
    /// The channel.
    public var channel: FeedChannel
    /// How many items it has.
    public var itemCount: Int
}

extension Date {
    /// Whole seconds since 1970, rounded down.
    var unixSeconds: Int64 { Int64(timeIntervalSince1970.rounded(.down)) }
    /// The date of `seconds` since 1970.
    init(unixSeconds: Int64) { self.init(timeIntervalSince1970: TimeInterval(unixSeconds)) }
}
