import Foundation
import GRDB
import Porter

extension FeedStore {
    /// The channel's `updated_at` (every item insert, update or delete moves it forward), or nil if unknown.
    public func stamp(of slug: String) throws -> Int64? {
        try read { db in try Int64.fetchOne(db, sql: "SELECT updated_at FROM channel WHERE slug = ?", arguments: [slug]) }
    }
}

/// Rendered feeds kept between requests, by request path: while the store's ``FeedStore/generation()`` is unchanged
/// a request (200 or 304) costs a dictionary lookup under a read lock (readers never wait for each other) and no
/// SQLite query.
///
/// An entry is tagged with the generation read *before* its snapshot was loaded, so a write that lands while it
/// is rendered makes it stale at once.
final class FeedRenderCache: Sendable {
    /// A class, so a hit costs one retain rather than one per field.
    final class Entry: Sendable {
        let generation: UInt64
        /// The rendered feed as is.
        let identity: Representation
        /// The same bytes gzip-compressed once here, for clients whose `Accept-Encoding` takes gzip (nil if it saved nothing).
        let gzip: Representation?
        let contentType: String

        /// A rendering of `body` (compressed once for gzip clients), last modified at the channel's `stamp`.
        init(generation: UInt64, body: [UInt8], lastModified: Int64, contentType: String) {
            self.generation = generation
            identity = Representation(body: body, lastModified: lastModified)
            gzip = Gzip.compress(body).map { Representation(body: $0, lastModified: lastModified) }
            self.contentType = contentType
        }
    }

    /// One encoding of a feed: its bytes, and their own ETag (RFC 9110: each representation has its own) with the
    /// channel's stamp as Last-Modified, header text included.
    final class Representation: Sendable {
        let body: [UInt8]
        let validators: Validators

        init(body: [UInt8], lastModified: Int64) {
            self.body = body
            validators = Validators(etag: EntityTag(hashing: body), lastModified: lastModified)
        }
    }

    private let entries = ReadWriteLock<[String: Entry]>([:])
    private let maxEntries = 256

    /// The cached rendering for `key` if it was made at `generation`.
    func lookup(_ key: String, generation: UInt64) -> Entry? {
        entries.read { $0[key] }.flatMap { $0.generation == generation ? $0 : nil }
    }

    /// How many renderings are kept.
    var count: Int { entries.read { $0.count } }

    /// Keeps a rendering.
    func store(_ key: String, _ entry: Entry) {
        entries.write {
            if $0.count >= maxEntries, $0[key] == nil { $0.removeAll(keepingCapacity: true) }
            $0[key] = entry
        }
    }
}
