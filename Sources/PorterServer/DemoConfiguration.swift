extension ServerConfiguration {
    /// The built-in demo configuration `porter serve` uses when no `porter.toml` is given.
    public static var demo: ServerConfiguration {
        // The same text as deploy/porter.toml; parsing it cannot fail (a test checks it).
        try! ServerConfiguration.parse(toml: demoTOML, baseDirectory: ".")
    }

    /// The demo configuration's TOML text.
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
    trust_remote_user = true
    # Demo secret only: generate your own with `head -c 32 /dev/urandom | xxd -p -c 64`.
    keys = ["hex:5f0c9b1e3a7d4c2b8e6f1a9d0c3b7e5a2d4f6b8c0e1a3c5e7f9b1d3f5a7c9e0b"]
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
    verb = "GET,HEAD,POST"
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
