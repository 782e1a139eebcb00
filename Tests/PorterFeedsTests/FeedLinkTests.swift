import Foundation
import Testing
@testable import PorterFeeds

/// Links are http(s) URLs or site-relative references in RFC 3986 characters, at insert and when rendered (issue 10, item 6).
@Suite struct FeedLinkTests {
    @Test(arguments: [
        ("http://example.com/a\"b<c>", "http://example.com/a%22b%3Cc%3E"),
        ("https://example.com/a b?q=x y#f", "https://example.com/a%20b?q=x%20y#f"),
        ("HTTP://Example.com/ok", "http://Example.com/ok"),
        ("/news/é.html", "/news/%C3%A9.html"),
        ("/100%/x", "/100%25/x"),
        ("/a%20b", "/a%20b"),
        ("/x{y}|z\\^`", "/x%7By%7D%7Cz%5C%5E%60"),
        ("/p[1]", "/p%5B1%5D"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("//cdn.example.com/a b", "//cdn.example.com/a%20b"),
        ("relative/page.html", "relative/page.html"),
    ])
    func normalizes(_ input: String, _ expected: String) {
        #expect(FeedLink.normalize(input) == expected)
    }

    @Test(arguments: ["javascript:alert(1)", "data:text/html,x", "mailto:a@b", "http:/nohost", "http://", "http://exa mple.com/",
                      "http://a\"b/", "https://x.com/\n", "/a\u{7F}", "", "ftp://example.com/f", "http://[::1/x"])
    func refuses(_ input: String) {
        #expect(FeedLink.normalize(input) == nil, "\(input.debugDescription)")
    }

    @Test func published() {
        #expect(FeedLink.published("/a b", siteURL: "https://example.org") == "https://example.org/a%20b")
        #expect(FeedLink.published("javascript:alert(1)", siteURL: "https://example.org") == nil)
        #expect(FeedLink.published("http://x.test/\"", siteURL: "https://example.org") == "http://x.test/%22")
    }

    @Test func theStoreNormalizesAtInsertAndRefusesWhatCannotBeALink() throws {
        let feeds = try TempFeeds()
        let stored = try feeds.store.addItem(FeedItem(title: "q", link: "http://example.com/a\"b<c>"), to: "news")
        #expect(stored.link == "http://example.com/a%22b%3Cc%3E")
        #expect(stored.guid == "http://example.com/a%22b%3Cc%3E" && stored.guidIsPermaLink, "the permalink guid follows the link")
        let enclosure = FeedEnclosure(url: "/media/a b.mp3", length: 1, type: "audio/mpeg")
        #expect(try feeds.store.addItem(FeedItem(title: "e", enclosure: enclosure), to: "news").enclosure?.url == "/media/a%20b.mp3")
        #expect(throws: FeedStoreError.invalidLink("javascript:alert(1)")) {
            try feeds.store.addItem(FeedItem(title: "x", link: "javascript:alert(1)"), to: "news")
        }
        #expect(throws: FeedStoreError.invalidLink("data:x")) {
            try feeds.store.addItem(FeedItem(title: "x", enclosure: FeedEnclosure(url: "data:x", length: 1, type: "a/b")), to: "news")
        }
        #expect(throws: FeedStoreError.invalidLink("javascript:x")) {
            try feeds.store.addChannel(FeedChannel(slug: "bad", title: "Bad", link: "javascript:x"))
        }
        #expect(try feeds.store.addChannel(FeedChannel(slug: "ok", title: "OK", link: "https://ok.test/a b")).link == "https://ok.test/a%20b")
    }

    @Test func renderingRepairsOrDropsBadStoredLinks() async throws {
        let feeds = try TempFeeds()
        try feeds.store.execute(sql: """
            INSERT INTO item (channel_id, guid, guid_is_permalink, title, link, description, enclosure_url, enclosure_length, enclosure_type,
                              published_at, updated_at)
            SELECT id, 'http://example.com/g"1', 1, 'Bad', 'http://example.com/x"y<z>', '', 'javascript:e()', 1, 'a/b', 2000000000, 2000000000
            FROM channel WHERE slug = 'news';
            UPDATE channel SET link = 'javascript:c()' WHERE slug = 'news';
            """)
        let pipeline = try feedPipeline(feeds.store)
        for path in ["/news.rss", "/news.atom"] {
            let text = await run(pipeline, .get, path).text
            #expect(text.contains("http://example.com/x%22y%3Cz%3E"), "\(path)")
            #expect(!text.contains("javascript:"), "\(path)")
            #expect(!text.contains("example.com/x&quot;") && !text.contains("example.com/x\"y"), "\(path)")
        }
        let rss = await run(pipeline, .get, "/news.rss").text
        #expect(rss.contains("<link>http://example.test/</link>"), "an invalid channel link falls back to the site")
        #expect(rss.contains("<guid isPermaLink=\"false\">http://example.com/g\"1</guid>"), "an invalid URL is no permalink")
        let atom = await run(pipeline, .get, "/news.atom").text
        #expect(atom.contains("<id>urn:porter:news:http:%2F%2Fexample.com%2Fg%221</id>"), "an invalid URI is no Atom id")
    }
}
