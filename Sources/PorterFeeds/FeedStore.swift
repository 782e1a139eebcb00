import Foundation
import GRDB
import PorterHost
import Synchronization

/// The feeds database: an SQLite file of channels and items (GRDB, WAL mode), safe to share between threads.
///
/// Opening a store creates the file (and its directory) if needed and applies the migrations. Text columns
/// are read back as raw bytes and decoded leniently, so invalid UTF-8 stored in the file (as TEXT or BLOB)
/// becomes U+FFFD instead of failing the request.
public final class FeedStore: Sendable {
    /// The database file.
    public let path: String
    let pool: DatabasePool
    /// How long a change committed by another process (the `porter feed` command, `sqlite3`) may go unseen by
    /// ``generation()``: at most once per interval one caller reads `PRAGMA data_version`.
    public let externalChangeInterval: Duration
    /// Bumped after every write through this store and when another connection's commit is detected.
    private let generationCounter = Atomic<UInt64>(0)
    /// Monotonic nanoseconds of the next external-change check; a caller that claims it runs the check.
    private let nextExternalCheck = Atomic<Int64>(0)
    /// The writer connection's last `PRAGMA data_version` (it changes only on other connections' commits).
    private let lastDataVersion = Mutex<Int64?>(nil)
    /// SQLite statements run for reading (including data-version checks), for tests that prove a path needs none.
    private let readCounter = Atomic<Int>(0)

    /// The default ``externalChangeInterval``.
    public static let defaultExternalChangeInterval: Duration = .seconds(1)

    /// Opens (creating and migrating if needed) the database at `path`.
    public init(path: String, externalChangeInterval: Duration = FeedStore.defaultExternalChangeInterval) throws {
        self.path = path
        self.externalChangeInterval = externalChangeInterval
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        var config = Configuration()
        config.label = "PorterFeeds"
        config.busyMode = .timeout(5)
        config.maximumReaderCount = 8
        config.foreignKeysEnabled = true
        try FileSystem.makeParentDirectory(of: path)
        pool = try DatabasePool(path: path, configuration: config)
        try FeedStore.migrator.migrate(pool)
        _ = try checkExternalChanges()
    }

    // MARK: - Change tracking

    /// How many read statements this store has run (tests use it to prove a cached path runs none).
    public var readCount: Int { readCounter.load(ordering: .relaxed) }

    /// A number that changes whenever the data may have changed: at once for writes through this store, and within
    /// ``externalChangeInterval`` for commits by other processes or connections. Costs no query except, at most once
    /// per interval, one `PRAGMA data_version` by a single caller (the others keep the current value meanwhile).
    public func generation() -> UInt64 {
        let now = FeedStore.monotonicNanoseconds()
        let due = nextExternalCheck.load(ordering: .relaxed)
        if now >= due, nextExternalCheck.compareExchange(expected: due, desired: now + FeedStore.nanoseconds(externalChangeInterval),
                                                         ordering: .relaxed).exchanged {
            _ = try? checkExternalChanges()
        }
        return generationCounter.load(ordering: .acquiring)
    }

    /// Reads the writer connection's `PRAGMA data_version` and bumps the generation if another connection committed.
    @discardableResult
    func checkExternalChanges() throws -> Bool {
        readCounter.add(1, ordering: .relaxed)
        let version = try pool.writeWithoutTransaction { db in try Int64.fetchOne(db, sql: "PRAGMA data_version") } ?? 0
        let changed = lastDataVersion.withLock { last in
            defer { last = version }
            return last != nil && last != version
        }
        if changed { noteChange() }
        return changed
    }

    /// Marks the data as changed (called after every committed write through this store).
    func noteChange() {
        generationCounter.add(1, ordering: .releasing)
    }

    /// A write transaction followed by a generation bump (also when it throws: a partial effect must not be cached).
    func write<T>(_ updates: (Database) throws -> T) throws -> T {
        defer { noteChange() }
        return try pool.write(updates)
    }

    /// A read, counted in ``readCount``.
    func read<T>(_ value: (Database) throws -> T) throws -> T {
        readCounter.add(1, ordering: .relaxed)
        return try pool.read(value)
    }

    static func monotonicNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    private static let shared = Mutex<[String: FeedStore]>([:])

    /// One store per database path for the whole process (handlers for `*.rss` and `*.atom` share it).
    public static func shared(path: String) throws -> FeedStore {
        let key = URL(fileURLWithPath: path).standardizedFileURL.path
        return try shared.withLock { stores in
            if let store = stores[key] { return store }
            let store = try FeedStore(path: path)
            stores[key] = store
            return store
        }
    }

    /// The schema, as GRDB migrations (applied in order, each once).
    public static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: channels and items") { db in
            try db.execute(sql: """
                CREATE TABLE channel (
                    id INTEGER PRIMARY KEY,
                    slug TEXT NOT NULL UNIQUE,
                    title TEXT NOT NULL,
                    link TEXT NOT NULL DEFAULT '',
                    description TEXT NOT NULL DEFAULT '',
                    language TEXT,
                    updated_at INTEGER NOT NULL
                );
                CREATE TABLE item (
                    id INTEGER PRIMARY KEY,
                    channel_id INTEGER NOT NULL REFERENCES channel(id) ON DELETE CASCADE,
                    guid TEXT NOT NULL,
                    guid_is_permalink INTEGER NOT NULL DEFAULT 0,
                    title TEXT NOT NULL DEFAULT '',
                    link TEXT,
                    description TEXT NOT NULL DEFAULT '',
                    category TEXT,
                    enclosure_url TEXT,
                    enclosure_length INTEGER,
                    enclosure_type TEXT,
                    published_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    UNIQUE (channel_id, guid)
                );
                CREATE INDEX item_newest ON item(channel_id, published_at DESC, id DESC);
                -- Any change to a channel's items (also made outside Porter, e.g. with sqlite3) moves its
                -- updated_at forward, which drives lastBuildDate, Last-Modified and so the ETag.
                CREATE TRIGGER item_inserted AFTER INSERT ON item BEGIN
                    UPDATE channel SET updated_at = max(updated_at, CAST(strftime('%s', 'now') AS INTEGER))
                    WHERE id = NEW.channel_id;
                END;
                CREATE TRIGGER item_updated AFTER UPDATE ON item BEGIN
                    UPDATE channel SET updated_at = max(updated_at, CAST(strftime('%s', 'now') AS INTEGER))
                    WHERE id IN (OLD.channel_id, NEW.channel_id);
                END;
                CREATE TRIGGER item_deleted AFTER DELETE ON item BEGIN
                    UPDATE channel SET updated_at = max(updated_at, CAST(strftime('%s', 'now') AS INTEGER))
                    WHERE id = OLD.channel_id;
                END;
                """)
        }
        return migrator
    }

    // MARK: - Writing

    /// Adds a channel; its `updatedAt` becomes now. Throws `FeedStoreError.channelExists` for a taken slug.
    @discardableResult
    public func addChannel(_ channel: FeedChannel) throws -> FeedChannel {
        guard FeedChannel.isValidSlug(channel.slug) else { throw FeedStoreError.invalidSlug(channel.slug) }
        var stored = channel
        if !channel.link.isEmpty {
            guard let link = FeedLink.normalize(channel.link) else { throw FeedStoreError.invalidLink(channel.link) }
            stored.link = link
        }
        stored.updatedAt = Date(unixSeconds: Date().unixSeconds)
        try write { [stored] db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM channel WHERE slug = ?", arguments: [stored.slug]) != nil {
                throw FeedStoreError.channelExists(stored.slug)
            }
            try db.execute(sql: """
                INSERT INTO channel (slug, title, link, description, language, updated_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [stored.slug, stored.title, stored.link, stored.description, stored.language,
                                 stored.updatedAt.unixSeconds])
        }
        return stored
    }

    /// Adds `item` to the channel `slug` and returns it with its row id.
    /// Throws `FeedStoreError.noSuchChannel` or `.duplicateGUID`.
    @discardableResult
    public func addItem(_ item: FeedItem, to slug: String) throws -> FeedItem {
        let item = try FeedStore.normalizingLinks(item)
        return try write { db in
            guard let channelID = try Int64.fetchOne(db, sql: "SELECT id FROM channel WHERE slug = ?", arguments: [slug]) else {
                throw FeedStoreError.noSuchChannel(slug)
            }
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM item WHERE channel_id = ? AND guid = ?",
                                 arguments: [channelID, item.guid]) != nil {
                throw FeedStoreError.duplicateGUID(item.guid)
            }
            try db.execute(sql: """
                INSERT INTO item (channel_id, guid, guid_is_permalink, title, link, description, category,
                                  enclosure_url, enclosure_length, enclosure_type, published_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [channelID, item.guid, item.guidIsPermaLink, item.title, item.link, item.description,
                                 item.category, item.enclosure?.url, item.enclosure?.length, item.enclosure?.type,
                                 item.publishedAt.unixSeconds, item.updatedAt.unixSeconds])
            var stored = item
            stored.id = db.lastInsertedRowID
            stored.publishedAt = Date(unixSeconds: item.publishedAt.unixSeconds)
            stored.updatedAt = Date(unixSeconds: item.updatedAt.unixSeconds)
            return stored
        }
    }

    /// `item` with its link and enclosure URL in RFC 3986 characters (a permalink guid made from the link follows it);
    /// throws `FeedStoreError.invalidLink` for a link that is not an http(s) URL or a site-relative reference.
    static func normalizingLinks(_ item: FeedItem) throws -> FeedItem {
        var out = item
        if let link = item.link, !link.isEmpty {
            guard let normalized = FeedLink.normalize(link) else { throw FeedStoreError.invalidLink(link) }
            out.link = normalized
            if item.guidIsPermaLink && item.guid == link { out.guid = normalized }
        }
        if let enclosure = item.enclosure {
            guard let url = FeedLink.normalize(enclosure.url) else { throw FeedStoreError.invalidLink(enclosure.url) }
            out.enclosure?.url = url
        }
        return out
    }

    /// Runs raw SQL in a write transaction (maintenance and tests; the feed code never builds SQL from input).
    public func execute(sql: String) throws {
        try write { db in try db.execute(sql: sql) }
    }

    // MARK: - Reading

    /// The channel `slug`, or `nil`.
    public func channel(slug: String) throws -> FeedChannel? {
        try read { db in try FeedStore.fetchChannel(db, slug: slug) }
    }

    /// Every channel with its item count, by slug.
    public func channels() throws -> [FeedChannelSummary] {
        try read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT \(FeedStore.channelColumns),
                       (SELECT count(*) FROM item WHERE item.channel_id = channel.id) AS item_count
                FROM channel ORDER BY slug
                """)
            return rows.map { FeedChannelSummary(channel: FeedStore.decodeChannel($0), itemCount: $0["item_count"]) }
        }
    }

    /// The newest `limit` items of channel `slug`, newest first (empty for an unknown channel).
    public func items(in slug: String, limit: Int) throws -> [FeedItem] {
        try snapshot(of: slug, limit: limit)?.items ?? []
    }

    /// The channel `slug` and its newest `limit` items, read in one transaction; `nil` for an unknown channel.
    public func snapshot(of slug: String, limit: Int) throws -> FeedSnapshot? {
        try read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT id, \(FeedStore.channelColumns) FROM channel WHERE slug = ?",
                                             arguments: [slug]) else { return nil }
            let channelID: Int64 = row["id"]
            let items = try Row.fetchAll(db, sql: """
                SELECT id, CAST(guid AS BLOB) AS guid, guid_is_permalink, CAST(title AS BLOB) AS title,
                       CAST(link AS BLOB) AS link, CAST(description AS BLOB) AS description,
                       CAST(category AS BLOB) AS category, CAST(enclosure_url AS BLOB) AS enclosure_url,
                       enclosure_length, CAST(enclosure_type AS BLOB) AS enclosure_type, published_at, updated_at
                FROM item WHERE channel_id = ? ORDER BY published_at DESC, id DESC LIMIT ?
                """, arguments: [channelID, max(0, limit)]).map(FeedStore.decodeItem)
            return FeedSnapshot(channel: FeedStore.decodeChannel(row), items: items)
        }
    }

    static let channelColumns = """
        CAST(slug AS BLOB) AS slug, CAST(title AS BLOB) AS title, CAST(link AS BLOB) AS link,
        CAST(description AS BLOB) AS description, CAST(language AS BLOB) AS language, updated_at
        """

    static func fetchChannel(_ db: Database, slug: String) throws -> FeedChannel? {
        try Row.fetchOne(db, sql: "SELECT \(channelColumns) FROM channel WHERE slug = ?", arguments: [slug])
            .map(decodeChannel)
    }

    static func decodeChannel(_ row: Row) -> FeedChannel {
        FeedChannel(slug: text(row, "slug") ?? "", title: text(row, "title") ?? "", link: text(row, "link") ?? "",
                    description: text(row, "description") ?? "", language: text(row, "language"),
                    updatedAt: Date(unixSeconds: integer(row, "updated_at") ?? 0))
    }

    static func decodeItem(_ row: Row) -> FeedItem {
        var enclosure: FeedEnclosure?
        if let url = text(row, "enclosure_url"), !url.isEmpty {
            enclosure = FeedEnclosure(url: url, length: max(0, integer(row, "enclosure_length") ?? 0),
                                      type: text(row, "enclosure_type") ?? "application/octet-stream")
        }
        return FeedItem(title: text(row, "title") ?? "", link: text(row, "link"),
                        description: text(row, "description") ?? "", guid: text(row, "guid") ?? "",
                        guidIsPermaLink: (integer(row, "guid_is_permalink") ?? 0) != 0,
                        category: text(row, "category"), enclosure: enclosure,
                        publishedAt: Date(unixSeconds: integer(row, "published_at") ?? 0),
                        updatedAt: Date(unixSeconds: integer(row, "updated_at") ?? 0), id: integer(row, "id"))
    }

    /// A column as text, whatever its storage class; invalid UTF-8 becomes U+FFFD, NULL becomes `nil`.
    static func text(_ row: Row, _ column: String) -> String? {
        let value: DatabaseValue = row[column]
        switch value.storage {
        case .null: return nil
        case .blob(let data): return String(decoding: data, as: UTF8.self)
        case .string(let s): return s
        case .int64(let i): return String(i)
        case .double(let d): return String(d)
        }
    }

    /// A column as an integer (text of digits is converted); `nil` for NULL or non-numbers.
    static func integer(_ row: Row, _ column: String) -> Int64? {
        let value: DatabaseValue = row[column]
        switch value.storage {
        case .int64(let i): return i
        case .double(let d): return d.isFinite ? Int64(exactly: d.rounded(.down)) : nil
        case .string(let s): return Int64(s)
        case .blob(let data): return Int64(String(decoding: data, as: UTF8.self))
        case .null: return nil
        }
    }
}

/// Why a store operation was refused.
public enum FeedStoreError: Error, Equatable, CustomStringConvertible {
    case channelExists(String)
    case noSuchChannel(String)
    case duplicateGUID(String)
    case invalidSlug(String)
    /// A link that is not an absolute http(s) URL or a site-relative reference (`javascript:`, no host, control characters).
    case invalidLink(String)

    public var description: String {
        switch self {
        case .channelExists(let s): "channel \"\(s)\" already exists"
        case .noSuchChannel(let s): "no channel \"\(s)\" (add it first with `porter feed add-channel`)"
        case .duplicateGUID(let g): "an item with guid \"\(g)\" already exists in this channel"
        case .invalidSlug(let s): "invalid channel slug \"\(s)\": use 1-100 letters, digits, '-' or '_'"
        case .invalidLink(let l): "invalid link \(l.debugDescription): use an http:// or https:// URL, or a path on the site such as /news/1.html"
        }
    }
}
