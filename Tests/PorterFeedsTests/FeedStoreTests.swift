import Foundation
import Testing
@testable import PorterFeeds

/// The SQLite store: migrations, writes, reads, triggers, sample data.
@Suite struct FeedStoreTests {
    @Test func reopeningMigratesOnceAndKeepsData() throws {
        let feeds = try TempFeeds()
        #expect(FileManager.default.fileExists(atPath: feeds.path))
        let again = try FeedStore(path: feeds.path)
        #expect(try again.channels().map(\.channel.slug) == ["news", "podcast"])
        #expect(try again.channels().map(\.itemCount) == [4, 2])
        #expect(try again.seedSampleData() == false, "seeding twice adds nothing")
        #expect(try again.channels().map(\.itemCount) == [4, 2])
    }

    @Test func refusals() throws {
        let feeds = try TempFeeds()
        #expect(throws: FeedStoreError.channelExists("news")) { try feeds.store.addChannel(FeedChannel(slug: "news", title: "x")) }
        #expect(throws: FeedStoreError.invalidSlug("a b")) { try feeds.store.addChannel(FeedChannel(slug: "a b", title: "x")) }
        #expect(throws: FeedStoreError.noSuchChannel("nope")) { try feeds.store.addItem(FeedItem(title: "x"), to: "nope") }
        #expect(throws: FeedStoreError.duplicateGUID("escaping-test-1")) {
            try feeds.store.addItem(FeedItem(title: "x", guid: "escaping-test-1"), to: "news")
        }
        // The same guid in another channel is fine.
        try feeds.store.addItem(FeedItem(title: "x", guid: "escaping-test-1"), to: "podcast")
    }

    @Test func itemsRoundTripThroughTheFile() throws {
        let feeds = try TempFeeds(seed: false)
        try feeds.store.addChannel(FeedChannel(slug: "c", title: "C", link: "https://c.example/", description: "d", language: "fr"))
        let published = Date(timeIntervalSince1970: 1_234_567_890.75)
        let stored = try feeds.store.addItem(FeedItem(
            title: "T", link: "https://c.example/t", description: "<p>D</p>", category: "cat",
            enclosure: FeedEnclosure(url: "/m.ogg", length: 42, type: "audio/ogg"), publishedAt: published), to: "c")
        #expect(stored.id != nil)
        #expect(stored.guid == "https://c.example/t" && stored.guidIsPermaLink, "an absolute link becomes the permalink guid")
        let reopened = try FeedStore(path: feeds.path)
        let items = try reopened.items(in: "c", limit: 10)
        #expect(items == [stored])
        #expect(items[0].publishedAt == Date(timeIntervalSince1970: 1_234_567_890))
        let channel = try #require(try reopened.channel(slug: "c"))
        #expect(channel.language == "fr" && channel.link == "https://c.example/" && channel.description == "d")
        #expect(try reopened.items(in: "unknown", limit: 10).isEmpty)
        #expect(try reopened.snapshot(of: "unknown", limit: 10) == nil)

        let relative = FeedItem(title: "R", link: "/r")
        #expect(relative.guid.hasPrefix("urn:uuid:") && !relative.guidIsPermaLink)
    }

    @Test func triggersMoveUpdatedAtForwardOnAnyItemChange() throws {
        let feeds = try TempFeeds(seed: false)
        try feeds.store.addChannel(FeedChannel(slug: "c", title: "C"))
        try feeds.store.execute(sql: "UPDATE channel SET updated_at = 1000")
        let before = Date().unixSeconds
        try feeds.store.addItem(FeedItem(title: "a", guid: "a"), to: "c")
        let after = Date().unixSeconds
        let afterInsert = try #require(try feeds.store.channel(slug: "c")).updatedAt.unixSeconds
        #expect(afterInsert >= before && afterInsert <= after, "the trigger stamps the time of the insert")
        for sql in ["UPDATE item SET title = 'b'", "DELETE FROM item"] {
            try feeds.store.execute(sql: "UPDATE channel SET updated_at = 1000")
            try feeds.store.execute(sql: sql)
            #expect(try #require(try feeds.store.channel(slug: "c")).updatedAt.unixSeconds > 1000, "\(sql)")
        }
    }

    @Test func sampleDataHasTheHostileItem() throws {
        let feeds = try TempFeeds()
        let items = try feeds.store.items(in: "news", limit: 50)
        #expect(items.count == 4)
        #expect(items.first?.title == FeedStore.sampleHostileTitle, "the hostile item is the newest")
        for needle in ["<script>", "]]>", "&amp;", "🚀", "\u{0001}"] {
            #expect(FeedStore.sampleHostileTitle.contains(needle))
        }
        let podcast = try feeds.store.items(in: "podcast", limit: 50)
        #expect(podcast.allSatisfy { $0.enclosure?.type == "audio/mpeg" })
    }
}
