import Foundation
import Porter
import Testing
@testable import PorterFeeds

/// Round trips through real parsers: Python feedparser (bozo == 0, every field) and xml.etree (well-formedness).
@Suite struct FeedParserTests {
    static let site = "http://example.test"

    /// The expected text of a field after an XML parser read it back: forbidden characters dropped.
    func expected(_ text: String) -> String { XMLWriter.sanitize(text) }

    func checkRSS(_ parsed: ParsedFeed, _ snapshot: FeedSnapshot, path: String) {
        #expect(parsed.bozo == 0, "bozo: \(parsed.bozo_exception ?? "")")
        #expect(parsed.version == "rss20")
        #expect(parsed.encoding?.lowercased() == "utf-8")
        let channel = snapshot.channel
        #expect(parsed.feed.title == expected(channel.title))
        #expect(parsed.feed.link == FeedURL.resolve(channel.link, against: Self.site))
        #expect(parsed.feed.subtitle == expected(channel.description))
        #expect(parsed.feed.updated == channel.updatedAt.unixSeconds)
        #expect(parsed.feed.language == channel.language)
        #expect(parsed.feed.links.contains { $0.rel == "self" && $0.href == Self.site + path })
        #expect(parsed.entries.count == snapshot.items.count)
        for (entry, item) in zip(parsed.entries, snapshot.items) {
            #expect(entry.title == expected(item.title))
            #expect(entry.link == item.link.map { FeedURL.resolve($0, against: Self.site) })
            #expect((entry.summary ?? "") == expected(item.description))
            #expect(entry.id == expected(item.guid))
            // feedparser reports guidislink only for a permalink guid with no <link> (isPermaLink itself: see etree test).
            #expect(entry.guidislink == (item.guidIsPermaLink && item.link == nil))
            #expect(entry.published == item.publishedAt.unixSeconds)
            #expect(entry.tags == (item.category.map { [expected($0)] } ?? []))
            checkEnclosure(entry, item)
        }
    }

    func checkAtom(_ parsed: ParsedFeed, _ snapshot: FeedSnapshot, path: String) {
        #expect(parsed.bozo == 0, "bozo: \(parsed.bozo_exception ?? "")")
        #expect(parsed.version == "atom10")
        let channel = snapshot.channel
        #expect(parsed.feed.title == expected(channel.title))
        #expect(parsed.feed.link == FeedURL.resolve(channel.link, against: Self.site))
        #expect(parsed.feed.subtitle == expected(channel.description))
        #expect(parsed.feed.updated == channel.updatedAt.unixSeconds)
        #expect(parsed.feed.id == "\(Self.site)/\(channel.slug).atom")
        #expect(parsed.feed.links.contains { $0.rel == "self" && $0.href == Self.site + path })
        #expect(parsed.entries.count == snapshot.items.count)
        for (entry, item) in zip(parsed.entries, snapshot.items) {
            #expect(entry.title == expected(item.title))
            if let link = item.link {
                #expect(entry.link == FeedURL.resolve(link, against: Self.site))
            } else {
                // Without an alternate link feedparser offers the entry id as the link.
                #expect(entry.link == nil || entry.link == entry.id)
            }
            #expect(entry.content == [expected(item.description)])
            #expect(entry.id == FeedRenderer.atomEntryID(item, channel: channel))
            #expect(entry.published == item.publishedAt.unixSeconds)
            #expect(entry.updated == max(item.updatedAt, item.publishedAt).unixSeconds)
            #expect(entry.tags == (item.category.map { [expected($0)] } ?? []))
            checkEnclosure(entry, item)
        }
    }

    func checkEnclosure(_ entry: ParsedFeed.Entry, _ item: FeedItem) {
        if let enclosure = item.enclosure {
            #expect(entry.enclosures.count == 1)
            #expect(entry.enclosures.first?.href == FeedURL.resolve(enclosure.url, against: Self.site))
            #expect(entry.enclosures.first?.length == String(enclosure.length))
            #expect(entry.enclosures.first?.type == enclosure.type)
        } else {
            #expect(entry.enclosures.isEmpty)
        }
    }

    @Test(.enabled("feedparser is not installed and pip could not install it") { await Python.hasFeedparser() },
          arguments: ["/news.rss", "/feeds/news.rss", "/podcast.rss", "/news.atom", "/feeds/podcast.atom"])
    func sampleFeedsRoundTripThroughFeedparser(path: String) async throws {
        let feeds = try TempFeeds()
        let outcome = await run(try feedPipeline(feeds.store, siteURL: Self.site), .get, path)
        #expect(outcome.status == 200)
        let slug = try #require(FeedHandler.channelSlug(forPath: path))
        let snapshot = try #require(try feeds.store.snapshot(of: slug, limit: 50))
        #expect(!snapshot.items.isEmpty)
        let parsed = try await ParsedFeed.parse(outcome.body, contentType: try #require(outcome.headers["Content-Type"]))
        if path.hasSuffix(".rss") {
            #expect(outcome.headers["Content-Type"] == "application/rss+xml; charset=utf-8")
            checkRSS(parsed, snapshot, path: path)
        } else {
            #expect(outcome.headers["Content-Type"] == "application/atom+xml; charset=utf-8")
            checkAtom(parsed, snapshot, path: path)
        }
    }

    @Test(.enabled("feedparser is not installed and pip could not install it") { await Python.hasFeedparser() },
          arguments: FeedFormat.allCases)
    func hostileTextSurvivesExactly(format: FeedFormat) async throws {
        let feeds = try TempFeeds()
        let outcome = await run(try feedPipeline(feeds.store, siteURL: Self.site), .get, "/news.\(format.rawValue)")
        let parsed = try await ParsedFeed.parse(outcome.body, contentType: format.contentType)
        #expect(parsed.bozo == 0, "bozo: \(parsed.bozo_exception ?? "")")
        let hostileTitle = "Escaping <script>alert('x')</script> ]]> &amp; \"quotes\" 🚀 done"
        let entry = try #require(parsed.entries.first { $0.title == hostileTitle })
        let description = "<p>Markup <b>survives</b> as text; <script>alert(1)</script> must not run.</p> ]]> &amp; é 🎉 end"
        #expect((format == .rss ? entry.summary : entry.content.first) == description)
        #expect(entry.tags == ["tests & <edge> cases"])
        // The raw document never contains the hostile markup unescaped, nor the control characters.
        let text = outcome.text
        #expect(!text.contains("<script>"))
        #expect(!text.contains("]]>"))
        #expect(!outcome.body.contains(0x01) && !outcome.body.contains(0x0B))
    }

    /// Rows written by other tools: invalid UTF-8 in TEXT and BLOB columns, NUL bytes, numbers in text columns.
    @Test(.enabled("feedparser is not installed and pip could not install it") { await Python.hasFeedparser() },
          arguments: FeedFormat.allCases)
    func invalidUTF8FromTheDatabaseIsRepaired(format: FeedFormat) async throws {
        let feeds = try TempFeeds(seed: false)
        try feeds.store.addChannel(FeedChannel(slug: "raw", title: "Raw", description: "raw bytes"))
        // 'Ab' 0xFF 'c' 0xC3 (truncated sequence) 'd' NUL 'e' 0x0E (control) 0xED 0xA0 0x80 (an encoded surrogate) 'f'
        try feeds.store.execute(sql: """
            INSERT INTO item (channel_id, guid, title, link, description, category, published_at, updated_at)
            VALUES ((SELECT id FROM channel WHERE slug = 'raw'), 'g1',
                    CAST(X'4162FF63C36400650EEDA08066' AS TEXT), 'http://example.test/a',
                    X'3C703E4FC3FF6B3C2F703E', 12345, 1700000000, 1700000000);
            INSERT INTO item (channel_id, guid, title, description, published_at, updated_at)
            VALUES ((SELECT id FROM channel WHERE slug = 'raw'), X'67FE32', X'54697472650042', '', 1600000000, 1600000000);
            """)
        let snapshot = try #require(try feeds.store.snapshot(of: "raw", limit: 10))
        #expect(snapshot.items[0].title == String(decoding: [0x41, 0x62, 0xFF, 0x63, 0xC3, 0x64, 0x00, 0x65, 0x0E, 0xED, 0xA0, 0x80, 0x66], as: UTF8.self))
        #expect(snapshot.items[0].title.contains("\u{FFFD}"))
        #expect(snapshot.items[0].category == "12345")
        #expect(snapshot.items[1].title == "Titre\u{0}B")

        let outcome = await run(try feedPipeline(feeds.store, siteURL: Self.site), .get, "/raw.\(format.rawValue)")
        #expect(outcome.status == 200)
        #expect(String(validating: outcome.body, as: UTF8.self) != nil, "the document must be valid UTF-8")
        let parsed = try await ParsedFeed.parse(outcome.body, contentType: format.contentType)
        if format == .rss { checkRSS(parsed, snapshot, path: "/raw.rss") } else { checkAtom(parsed, snapshot, path: "/raw.atom") }
        #expect(parsed.entries.last?.title == "TitreB")
    }

    /// A second, independent parser: ElementTree must parse the document and read back the exact texts.
    @Test(arguments: FeedFormat.allCases, ["news", "podcast"])
    func wellFormedForElementTree(format: FeedFormat, slug: String) async throws {
        let feeds = try TempFeeds()
        let outcome = await run(try feedPipeline(feeds.store, siteURL: Self.site), .get, "/\(slug).\(format.rawValue)")
        let script = """
            import sys, json, xml.etree.ElementTree as ET
            root = ET.parse(sys.argv[1]).getroot()
            A = '{http://www.w3.org/2005/Atom}'
            if root.tag == 'rss':
                items = root.find('channel').findall('item')
                out = [{'title': i.findtext('title'), 'description': i.findtext('description'),
                        'guid': i.findtext('guid'), 'category': i.findtext('category'),
                        'permalink': i.find('guid').get('isPermaLink')} for i in items]
            else:
                items = root.findall(A + 'entry')
                out = [{'title': i.findtext(A + 'title'), 'description': i.findtext(A + 'content'),
                        'guid': i.findtext(A + 'id'),
                        'category': (i.find(A + 'category').get('term') if i.find(A + 'category') is not None else None),
                        'permalink': None}
                       for i in items]
            print(json.dumps({'root': root.tag, 'items': out}))
            """
        let result = try await Python.run(script, input: outcome.body)
        #expect(result.status == 0, "\(String(decoding: result.stderr, as: UTF8.self))")
        struct Item: Decodable, Equatable {
            let title: String?, description: String?, guid: String?, category: String?, permalink: String?
        }
        struct Doc: Decodable { let root: String; let items: [Item] }
        let doc = try JSONDecoder().decode(Doc.self, from: Data(result.stdout))
        #expect(doc.root == (format == .rss ? "rss" : "{http://www.w3.org/2005/Atom}feed"))
        let snapshot = try #require(try feeds.store.snapshot(of: slug, limit: 50))
        let expected = snapshot.items.map {
            Item(title: XMLWriter.sanitize($0.title), description: XMLWriter.sanitize($0.description),
                 guid: format == .rss ? $0.guid : FeedRenderer.atomEntryID($0, channel: snapshot.channel),
                 category: $0.category.map(XMLWriter.sanitize),
                 permalink: format == .rss ? String($0.guidIsPermaLink) : nil)
        }
        #expect(doc.items == expected)
        if slug == "news" {
            #expect(doc.items.contains { $0.title?.contains("<script>alert('x')</script> ]]> &amp;") == true })
        } else if format == .rss {
            #expect(doc.items.contains { $0.permalink == "true" } && doc.items.contains { $0.permalink == "false" })
        }
    }
}
