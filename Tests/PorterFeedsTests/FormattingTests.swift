import Foundation
import Porter
import Testing
@testable import PorterFeeds

/// Dates, XML escaping, URLs: table-driven (entity tags are tested with the core).
@Suite struct FormattingTests {
    @Test(arguments: [
        (Int64(0), "Thu, 01 Jan 1970 00:00:00 GMT", "1970-01-01T00:00:00Z"),
        (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT", "1994-11-06T08:49:37Z"),
        (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT", "2000-02-29T00:00:00Z"),
        (1_709_251_199, "Thu, 29 Feb 2024 23:59:59 GMT", "2024-02-29T23:59:59Z"),
        (4_102_444_800, "Fri, 01 Jan 2100 00:00:00 GMT", "2100-01-01T00:00:00Z"),
        (-1, "Wed, 31 Dec 1969 23:59:59 GMT", "1969-12-31T23:59:59Z"),
    ])
    func formats(seconds: Int64, rfc1123: String, rfc3339: String) {
        #expect(HTTPDate.rfc1123(seconds) == rfc1123)
        #expect(HTTPDate.rfc3339(seconds) == rfc3339)
        #expect(HTTPDate.parse(rfc1123) == seconds)
    }

    @Test(arguments: [
        ("Sun, 06 Nov 1994 08:49:37 GMT", Int64(784_111_777) as Int64?),
        ("  Sun, 06 Nov 1994 08:49:37 GMT ", 784_111_777),
        ("Sunday, 06-Nov-94 08:49:37 GMT", 784_111_777),
        ("Sun Nov  6 08:49:37 1994", 784_111_777),
        ("Sun Nov 6 08:49:37 1994", 784_111_777),
        ("Thursday, 01-Jan-26 00:00:00 GMT", 1_767_225_600),
        ("Sun, 06 Nov 1994 08:49:37 UTC", nil),
        ("Sun, 06 Nov 1994 08:49:37", nil),
        ("Sun, 31 Feb 1994 08:49:37 GMT", nil),
        ("Sun, 06 Nov 1994 24:00:00 GMT", nil),
        ("Sun, 06 Nov 1994 8:49:37 GMT", nil),
        ("Sun, 6 Nov 1994 08:49:37 GMT", nil),
        ("Xyz, 06 Nov 1994 08:49:37 GMT", nil),
        ("Sun, 06 Foo 1994 08:49:37 GMT", nil),
        ("1994-11-06T08:49:37Z", nil),
        ("", nil), ("garbage", nil), (",", nil), ("Sun, ", nil),
        ("Sun, 06 Nov 99999 08:49:37 GMT", nil),
        ("Sun, 06 Nov 1994 08:49:-7 GMT", nil),
    ])
    func parsesHTTPDates(text: String, seconds: Int64?) {
        #expect(HTTPDate.parse(text) == seconds)
    }

    @Test(arguments: [
        ("plain", false, "plain"),
        ("a & b < c > d", false, "a &amp; b &lt; c &gt; d"),
        ("]]>", false, "]]&gt;"),
        ("&amp;", false, "&amp;amp;"),
        ("\"q\" 'a'", false, "\"q\" 'a'"),
        ("\"q\" 'a'", true, "&quot;q&quot; &apos;a&apos;"),
        ("t\tn\nr\r", false, "t\tn\nr&#13;"),
        ("t\tn\nr\r", true, "t&#9;n&#10;r&#13;"),
        ("\u{0}\u{1}\u{8}\u{B}\u{C}\u{1F}x", false, "x"),
        ("\u{7F}\u{85}\u{9F}", false, "\u{7F}\u{85}\u{9F}"),
        ("a\u{FFFE}b\u{FFFF}c\u{FFFD}", false, "abc\u{FFFD}"),
        ("é 🚀 \u{10FFFF}", false, "é 🚀 \u{10FFFF}"),
    ])
    func escapesXML(text: String, attribute: Bool, escaped: String) {
        #expect(XMLWriter.escape(text, attribute: attribute) == escaped)
    }

    @Test(arguments: [
        ("https://x.org/a", "http://s", "https://x.org/a"),
        ("urn:uuid:1", "http://s", "urn:uuid:1"),
        ("/a/b", "http://s", "http://s/a/b"),
        ("/a/b", "http://s/", "http://s/a/b"),
        ("a/b", "http://s", "http://s/a/b"),
        ("", "http://s", "http://s/"),
        ("//cdn.x/a", "https://s", "https://cdn.x/a"),
        ("1:2", "http://s", "http://s/1:2"),
    ])
    func resolvesLinks(link: String, base: String, resolved: String) {
        #expect(FeedURL.resolve(link, against: base) == resolved)
    }

    @Test(arguments: [
        ("/news.rss", "news" as String?), ("/feeds/news.atom", "news"), ("/x/y-z_1.rss", "y-z_1"),
        ("/news", "news"), ("/", nil), ("/a/.rss", nil), ("/a b.rss", nil), ("/a.b.rss", nil), ("/é.rss", nil),
    ])
    func slugs(path: String, slug: String?) {
        #expect(FeedHandler.channelSlug(forPath: path) == slug)
    }
}
