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
    name = "log"

    [[modules]]
    name = "errors"

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

    """
}
