import Foundation
import GRDB
import Porter
import Synchronization

extension FeedStore {
    /// The channel's `updated_at` (every item insert, update or delete moves it forward), or nil if unknown.
    public func stamp(of slug: String) throws -> Int64? {
        try pool.read { db in try Int64.fetchOne(db, sql: "SELECT updated_at FROM channel WHERE slug = ?", arguments: [slug]) }
    }
}

/// Rendered feeds kept between requests: a request costs one single-row query while the channel is
/// unchanged, instead of loading 50 items, rendering and hashing them.
///
/// An entry is reused only while the channel's `updated_at` (whole seconds) still equals the stamp it was
/// rendered from, and only if it was rendered in a later second than that stamp: a change made in the same
/// second as the render would otherwise leave the stamp unchanged.
final class FeedRenderCache: Sendable {
    struct Entry: Sendable {
        let stamp: Int64
        let body: [UInt8]
        let etag: EntityTag
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let maxEntries = 256

    /// The cached rendering for `key` if it is still valid for `stamp`.
    func lookup(_ key: String, stamp: Int64) -> Entry? {
        entries.withLock { $0[key] }.flatMap { $0.stamp == stamp ? $0 : nil }
    }

    /// Keeps a rendering made now from data stamped `stamp` (ignored when made in the same second).
    func store(_ key: String, _ entry: Entry, renderedAt now: Int64) {
        guard now > entry.stamp else { return }
        entries.withLock {
            if $0.count >= maxEntries { $0.removeAll(keepingCapacity: true) }
            $0[key] = entry
        }
    }
}
