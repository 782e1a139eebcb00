import Foundation
import Porter
import PorterTesting
import Testing
@testable import PorterFeeds

/// The in-memory feed cache: cached 200s and 304s run no SQLite statement, and every write is seen.
@Suite struct FeedCacheTests {
    /// After the first render, neither a 200, a HEAD nor a 304 (by ETag or date) reads the database.
    @Test func cachedAndNotModifiedPathsRunNoQuery() async throws {
        let feeds = try TempFeeds(externalChangeInterval: .seconds(3600))
        let pipeline = try feedPipeline(feeds.store)
        let first = await run(pipeline, .get, "/news.rss")
        #expect(first.status == 200)
        let etag = try #require(first.headers["ETag"])
        let lastModified = try #require(first.headers["Last-Modified"])
        _ = feeds.store.generation()  // the first external check after opening is due at once
        let reads = feeds.store.readCount
        for _ in 0..<20 {
            #expect(await run(pipeline, .get, "/news.rss", headers: ["If-None-Match": etag]).status == 304)
            #expect(await run(pipeline, .get, "/news.rss", headers: ["If-Modified-Since": lastModified]).status == 304)
            let again = await run(pipeline, .get, "/news.rss")
            #expect(again.status == 200 && again.body == first.body)
            #expect(await run(pipeline, .head, "/news.rss").headers["ETag"] == etag)
        }
        #expect(feeds.store.readCount == reads, "the cached paths ran \(feeds.store.readCount - reads) statements")
    }

    /// A write through the store is seen by the very next request, also within the second the feed was rendered in.
    @Test func aWriteIsSeenByTheNextRequestEvenInTheSameSecond() async throws {
        let feeds = try TempFeeds(externalChangeInterval: .seconds(3600))
        let pipeline = try feedPipeline(feeds.store)
        for i in 0..<5 {
            let before = await run(pipeline, .get, "/news.rss")
            try feeds.store.addItem(FeedItem(title: "Fresh \(i)", link: "/news/fresh-\(i).html", description: "x"), to: "news")
            let after = await run(pipeline, .get, "/news.rss", headers: ["If-None-Match": try #require(before.headers["ETag"])])
            #expect(after.status == 200)
            #expect(after.text.contains("<title>Fresh \(i)</title>"))
            try feeds.store.execute(sql: "UPDATE item SET title = 'Edited \(i)' WHERE title = 'Fresh \(i)'")
            #expect(await run(pipeline, .get, "/news.atom").text.contains("Edited \(i)"))
            #expect(await run(pipeline, .get, "/news.rss").text.contains("<title>Edited \(i)</title>"))
        }
    }

    /// A commit by another connection (another process: `porter feed add`, `sqlite3`) is seen within the store's
    /// declared interval, through `PRAGMA data_version`; deleting the channel makes the feed a 404.
    @Test func anotherConnectionsWriteIsSeenWithinTheInterval() async throws {
        let feeds = try TempFeeds(externalChangeInterval: .milliseconds(100))
        let pipeline = try feedPipeline(feeds.store)
        #expect(await run(pipeline, .get, "/news.rss").status == 200)
        let other = try FeedStore(path: feeds.path)
        try other.addItem(FeedItem(title: "From elsewhere", link: "/news/elsewhere.html", description: "x"), to: "news")
        try await waitUntil("the other connection's item in the feed") {
            await run(pipeline, .get, "/news.rss").text.contains("<title>From elsewhere</title>")
        }
        try other.execute(sql: "DELETE FROM channel WHERE slug = 'news'")
        try await waitUntil("the deleted channel answers 404") { await run(pipeline, .get, "/news.rss").status == 404 }
    }

    /// Unknown channels and hostile paths are 404s and do not evict the cached feed.
    @Test func unknownChannelsAre404AndKeepTheCache() async throws {
        let feeds = try TempFeeds(externalChangeInterval: .seconds(3600))
        let pipeline = try feedPipeline(feeds.store)
        let first = await run(pipeline, .get, "/news.rss")
        for path in ["/nope.rss", "/../news.rss.", "/%00.rss", "/a/b/c/.rss", "/" + String(repeating: "x", count: 300) + ".rss"] {
            #expect(await run(pipeline, .get, path).status == 404, "\(path)")
        }
        _ = feeds.store.generation()
        let reads = feeds.store.readCount
        #expect(await run(pipeline, .get, "/news.rss").body == first.body)
        #expect(feeds.store.readCount == reads)
    }
}
