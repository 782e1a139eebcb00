public import PorterHost
import Porter
import PorterFeeds
import PorterImages
import PorterState
import Glibc

/// `porter serve --demo`: prepares a state directory (sample feeds and images, the `demo` user, a freshly
/// generated cookie key readable only by this user) and serves the demo configuration on it.
public enum DemoSetup {
    /// The provider `PorterApplication.porter` installs.
    public static let provider = DemoProvider { directory in try prepare(directory) }

    /// Prepares `directory` (created 0700 if missing) and returns the demo configuration anchored there.
    public static func prepare(_ directory: String) throws -> ServerConfiguration {
        let dir = directory.hasPrefix("/") ? directory : FileSystem.currentDirectory() + "/" + directory
        for sub in ["", "/data", "/www", "/www/images"] { try FileSystem.makeDirectory(dir + sub, mode: sub.isEmpty ? 0o700 : 0o755) }
        let feeds = dir + "/data/feeds.sqlite"
        if access(feeds, F_OK) != 0 {
            let store = try FeedStore(path: feeds)
            _ = try store.seedSampleData()
        }
        let users = try SQLiteUserStore(path: dir + "/data/users.sqlite")
        if try users.passwordHash(of: "demo") == nil {
            try users.setPassword("demo", for: "demo")
            try users.addRole("admin", to: "demo")
        }
        if access(dir + "/www/images/sunset.jpg", F_OK) != 0 { _ = try SampleImages.write(to: dir + "/www/images") }
        _ = try FileSystem.secret(at: dir + "/auth.key", bytes: 32)
        guard FileText.write(frontPage, to: dir + "/www/index.html") else { throw ConfigurationError("cannot write \(dir)/www/index.html") }
        return try ServerConfiguration.parse(toml: demoTOML, baseDirectory: dir, origin: "the built-in demo configuration")
    }

    /// The demo's front page (nginx serves it from `www/`), linking every handler.
    static let frontPage = """
    <!doctype html><html><head><meta charset="utf-8"><title>Porter demo</title></head><body>
    <h1>Porter demo</h1><p>Static files come from nginx; these paths are Porter handlers:</p><ul>
    <li><a href="/hello">/hello</a> (sync) and <a href="/slow?ms=500">/slow?ms=500</a> (async)</li>
    <li><a href="/sample.ashx?name=you">/sample.ashx</a> (a generic handler built per request)</li>
    <li><a href="/news.rss">/news.rss</a>, <a href="/news.atom">/news.atom</a>, <a href="/podcast.rss">/podcast.rss</a> (feeds from SQLite)</li>
    <li><a href="/images/sunset.jpg">original</a>, <a href="/images/sunset.jpg?w=300">300 px</a>, <a href="/images/sunset.jpg?w=200&amp;h=200&amp;fit=cover&amp;fmt=webp">200×200 WebP</a></li>
    <li><a href="/visits">/visits</a> (session state), <a href="/login">/login</a> (user demo, password demo; the sign-out button is there and on /visits), <a href="/admin/">/admin/</a> (role admin)</li>
    <li><a href="/report">/report</a> (202 + background work; follow its Location)</li>
    <li><a href="/trace.axd">/trace.axd</a> (recent requests), <a href="/status">/status</a>, <a href="/status?json">JSON</a>, <a href="/metrics">/metrics</a>, <a href="/ping">/ping</a></li>
    </ul></body></html>

    """

    /// The demo configuration's TOML text (no secrets: the cookie key is generated per state directory).
    public static let demoTOML = """
    # Porter demo configuration: the built-in handlers on sample data.
    listen = "/run/porter/porter.sock"
    socket_mode = "0660"
    threads = 8
    log_level = "info"

    [[modules]]
    name = "metrics"

    [[modules]]
    name = "log"

    [[modules]]
    name = "errors"

    [[modules]]
    name = "authentication"
    keys_file = "auth.key"          # generated on first run, mode 0600
    # The demo is plain http on 127.0.0.1:8080, so its cookies go without Secure (Porter warns at start-up).
    # Never on a public site: there, serve https and leave Secure on (the default).
    secure = false
    users_database = "data/users.sqlite"

    [[modules]]
    name = "authorization"
    rules = [ { path = "/admin/", allow_roles = ["admin"], deny_users = ["*"] } ]
    login_url = "/login"

    [[modules]]
    name = "session"
    store = "sqlite"
    path = "data/sessions.sqlite"
    cookie_secure = false           # plain http demo, see above

    [[modules]]
    name = "trace"
    limit = 100
    exclude = ["/ping"]

    [[modules]]
    name = "work"
    database = "data/work.sqlite"
    max_concurrent = 2

    [[handlers]]
    verb = "GET,HEAD"
    path = "/hello"
    handler = "hello"

    [[handlers]]
    verb = "GET,HEAD"
    path = "*.hello"
    handler = "hello"

    [[handlers]]
    path = "/echo"
    handler = "echo"

    [[handlers]]
    verb = "GET,HEAD"
    path = "/slow"
    handler = "slow"

    [[handlers]]
    verb = "GET,HEAD,POST"
    path = "/sample.ashx"
    handler = "sample"

    [[handlers]]
    verb = "GET,HEAD,POST"
    path = "/login"
    handler = "login"

    [[handlers]]
    verb = "POST"                   # with the anti-forgery token; GET is refused (405)
    path = "/logout"
    handler = "logout"

    [[handlers]]
    verb = "GET,HEAD"
    path = "/visits"
    handler = "visits"

    [[handlers]]
    verb = "GET,HEAD"
    path = "/admin/*"
    handler = "echo"

    [[handlers]]
    verb = "GET,HEAD"
    path = "/images/*"
    handler = "image"
    root = "www/images"
    max_concurrency = 16

    [[handlers]]
    verb = "GET,HEAD"
    path = "/trace.axd"
    handler = "trace"

    [[handlers]]
    verb = "GET,HEAD"
    path = "/status"
    handler = "status"

    [[handlers]]
    verb = "GET,HEAD"
    path = "/metrics"
    handler = "metrics"

    [[handlers]]
    verb = "GET,HEAD"
    path = "/ping"
    handler = "ping"

    [[handlers]]
    verb = "GET,HEAD,POST"
    path = "/report"
    handler = "report"

    [[handlers]]
    verb = "GET,HEAD"
    path = "/work/*"
    handler = "work-status"

    [[handlers]]
    verb = "GET,HEAD"
    path = "*.rss"
    handler = "feed"
    database = "data/feeds.sqlite"
    cache_control = "public, max-age=60"

    [[handlers]]
    verb = "GET,HEAD"
    path = "*.atom"
    handler = "feed"
    database = "data/feeds.sqlite"
    cache_control = "public, max-age=60"

    """
}
