import Foundation

extension FeedStore {
    /// The hostile title of the sample escaping-test item: markup, `]]>`, an entity, emoji and a U+0001 control.
    public static let sampleHostileTitle = "Escaping <script>alert('x')</script> ]]> &amp; \"quotes\" 🚀 \u{0001}done"
    /// The hostile description (an HTML fragment) of the sample escaping-test item.
    public static let sampleHostileDescription =
        "<p>Markup <b>survives</b> as text; <script>alert(1)</script> must not run.</p> ]]> &amp; é 🎉 \u{0001}\u{000B}end"

    /// Adds the demo channels (`news`, `podcast`) and a few realistic items, including one with hostile text.
    /// Does nothing and returns `false` when the `news` channel already exists.
    @discardableResult
    public func seedSampleData(now: Date = Date()) throws -> Bool {
        if try channel(slug: "news") != nil { return false }
        let day: TimeInterval = 86400
        let base = Date(unixSeconds: now.unixSeconds)
        try addChannel(FeedChannel(slug: "news", title: "Porter News",
                                   link: "/news/", description: "Releases and notes from the Porter project.",
                                   language: "en"))
        let news: [FeedItem] = [
            FeedItem(title: "Porter 0.1 released", link: "/news/2025/porter-0-1.html",
                     description: "<p>The first release: handlers, modules and a FastCGI transport behind nginx.</p>",
                     guid: "tag:porter.example,2025:news/porter-0-1", category: "release",
                     publishedAt: base.addingTimeInterval(-6 * day)),
            FeedItem(title: "Keep-alive without pinned threads", link: "/news/2025/keepalive.html",
                     description: "<p>Idle kept-alive connections wait in epoll, not in a thread. "
                        + "See <a href=\"/bench/\">the numbers</a> &amp; the design notes.</p>",
                     guid: "tag:porter.example,2025:news/keepalive", category: "engineering",
                     publishedAt: base.addingTimeInterval(-4 * day)),
            FeedItem(title: "Feeds: RSS 2.0 & Atom from one SQLite file", link: "/news/2025/feeds.html",
                     description: "<p>ETag, Last-Modified and 304s included. Café ☕ — naïve résumé.</p>",
                     guid: "tag:porter.example,2025:news/feeds", category: "feeds",
                     publishedAt: base.addingTimeInterval(-2 * day)),
            FeedItem(title: FeedStore.sampleHostileTitle, link: "/news/2025/escaping.html",
                     description: FeedStore.sampleHostileDescription, guid: "escaping-test-1",
                     guidIsPermaLink: false, category: "tests & <edge> cases",
                     publishedAt: base.addingTimeInterval(-1 * day)),
        ]
        for item in news { try addItem(item, to: "news") }

        try addChannel(FeedChannel(slug: "podcast", title: "Porter Podcast", link: "/podcast/",
                                   description: "Talks about serving Swift behind nginx.", language: "en"))
        let podcast: [FeedItem] = [
            FeedItem(title: "Episode 1: Why FastCGI in 2025", link: "https://podcast.example/porter/1",
                     description: "<p>FastCGI, nginx and the ASP.NET handler model.</p>", category: "episode",
                     enclosure: FeedEnclosure(url: "/media/porter-ep1.mp3", length: 24_986_239, type: "audio/mpeg"),
                     publishedAt: base.addingTimeInterval(-10 * day)),
            FeedItem(title: "Episode 2: Images on request", link: "/podcast/2.html",
                     description: "<p>Resizing with libvips, safely.</p>",
                     guid: "tag:porter.example,2025:podcast/2", category: "episode",
                     enclosure: FeedEnclosure(url: "/media/porter-ep2.mp3", length: 31_457_280, type: "audio/mpeg"),
                     publishedAt: base.addingTimeInterval(-3 * day)),
        ]
        for item in podcast { try addItem(item, to: "podcast") }
        return true
    }
}
