import Foundation
import Porter
import PorterFeeds
import PorterHost
import PorterState

/// The app's own data: a few posts (a real app would read its database).
struct Post: Sendable {
    let slug: String
    let title: String
    let summary: String
    let published: Date
}

let posts = [
    Post(slug: "porter-1-0", title: "Porter 1.0", summary: "Handlers and modules for Swift behind nginx.",
         published: Date(timeIntervalSince1970: 1_764_000_000)),
    Post(slug: "feeds", title: "Feeds in ten lines", summary: "An .rss handler over your own data.",
         published: Date(timeIntervalSince1970: 1_764_100_000)),
]

/// `*.rss`: RSS 2.0 of the posts, with ETag and Last-Modified so readers that poll get 304 Not Modified.
struct NewsFeedHandler: HTTPHandler {
    let site = "https://news.example.org"

    func processRequest(_ context: HTTPContext) throws {
        let channel = FeedChannel(slug: "news", title: "Newsroom", link: site + "/", description: "Latest posts",
                                  updatedAt: posts.map(\.published).max() ?? Date(timeIntervalSince1970: 0))
        let items = posts.map { FeedItem(title: $0.title, link: "\(site)/posts/\($0.slug)", description: $0.summary,
                                         publishedAt: $0.published) }
        let body = FeedRenderer.rss(FeedSnapshot(channel: channel, items: items),
                                    context: FeedRenderContext(siteURL: site, selfURL: site + context.request.path))
        let lastModified = Int64(channel.updatedAt.timeIntervalSince1970)
        if context.respondNotModifiedIfCurrent(etag: EntityTag(hashing: body), lastModified: lastModified) { return }
        context.response.contentType = FeedFormat.rss.contentType
        context.response.write(body)
    }
}

/// `/dashboard`: who you are (user), your visits (session), and everyone's (application state).
struct DashboardHandler: HTTPHandler {
    var sessionState: SessionStateBehavior { .exclusive }        // IRequiresSessionState

    func processRequest(_ context: HTTPContext) throws {
        let mine = (context.session?.int("visits") ?? 0) + 1
        context.session?["visits"] = String(mine)
        let everyone = context.application.increment("visits")    // Application.Lock/UnLock in one call
        let who = context.user.isAuthenticated ? context.user.name : "anonymous"
        context.response.contentType = "text/plain; charset=utf-8"
        context.response.write("\(who): \(mine) visits, \(everyone) in all\n")
    }
}

var app = PorterApplication()
app.configuration.listen = "/run/newsroom/porter.sock"
app.map("GET,HEAD", "*.rss", NewsFeedHandler())
app.map("GET,HEAD", "/dashboard", DashboardHandler())
var sessions = SessionConfiguration()
sessions.cookieSecure = false                                 // the example runs on plain http://
app.use(SessionModule(store: try SQLiteSessionStore(path: "newsroom-sessions.sqlite"), configuration: sessions))
await app.main()
