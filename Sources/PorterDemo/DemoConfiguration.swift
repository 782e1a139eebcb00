public import PorterHost
import Porter
import PorterFeeds
import PorterImages
import PorterState
import Glibc

/// `porter serve --demo`: prepares a state directory (sample feeds and images, the `demo` user, freshly generated
/// cookie and image-signing keys readable only by this user) and serves the demo configuration on it.
///
/// Layout: the directory itself is `0711` (others may pass through, not list), `www/` is `0755` with `0644` files
/// (nginx's workers serve it), `data/` is `0700` and the keys are `0600` (secrets and databases stay private).
public enum DemoSetup {
    /// The provider `PorterApplication.porter` installs.
    public static let provider = DemoProvider { directory in try prepare(directory) }

    /// Prepares `directory` (created if missing; modes set as above) and returns the demo configuration anchored there.
    public static func prepare(_ directory: String) throws -> ServerConfiguration {
        let dir = directory.hasPrefix("/") ? directory : FileSystem.currentDirectory() + "/" + directory
        for (sub, mode) in [("", 0o711), ("/data", 0o700), ("/www", 0o755), ("/www/images", 0o755), ("/www/private", 0o755), ("/files", 0o755)] as [(String, mode_t)] {
            try privateDirectory(dir + sub, mode: mode)
        }
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
        let imageKey = try FileSystem.secret(at: dir + "/images.key", bytes: 32)
        // Resizing is signed: the key is generated per state directory, like the cookie key (`keys_file` in the TOML).
        let configuration = try ServerConfiguration.parse(toml: demoTOML, baseDirectory: dir, origin: "the built-in demo configuration")
        let signer = ImageURLSigner(keys: try KeyRing(secrets: ["hex:" + imageKey]))
        guard FileText.write(frontPage(signer: signer), to: dir + "/www/index.html") else {
            throw ConfigurationError("cannot write \(dir)/www/index.html")
        }
        // `GET /download/report.txt` (signed-in users): nginx sends it from files/, next to (not in) www/.
        guard FileText.write("Porter demo download: nginx sent this file after Porter checked who you are.\n",
                             to: dir + "/files/report.txt") else { throw ConfigurationError("cannot write \(dir)/files/report.txt") }
        // `GET /private/note.txt`: a static file nginx serves only after Porter's rules allow it (role admin).
        guard FileText.write("Porter demo: a static file for admins; nginx checked with Porter first.\n",
                             to: dir + "/www/private/note.txt") else { throw ConfigurationError("cannot write \(dir)/www/private/note.txt") }
        for file in ["/www/private/note.txt", "/files/report.txt", "/www/index.html", "/www/images/sunset.jpg", "/www/images/alpha.png", "/www/images/tiles.webp"] {
            _ = chmod(dir + file, 0o644)
        }
        return configuration
    }

    /// Creates `path` (refusing a symlink or another user's directory there) and sets `mode` on it.
    static func privateDirectory(_ path: String, mode: mode_t) throws {
        try FileSystem.makeDirectory(path, mode: mode)
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, st.st_uid == geteuid() else {
            throw ConfigurationError("\(path) must be a directory owned by this user")
        }
        guard chmod(path, mode) == 0 else { throw ConfigurationError("cannot chmod \(path): \(String(cString: strerror(errno)))") }
    }

    /// The demo's front page (nginx serves it from `www/`), linking every handler; image links are signed with `signer`
    /// or use a preset, and background work is ordered with a POST form (signed-in users only).
    static func frontPage(signer: ImageURLSigner) -> String {
        func signed(_ parameters: ImageParameters) -> String {
            HTMLEscaping.escape(signer.signedURL(path: "/images/sunset.jpg", parameters: parameters))
        }
        let w300 = signed(ImageParameters(width: 300))
        let webp = signed(ImageParameters(width: 200, height: 200, fit: .cover, format: .webp))
        return """
        <!doctype html><html><head><meta charset="utf-8"><title>Porter demo</title></head><body>
        <h1>Porter demo</h1><p>Static files come from nginx; these paths are Porter handlers:</p><ul>
        <li><a href="/hello">/hello</a> (sync) and <a href="/slow?ms=500">/slow?ms=500</a> (async)</li>
        <li><a href="/sample.ashx?name=you">/sample.ashx</a> (a generic handler built per request)</li>
        <li><a href="/news.rss">/news.rss</a>, <a href="/news.atom">/news.atom</a>, <a href="/podcast.rss">/podcast.rss</a> (feeds from SQLite)</li>
        <li><a href="/images/sunset.jpg">original</a>, <a href="/images/sunset.jpg?p=thumb">preset thumb</a>, <a href="\(w300)">300 px (signed)</a>, <a href="\(webp)">200×200 WebP (signed)</a>; other sizes: <code>porter image-url</code></li>
        <li><a href="/visits">/visits</a> (session state), <a href="/login">/login</a> (user demo, password demo; the sign-out button is there and on /visits), <a href="/admin/">/admin/</a> (role admin)</li>
        <li><a href="/private/note.txt">/private/note.txt</a> (a static file for role admin: nginx asks Porter first, UrlAuthorization for static files)</li>
        <li><a href="/download/report.txt">/download/report.txt</a> (signed-in users; nginx sends the file: Response.TransmitFile)</li>
        <li><form method="post" action="/report" style="display:inline"><button>POST /report</button></form> (signed-in users: 202 + background work; follow its Location)</li>
        <li><a href="/clock">/clock</a>, <a href="/clock?tz=%2B02:00">/clock?tz=+02:00</a> (output cache: the same time for 5 s, see <code>Age</code>)</li>
        <li><a href="/events">/events</a> (a text/event-stream: 5 events 200 ms apart, each sent as it is written)</li>
        <li><form method="post" action="/upload" enctype="multipart/form-data" style="display:inline"><input name="title" placeholder="title"> <input type="file" name="file" multiple> <button>POST /upload</button></form> (multipart form: fields, file sizes and SHA-256 as JSON; up to 4 files, 16 MiB in all)</li>
        <li><a href="/trace.axd">/trace.axd</a> (recent requests), <a href="/status">/status</a>, <a href="/status?json">JSON</a>, <a href="/metrics">/metrics</a> (from this machine only), <a href="/ping">/ping</a></li>
        </ul></body></html>

        """
    }

    /// The demo configuration's TOML text (no secrets: the cookie key is generated per state directory).
    public static let demoTOML = """
    # Porter demo configuration: the built-in handlers on sample data (the image signing key is added per state directory).
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
    rules = [
      { path = "/admin/", allow_roles = ["admin"], deny_users = ["*"] },
      { path = "/report", deny_users = ["?"] },   # background work: signed-in users only
      { path = "/download/", deny_users = ["?"] },  # response.sendFile: signed-in users only
      { path = "/private/", allow_roles = ["admin"], deny_users = ["*"] },  # static files: nginx asks Porter (auth_request)
    ]
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
    name = "output-cache"
    max_bytes = "16m"

    [[modules]]
    name = "work"
    database = "data/work.sqlite"
    max_concurrent = 2
    max_per_user = 3                # queued + running items per user (over → 429)
    retention_days = 1              # finished items are purged hourly after a day

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
    max_body = "16k"                # public: a 1 MB form per request from one client slowed every route

    [[handlers]]
    verb = "GET,HEAD"
    path = "/slow"
    handler = "slow"

    [[handlers]]
    verb = "GET,HEAD,POST"
    path = "/sample.ashx"
    handler = "sample"
    max_body = "16k"

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
    # Named sizes anyone may ask for (?p=thumb); any other size needs a URL signed with the generated images.key.
    presets = { thumb = { w = 200, h = 200, fit = "cover" }, small = { w = 300 } }
    keys_file = "images.key"        # generated on first run, mode 0600

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
    verb = "POST"
    path = "/report"
    handler = "report"
    max_body = "1k"

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
    edge_cache = 1

    [[handlers]]
    verb = "GET,HEAD"
    path = "*.atom"
    handler = "feed"
    database = "data/feeds.sqlite"
    cache_control = "public, max-age=60"
    edge_cache = 1

    [[handlers]]
    verb = "GET,HEAD"
    path = "/clock"
    handler = "clock"
    output_cache = { duration = 5, vary_by_query = ["tz"] }   # replayed for 5 s per ?tz= (see Age)

    [[handlers]]
    verb = "GET,HEAD"
    path = "/events"
    handler = "events"              # streamed: nginx gets fastcgi_buffering off for it

    [[handlers]]
    verb = "POST"
    path = "/upload"
    handler = "upload"
    max_body = "16m"                # the whole form; anonymous, stores nothing (see UploadHandler)

    [[handlers]]
    verb = "GET,HEAD"
    path = "/download/*"
    handler = "download"            # nginx sends files/NAME (X-Accel-Redirect) to signed-in users

    """
}
