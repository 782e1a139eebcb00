import Porter
import ArgumentParser
import PorterHost
import Foundation
import PorterFeeds

/// `porter feed …`: create, seed and edit the feeds database the built-in RSS/Atom handler serves.
public struct FeedCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "feed",
        abstract: "Manage the feeds database (SQLite) behind the RSS/Atom handler.",
        subcommands: [FeedInitCommand.self, FeedSeedCommand.self, FeedAddChannelCommand.self, FeedAddCommand.self,
                      FeedListCommand.self]
    )

    /// Parses the command line.
    public init() {}
}

/// The `--database` option every `porter feed` subcommand takes.
struct FeedDatabaseOption: ParsableArguments {
    @Option(name: [.customShort("d"), .long], help: "The SQLite file (created if missing).")
    var database: String = "data/feeds.sqlite"

    func open() throws -> FeedStore {
        do {
            return try FeedStore(path: database)
        } catch {
            throw FeedCommandError("cannot open feeds database \(database): \(error)")
        }
    }
}

/// `porter feed init [--seed]`: creates the database file and applies the schema.
struct FeedInitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init", abstract: "Create the database and apply the schema (idempotent).")

    @OptionGroup var options: FeedDatabaseOption
    @Flag(help: "Also add the demo channels and items.") var seed = false

    func run() throws {
        let store = try options.open()
        print("database ready: \(store.path)")
        if seed { try FeedSeedCommand.seed(store) }
    }
}

/// `porter feed seed`: adds the demo channels `news` and `podcast` with sample items.
struct FeedSeedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed", abstract: "Add the demo channels (news, podcast) and their sample items, once.")

    @OptionGroup var options: FeedDatabaseOption

    func run() throws { try FeedSeedCommand.seed(try options.open()) }

    static func seed(_ store: FeedStore) throws {
        if try store.seedSampleData() {
            print("seeded \(store.path): channels news, podcast (try /news.rss, /news.atom, /podcast.rss)")
        } else {
            print("\(store.path) already has the demo data; nothing added")
        }
    }
}

/// `porter feed add-channel SLUG --title …`: adds a channel.
struct FeedAddChannelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add-channel", abstract: "Add a channel.")

    @OptionGroup var options: FeedDatabaseOption
    @Argument(help: "The channel slug, served as /SLUG.rss and /SLUG.atom (letters, digits, - and _).") var slug: String
    @Option(help: "The channel title.") var title: String
    @Option(help: "The site link (absolute, or relative to the handler's site_url).") var link: String = "/"
    @Option(help: "A plain-text description.") var description: String = ""
    @Option(help: "A language tag, e.g. en.") var language: String?

    func validate() throws {
        guard FeedChannel.isValidSlug(slug) else { throw ValidationError("invalid slug \"\(slug)\": use letters, digits, - and _") }
    }

    func run() throws {
        let store = try options.open()
        try store.addChannel(FeedChannel(slug: slug, title: title, link: link, description: description, language: language))
        print("added channel \(slug)")
    }
}

/// `porter feed add CHANNEL --title …`: adds an item to a channel.
struct FeedAddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add an item to a channel.")

    @OptionGroup var options: FeedDatabaseOption
    @Argument(help: "The channel slug.") var channel: String
    @Option(help: "The item title (plain text).") var title: String
    @Option(help: "The item's page: an http(s) URL, or a path relative to site_url (characters outside RFC 3986 are percent-encoded).") var link: String?
    @Option(help: "The body as an HTML fragment.") var description: String = ""
    @Option(help: "A unique id; default: the link when absolute, else a urn:uuid.") var guid: String?
    @Option(help: "Whether the guid is the item's permanent URL (true/false).") var permalink: Bool?
    @Option(help: "A category.") var category: String?
    @Option(help: "Enclosure URL (with --enclosure-length and --enclosure-type).") var enclosureURL: String?
    @Option(help: "Enclosure size in bytes.") var enclosureLength: Int64?
    @Option(help: "Enclosure media type, e.g. audio/mpeg.") var enclosureType: String?
    @Option(help: "Publication time: RFC 3339 (2025-01-31T12:00:00Z), an HTTP-date, or Unix seconds; default now.")
    var published: String?

    func validate() throws {
        let enclosure = [enclosureURL != nil, enclosureLength != nil, enclosureType != nil]
        if enclosure.contains(true) && enclosure.contains(false) {
            throw ValidationError("--enclosure-url, --enclosure-length and --enclosure-type go together")
        }
        if let enclosureLength, enclosureLength < 0 { throw ValidationError("--enclosure-length must not be negative") }
        if let published, FeedAddCommand.parseDate(published) == nil {
            throw ValidationError("--published \"\(published)\" is not RFC 3339, an HTTP-date or Unix seconds")
        }
    }

    func run() throws {
        let store = try options.open()
        var enclosure: FeedEnclosure?
        if let enclosureURL, let enclosureLength, let enclosureType {
            enclosure = FeedEnclosure(url: enclosureURL, length: enclosureLength, type: enclosureType)
        }
        let date = published.flatMap(FeedAddCommand.parseDate) ?? Date()
        let item = FeedItem(title: title, link: link, description: description, guid: guid, guidIsPermaLink: permalink,
                            category: category, enclosure: enclosure, publishedAt: date)
        let stored = try store.addItem(item, to: channel)
        print("added item \(stored.id ?? 0) to \(channel): guid \(stored.guid)" + (stored.link.map { ", link \($0)" } ?? ""))
    }

    /// RFC 3339 (`Z` or offset), HTTP-date, or Unix seconds.
    static func parseDate(_ text: String) -> Date? {
        if let seconds = Int64(text) { return Date(timeIntervalSince1970: TimeInterval(seconds)) }
        if let seconds = HTTPDate.parse(text) { return Date(timeIntervalSince1970: TimeInterval(seconds)) }
        return try? Date(text, strategy: .iso8601)
    }
}

/// `porter feed list [CHANNEL]`: lists channels, or a channel's newest items.
struct FeedListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List channels, or the newest items of one channel.")

    @OptionGroup var options: FeedDatabaseOption
    @Argument(help: "A channel slug; without it, all channels are listed.") var channel: String?
    @Option(help: "How many items to show.") var limit: Int = 20

    func run() throws {
        let store = try options.open()
        guard let channel else {
            let channels = try store.channels()
            if channels.isEmpty { print("no channels (try `porter feed seed`)") }
            for summary in channels {
                let c = summary.channel
                print("\(c.slug)\t\(summary.itemCount) items\tupdated \(HTTPDate.rfc3339(Int64(c.updatedAt.timeIntervalSince1970)))\t\(c.title)")
            }
            return
        }
        guard let snapshot = try store.snapshot(of: channel, limit: max(1, limit)) else {
            throw FeedStoreError.noSuchChannel(channel)
        }
        print("\(snapshot.channel.slug): \(snapshot.channel.title)")
        for item in snapshot.items {
            let date = HTTPDate.rfc3339(Int64(item.publishedAt.timeIntervalSince1970))
            print("\(item.id ?? 0)\t\(date)\t\(item.guid)\t\(item.title.debugDescription)")
        }
    }
}

/// A `porter feed` failure that is not a usage mistake (printed without the usage text, exit status 1).
struct FeedCommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
