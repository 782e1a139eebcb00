import Foundation
import Porter
import PorterFeeds
import PorterHost
import PorterTesting
import Testing

/// Issue 10, item 6: feed links are valid URLs whatever was typed or stored.
@Suite("Edge: feed links through real nginx", .enabled(if: NginxHarness.isAvailable, "nginx is not installed"), .serialized)
struct FeedEdgeTests {
    @Test("porter feed add --link 'http://example.com/a\"b<c>' is stored and served percent-encoded; javascript: is refused; bad stored rows are repaired or left out")
    func feedLinks() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-links")
        let database = dir.path("feeds.sqlite")
        let store = try FeedStore(path: database)
        _ = try store.seedSampleData()
        let added = try await runPorter(["feed", "add", "news", "--database", database, "--title", "Quoted", "--link", #"http://example.com/a"b<c> d"#],
                                        in: dir, name: "feed-add")
        #expect(added.status == 0, "\(added.output)")
        #expect(added.output.contains("link http://example.com/a%22b%3Cc%3E%20d"))
        let refused = try await runPorter(["feed", "add", "news", "--database", database, "--title", "Script", "--link", "javascript:alert(1)"],
                                          in: dir, name: "feed-add-js")
        #expect(refused.status != 0 && refused.output.contains("invalid link"), "\(refused.output)")
        // Rows written before validation existed (or by hand): published valid, or not at all.
        try store.execute(sql: """
            INSERT INTO item (channel_id, guid, title, link, description, published_at, updated_at)
            SELECT id, 'legacy-1', 'Legacy', 'http://example.com/x"y<z>', '', 2000000000, 2000000000 FROM channel WHERE slug = 'news';
            INSERT INTO item (channel_id, guid, title, link, description, published_at, updated_at)
            SELECT id, 'legacy-2', 'Legacy script', 'javascript:alert(2)', '', 2000000001, 2000000001 FROM channel WHERE slug = 'news';
            """)
        let (porter, site) = try await FeatureNginxTests.start("""
        [[handlers]]
        verb = "GET,HEAD"
        path = "*.rss"
        handler = "feed"
        database = "feeds.sqlite"
        [[handlers]]
        verb = "GET,HEAD"
        path = "*.atom"
        handler = "feed"
        database = "feeds.sqlite"
        """, in: dir)
        for path in ["/news.rss", "/news.atom"] {
            let feed = try await site.client().fetch(path)
            #expect(feed.status == 200)
            #expect(feed.text.contains("http://example.com/a%22b%3Cc%3E%20d"), "\(path): the typed link, encoded")
            #expect(feed.text.contains("http://example.com/x%22y%3Cz%3E"), "\(path): the stored bad link, encoded")
            #expect(!feed.text.contains("javascript:"), "\(path): no script link")
            #expect(!feed.text.contains("example.com/a&quot;") && !feed.text.contains("example.com/x&quot;"), "\(path): no quote left in a URL")
        }
        try await stopProcess(porter, site)
    }
}
